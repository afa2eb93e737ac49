"""``realmgate tenant|client|keys``: admin commands on the database the server uses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from realmgate.cli.context import DatabaseUrl, DataDir, JsonFlag, admin, make_settings, runtime
from realmgate.cli.output import console, emit_json, fail, table
from realmgate.server.core.admin import IssuedCredentials
from realmgate.server.core.tenant_settings import represent
from realmgate.server.crypto import MasterKeyError, create_key_file, read_key_file
from realmgate.server.storage.records import ClientRecord, KeyRecord
from realmgate.server.vault import rewrap

tenant_app = typer.Typer(
    help="Tenants (realms): onboard, list, show, delete.", no_args_is_help=True
)
keys_app = typer.Typer(help="Signing keys of a tenant.", no_args_is_help=True)

Tenant = Annotated[str, typer.Argument(help="Tenant shortcode.")]
ClientId = Annotated[str, typer.Argument(help="Client id.")]


def _ts(value: int | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat()


def _show_credentials(creds: IssuedCredentials, as_json: bool, what: str) -> None:
    data = {"tenantShortcode": creds.tenant, "clientId": creds.client_id}
    if creds.client_secret:  # private_key_jwt clients have none
        data["clientSecret"] = creds.client_secret
    if as_json:
        emit_json(data)
        return
    console.print(f"[green]{what}[/]")
    for k, v in data.items():
        console.print(f"  {k + ':':17} {v}", highlight=False)
    if creds.client_secret:
        console.print("[yellow]The client secret is shown only this once: store it now.[/]")


def _client(c: ClientRecord) -> dict[str, Any]:
    return {
        "tenant": c.tenant,
        "clientId": c.client_id,
        "serviceAccountId": c.sub,
        "enabled": c.enabled,
        "authMethod": c.auth_method,
        "roles": list(c.roles),
        "accessTokenLifespan": c.access_token_lifespan,
        "defaultScopes": None if c.default_scopes is None else list(c.default_scopes),
        "optionalScopes": None if c.optional_scopes is None else list(c.optional_scopes),
        "audiences": None if c.audiences is None else list(c.audiences),
        "claims": c.claims,
        "tokenProfile": c.token_profile,
        "jwks": c.jwks,
        "jwksUri": c.jwks_uri,
        "notBefore": _ts(c.not_before) if c.not_before else None,
        "previousSecretValidUntil": _ts(c.previous_secret_expires_at),
        "createdAt": _ts(c.created_at),
        "updatedAt": _ts(c.updated_at),
    }


def _key(k: KeyRecord) -> dict[str, Any]:
    return {
        "kid": k.kid,
        "alg": k.alg,
        "status": k.status,
        "createdAt": _ts(k.created_at),
        "verifyUntil": _ts(k.verify_until),
    }


# tenants ---------------------------------------------------------------------
@tenant_app.command("create")
def tenant_create(
    shortcode: Tenant,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help="RS256 (default), ES256 or EdDSA.")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Default: <shortcode>-admin.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Onboard a tenant; prints its first client's credentials once."""
    with admin(data_dir, database_url) as a:
        creds = a.create_tenant(shortcode, name=name, signing_alg=algorithm, client_id=client_id)
    _show_credentials(creds, as_json, f"Created tenant {shortcode!r}.")


@tenant_app.command("list")
def tenant_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonFlag = False
) -> None:
    """List tenants."""
    with admin(data_dir, database_url) as a:
        tenants = a.list_tenants()
    if as_json:
        emit_json([represent(t) | {"signingAlgorithm": t.signing_alg} for t in tenants])
        return
    rows = [(t.shortcode, t.name, t.signing_alg, _ts(t.created_at)) for t in tenants]
    table("Tenants", ["shortcode", "name", "algorithm", "created"], rows)


