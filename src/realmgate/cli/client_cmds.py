"""``realmgate client``: a tenant's clients, their options, secrets and tokens, on the
database or on a server over HTTPS (``--server``; see :mod:`realmgate.cli.backend`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from realmgate.cli.backend import Target, open_backend, targeted
from realmgate.cli.context import ClientId, JsonFlag, Tenant
from realmgate.cli.output import console, emit_json, fail, show_credentials, table
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
AUTH_HELP = (
    "client_secret (post or basic), client_secret_jwt, private_key_jwt, tls_client_auth "
    "(a CA-issued certificate with --tls-subject-dn or --tls-san), self_signed_tls_client_auth "
    "(a certificate whose key is in --jwks-file)."
)
Binding = Annotated[
    str | None,
    typer.Option(
        "--binding",
        help="Sender-constrained tokens: none, dpop (RFC 9449), cert (RFC 8705) or dpop+cert.",
    ),
]
TlsSubjectDn = Annotated[
    str | None,
    typer.Option(
        "--tls-subject-dn",
        help="tls_client_auth: the certificate's subject DN, RFC 4514 ('CN=svc,O=Example').",
    ),
]
TlsSan = Annotated[
    str | None,
    typer.Option(
        "--tls-san",
        help="tls_client_auth: a subject alternative name dns:NAME, uri:URI, ip:ADDRESS or "
        "email:ADDRESS (instead of --tls-subject-dn).",
    ),
]


@client_app.command("create")
@targeted
def client_create(
    tenant: Tenant,
    client_id: ClientId,
    role: Annotated[list[str] | None, typer.Option("--role", help="A role (repeatable).")] = None,
    auth_method: Annotated[str, typer.Option("--auth-method", help=AUTH_HELP)] = "client_secret",
    jwks_file: JwksFile = None,
    jwks_uri: JwksUri = None,
    binding: Binding = None,
    tls_subject_dn: TlsSubjectDn = None,
    tls_san: TlsSan = None,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Create a client; prints its secret once (none for key and certificate methods)."""
    jwks = _read_jwks(jwks_file)
    with open_backend(target) as b:
        creds = b.create_client(
            tenant,
            client_id,
            roles=tuple(role or ()),
            auth_method=auth_method,
            jwks=jwks,
            jwks_uri=jwks_uri,
            binding=binding,
            tls_subject_dn=tls_subject_dn,
            tls_san=tls_san,
        )
    show_credentials(creds, as_json, f"Created client {client_id!r} in tenant {tenant!r}.")


@client_app.command("list")
@targeted
def client_list(tenant: Tenant, as_json: JsonFlag = False, *, target: Target) -> None:
    """List a tenant's clients."""
    with open_backend(target) as b:
        clients = b.list_clients(tenant)
    if as_json:
        emit_json(clients)
        return
    rows = [
        (c["clientId"], "yes" if c["enabled"] else "no", " ".join(c["roles"]), c["createdAt"])
        for c in clients
    ]
    table(f"Clients of {tenant}", ["clientId", "enabled", "roles", "created"], rows)


def _show(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(data)
        return
    table(f"Client {data['clientId']}", ["field", "value"], list(data.items()))


@client_app.command("show")
@targeted
def client_show(
    tenant: Tenant, client_id: ClientId, as_json: JsonFlag = False, *, target: Target
) -> None:
    """Show a client (never its secret)."""
    with open_backend(target) as b:
        _show(b.show_client(tenant, client_id), as_json)


def _set_enabled(tenant: str, client_id: str, enabled: bool, target: Target, as_json: bool) -> None:
    with open_backend(target) as b:
        data = b.set_client_enabled(tenant, client_id, enabled)
    if as_json:
        emit_json(data)
        return
    console.print(f"Client {client_id!r} {'enabled' if enabled else 'disabled'}.")


@client_app.command("disable")
@targeted
def client_disable(
    tenant: Tenant, client_id: ClientId, as_json: JsonFlag = False, *, target: Target
) -> None:
    """Disable a client: it gets no more tokens."""
    _set_enabled(tenant, client_id, False, target, as_json)


@client_app.command("enable")
@targeted
def client_enable(
    tenant: Tenant, client_id: ClientId, as_json: JsonFlag = False, *, target: Target
) -> None:
    """Enable a disabled client."""
    _set_enabled(tenant, client_id, True, target, as_json)


@client_app.command("delete")
@targeted
def client_delete(
    tenant: Tenant,
    client_id: ClientId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    *,
    target: Target,
) -> None:
    """Delete a client."""
    if not yes:
        typer.confirm(f"Delete client {client_id!r} of tenant {tenant!r}?", abort=True)
    with open_backend(target) as b:
        b.delete_client(tenant, client_id)
    console.print(f"Deleted client {client_id!r}.")


@client_app.command("rotate-secret")
@targeted
def client_rotate_secret(
    tenant: Tenant,
    client_id: ClientId,
    grace: Annotated[
        int, typer.Option(help="Seconds the previous secret stays valid (0: ends now).", min=0)
    ] = DEFAULT_SECRET_GRACE,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Issue a new secret; prints it once."""
    with open_backend(target) as b:
        creds = b.rotate_secret(tenant, client_id, grace)
    show_credentials(creds, as_json, f"Rotated the secret of {client_id!r}.")


@client_app.command("end-previous-secret")
@targeted
def client_end_previous_secret(
    tenant: Tenant, client_id: ClientId, as_json: JsonFlag = False, *, target: Target
) -> None:
    """End the grace period of the previous secret now."""
    with open_backend(target) as b:
        data = b.end_previous_secret(tenant, client_id)
    if as_json:
        emit_json(data)
        return
    console.print(f"The previous secret of {client_id!r} no longer works.")


@client_app.command("revoke-tokens")
@targeted
def client_revoke_tokens(
    tenant: Tenant, client_id: ClientId, as_json: JsonFlag = False, *, target: Target
) -> None:
    """Not-before policy: every token the client got before now stops working."""
    with open_backend(target) as b:
        data = b.revoke_client_tokens(tenant, client_id)
    if as_json:
        emit_json(data)
        return
    console.print(f"Tokens of {client_id!r} issued before {data['notBefore']} are revoked.")


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
@targeted
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
    auth_method: Annotated[
        str | None, typer.Option("--auth-method", help="Change the method: " + AUTH_HELP)
    ] = None,
    binding: Binding = None,
    tls_subject_dn: TlsSubjectDn = None,
    tls_san: TlsSan = None,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Change a client's options (what is not given stays as it is; --tls-subject-dn ''
    removes the subject DN)."""
    claims = _parse_claims(claim)
    jwks = _read_jwks(jwks_file)
    with open_backend(target) as b:
        data = b.configure_client(
            tenant,
            client_id,
            access_token_lifespan=lifespan or None,
            reset_lifespan=lifespan == 0,
            roles=tuple(role) if role is not None else None,
            default_scopes=tuple(default_scope) if default_scope is not None else None,
            optional_scopes=tuple(optional_scope) if optional_scope is not None else None,
            audiences=tuple(audience) if audience is not None else None,
            claims=claims,
            token_profile=profile,
            jwks=jwks,
            jwks_uri=jwks_uri,
            auth_method=auth_method,
            binding=binding,
            tls_subject_dn=tls_subject_dn,
            tls_san=tls_san,
        )
    _show(data, as_json)
