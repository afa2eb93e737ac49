"""``realmgate client``: a tenant's clients, their options, secrets and tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from realmgate.cli.admin_cmds import ClientId, Tenant, _client, _show_credentials, _ts
from realmgate.cli.context import DatabaseUrl, DataDir, JsonFlag, admin
from realmgate.cli.output import console, emit_json, fail, table
from realmgate.server.core.admin_clients import DEFAULT_SECRET_GRACE

client_app = typer.Typer(help="Clients of a tenant and their secrets.", no_args_is_help=True)


def _read_jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read the JWKS file {path}: {type(exc).__name__}", 2)
    if not isinstance(data, dict):
        fail("the JWKS file must hold a JSON object", 2)
    return data


JwksFile = Annotated[
    Path | None, typer.Option("--jwks-file", help="The client's public JWKS (private_key_jwt).")
]
JwksUri = Annotated[
    str | None, typer.Option("--jwks-uri", help="URL of the client's JWKS (private_key_jwt).")
]


@client_app.command("create")
def client_create(
    tenant: Tenant,
    client_id: ClientId,
    role: Annotated[list[str] | None, typer.Option("--role", help="A role (repeatable).")] = None,
    auth_method: Annotated[
        str,
        typer.Option(
            "--auth-method",
            help="client_secret (post or basic), client_secret_jwt, private_key_jwt.",
        ),
    ] = "client_secret",
    jwks_file: JwksFile = None,
    jwks_uri: JwksUri = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a client; prints its secret once."""
    with admin(data_dir, database_url) as a:
        creds = a.create_client(
            tenant,
            client_id,
            roles=tuple(role or ()),
            auth_method=auth_method,  # type: ignore[arg-type]  # checked by the service
            jwks=_read_jwks(jwks_file),
            jwks_uri=jwks_uri,
        )
    _show_credentials(creds, as_json, f"Created client {client_id!r} in tenant {tenant!r}.")


@client_app.command("list")
def client_list(
    tenant: Tenant,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """List a tenant's clients."""
    with admin(data_dir, database_url) as a:
        clients = a.list_clients(tenant)
    if as_json:
        emit_json([_client(c) for c in clients])
        return
    rows = [
        (c.client_id, "yes" if c.enabled else "no", " ".join(c.roles), _ts(c.created_at))
        for c in clients
    ]
    table(f"Clients of {tenant}", ["clientId", "enabled", "roles", "created"], rows)


@client_app.command("show")
def client_show(
    tenant: Tenant,
    client_id: ClientId,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a client (never its secret)."""
    with admin(data_dir, database_url) as a:
        data = _client(a.get_client(tenant, client_id))
    if as_json:
        emit_json(data)
        return
    table(f"Client {client_id}", ["field", "value"], list(data.items()))


def _set_enabled(tenant: str, client_id: str, enabled: bool, data_dir: Any, url: Any) -> None:
    with admin(data_dir, url) as a:
        a.set_client_enabled(tenant, client_id, enabled)
    console.print(f"Client {client_id!r} {'enabled' if enabled else 'disabled'}.")


@client_app.command("disable")
def client_disable(
    tenant: Tenant, client_id: ClientId, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Disable a client: it gets no more tokens."""
    _set_enabled(tenant, client_id, False, data_dir, database_url)


@client_app.command("enable")
def client_enable(
    tenant: Tenant, client_id: ClientId, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Enable a disabled client."""
    _set_enabled(tenant, client_id, True, data_dir, database_url)


@client_app.command("delete")
def client_delete(
    tenant: Tenant,
    client_id: ClientId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a client."""
    if not yes:
        typer.confirm(f"Delete client {client_id!r} of tenant {tenant!r}?", abort=True)
    with admin(data_dir, database_url) as a:
        a.delete_client(tenant, client_id)
    console.print(f"Deleted client {client_id!r}.")


@client_app.command("rotate-secret")
def client_rotate_secret(
    tenant: Tenant,
    client_id: ClientId,
    grace: Annotated[
        int, typer.Option(help="Seconds the previous secret stays valid (0: ends now).", min=0)
    ] = DEFAULT_SECRET_GRACE,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue a new secret; prints it once."""
    with admin(data_dir, database_url) as a:
        creds = a.rotate_secret(tenant, client_id, grace=grace)
    _show_credentials(creds, as_json, f"Rotated the secret of {client_id!r}.")


@client_app.command("end-previous-secret")
def client_end_previous_secret(
    tenant: Tenant, client_id: ClientId, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """End the grace period of the previous secret now."""
    with admin(data_dir, database_url) as a:
        a.end_previous_secret(tenant, client_id)
    console.print(f"The previous secret of {client_id!r} no longer works.")


@client_app.command("revoke-tokens")
def client_revoke_tokens(
    tenant: Tenant, client_id: ClientId, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Not-before policy: every token the client got before now stops working."""
    with admin(data_dir, database_url) as a:
        at = a.revoke_client_tokens(tenant, client_id)
    console.print(f"Tokens of {client_id!r} issued before {_ts(at)} are revoked.")


def _parse_claims(items: list[str] | None) -> dict[str, Any] | None:
    if items is None:
        return None
    claims: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            fail(f"--claim takes NAME=VALUE, not {item[:70]!r}", 2)
        try:
            claims[name] = json.loads(raw)
        except ValueError:
            claims[name] = raw
    return claims


@client_app.command("set")
def client_set(
    tenant: Tenant,
    client_id: ClientId,
    lifespan: Annotated[
        int | None, typer.Option("--lifespan", help="Access token lifespan (s); 0: the tenant's.")
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Replace the roles (repeatable).")
    ] = None,
    default_scope: Annotated[
        list[str] | None, typer.Option("--default-scope", help="Default scopes (repeatable).")
    ] = None,
    optional_scope: Annotated[
        list[str] | None, typer.Option("--optional-scope", help="Optional scopes (repeatable).")
    ] = None,
    audience: Annotated[
        list[str] | None,
        typer.Option("--audience", help="Allowed audiences, absolute URIs (repeatable)."),
    ] = None,
    claim: Annotated[
        list[str] | None,
        typer.Option("--claim", help="Custom claim NAME=VALUE, VALUE as JSON if it parses."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Token profile: jwt or rfc9068 (at+jwt).")
    ] = None,
    jwks_file: JwksFile = None,
    jwks_uri: JwksUri = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a client's options (what is not given stays as it is)."""
    with admin(data_dir, database_url) as a:
        client = a.configure_client(
            tenant,
            client_id,
            access_token_lifespan=lifespan or None,
            reset_lifespan=lifespan == 0,
            roles=tuple(role) if role is not None else None,
            default_scopes=tuple(default_scope) if default_scope is not None else None,
            optional_scopes=tuple(optional_scope) if optional_scope is not None else None,
            audiences=tuple(audience) if audience is not None else None,
            claims=_parse_claims(claim),
            token_profile=profile,  # type: ignore[arg-type]  # checked by the service
            jwks=_read_jwks(jwks_file),
            jwks_uri=jwks_uri,
        )
    data = _client(client)
    if as_json:
        emit_json(data)
        return
    table(f"Client {client_id}", ["field", "value"], list(data.items()))