@tenant_app.command("show")
def tenant_show(
    shortcode: Tenant,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a tenant's settings."""
    with admin(data_dir, database_url) as a:
        t = a.get_tenant(shortcode)
        clients = a.list_clients(shortcode)
    data = represent(t) | {
        "signingAlgorithm": t.signing_alg,
        "notBefore": t.not_before,
        "clients": [c.client_id for c in clients],
    }
    if as_json:
        emit_json(data)
        return
    table(f"Tenant {shortcode}", ["setting", "value"], [(k, v) for k, v in data.items()])


@tenant_app.command("set")
def tenant_set(
    shortcode: Tenant,
    lifespan: Annotated[
        int | None, typer.Option("--lifespan", help="Access token lifespan in seconds.")
    ] = None,
    max_lifespan: Annotated[
        int | None, typer.Option("--max-lifespan", help="Maximum token lifespan in seconds.")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Client scope NAME=default|optional (repeatable)."),
    ] = None,
    remove_scope: Annotated[
        list[str] | None, typer.Option("--remove-scope", help="Remove a client scope.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a tenant's lifespans and client scopes."""
    scopes = {}
    for item in scope or ():
        name, sep, kind = item.partition("=")
        if not sep:
            fail(f"--scope takes NAME=default or NAME=optional, not {item[:70]!r}", 2)
        scopes[name] = kind
    with admin(data_dir, database_url) as a:
        t = a.configure_tenant(
            shortcode,
            access_token_lifespan=lifespan,
            session_max_lifespan=max_lifespan,
            scopes=scopes,
            remove_scopes=tuple(remove_scope or ()),
        )
    data = represent(t) | {"clientScopes": t.client_scopes}
    if as_json:
        emit_json(data)
        return
    table(f"Tenant {shortcode}", ["setting", "value"], list(data.items()))


@tenant_app.command("revoke-tokens")
def tenant_revoke_tokens(
    shortcode: Tenant, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Not-before policy: every token of the tenant issued before now stops working."""
    with admin(data_dir, database_url) as a:
        at = a.revoke_tenant_tokens(shortcode)
    console.print(f"Tokens of tenant {shortcode!r} issued before {_ts(at)} are revoked.")


@tenant_app.command("delete")
def tenant_delete(
    shortcode: Tenant,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a tenant with its clients and keys."""
    if not yes:
        typer.confirm(f"Delete tenant {shortcode!r} with all its clients and keys?", abort=True)
    with admin(data_dir, database_url) as a:
        a.delete_tenant(shortcode)
    console.print(f"Deleted tenant {shortcode!r}.")


# keys ------------------------------------------------------------------------
@keys_app.command("list")
def keys_list(
    tenant: Tenant,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """List a tenant's signing keys."""
    with admin(data_dir, database_url) as a:
        keys = a.list_keys(tenant)
    if as_json:
        emit_json([_key(k) for k in keys])
        return
    rows = [(k.kid, k.alg, k.status, _ts(k.created_at), _ts(k.verify_until)) for k in keys]
    table(f"Signing keys of {tenant}", ["kid", "alg", "status", "created", "verify until"], rows)


@keys_app.command("rotate")
def keys_rotate(
    tenant: Tenant,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help="Switch algorithm (RS256, ES256, EdDSA).")
    ] = None,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="The key is compromised: remove it at once and revoke every token issued "
            "before now.",
        ),
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Sign with a new key; the old one stays published until its tokens expire."""
    with admin(data_dir, database_url) as a:
        key = a.rotate_key(tenant, signing_alg=algorithm, emergency=emergency)
    if as_json:
        emit_json(_key(key))
        return
    console.print(f"New signing key {key.kid} ({key.alg}) for tenant {tenant!r}.")


@keys_app.command("rewrap")
def keys_rewrap(
    new_key_file: Annotated[
        Path,
        typer.Option(
            "--new-key-file",
            help="File (mode 0600) with the new master key; created with a fresh key if absent.",
        ),
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Move every encrypted key and secret to a new master key (stop every node first)."""
    try:
        new_key = read_key_file(new_key_file) or create_key_file(new_key_file)
    except MasterKeyError as exc:
        fail(str(exc), 2)
    with runtime(make_settings(data_dir=data_dir, database_url=database_url)) as rt:
        try:
            moved_keys, moved_secrets = rewrap(rt.store, rt.vault, new_key)
        except MasterKeyError as exc:
            fail(str(exc))
    console.print(
        f"Re-encrypted {moved_keys} signing keys and {moved_secrets} client secrets under the "
        f"new master key in {new_key_file}. Now give every node that key "
        "(REALMGATE_MASTER_KEY_FILE or REALMGATE_MASTER_KEY) before starting it.",
        highlight=False,
    )


# audit -----------------------------------------------------------------------
audit_app = typer.Typer(help="The audit trail of admin changes.", no_args_is_help=True)


@audit_app.command("list")
def audit_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N events.", min=1, max=10000)] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Show who changed what, newest first."""
    with admin(data_dir, database_url) as a:
        events = a.store.list_audit(tenant, limit)
    rows = [
        {
            "at": _ts(e.at),
            "actor": e.actor,
            "action": e.action,
            "tenant": e.tenant,
            "target": e.target,
            "details": e.details,
        }
        for e in events
    ]
    if as_json:
        emit_json(rows)
        return
    table(
        "Audit trail",
        ["at", "actor", "action", "tenant", "target"],
        [(r["at"], r["actor"], r["action"], r["tenant"], r["target"]) for r in rows],
    )
