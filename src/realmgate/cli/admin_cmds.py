"""``realmgate tenant|client|keys``: admin commands on the database the server uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from realmgate.cli.context import DatabaseUrl, DataDir, JsonFlag, admin
from realmgate.cli.output import console, emit_json, table
from realmgate.server.core.admin import IssuedCredentials
from realmgate.server.core.tenant_settings import represent
from realmgate.server.storage.records import ClientRecord, KeyRecord

tenant_app = typer.Typer(
    help="Tenants (realms): onboard, list, show, delete.", no_args_is_help=True
)
client_app = typer.Typer(help="Clients of a tenant and their secrets.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys of a tenant.", no_args_is_help=True)

Tenant = Annotated[str, typer.Argument(help="Tenant shortcode.")]
ClientId = Annotated[str, typer.Argument(help="Client id.")]


def _ts(value: int | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat()


def _show_credentials(creds: IssuedCredentials, as_json: bool, what: str) -> None:
    data = {
        "tenantShortcode": creds.tenant,
        "clientId": creds.client_id,
        "clientSecret": creds.client_secret,
    }
    if as_json:
        emit_json(data)
        return
    console.print(f"[green]{what}[/]")
    for k, v in data.items():
        console.print(f"  {k + ':':17} {v}", highlight=False)
    console.print("[yellow]The client secret is shown only this once: store it now.[/]")


def _client(c: ClientRecord) -> dict[str, Any]:
    return {
        "tenant": c.tenant,
        "clientId": c.client_id,
        "serviceAccountId": c.sub,
        "enabled": c.enabled,
        "roles": list(c.roles),
        "accessTokenLifespan": c.access_token_lifespan,
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


# clients ---------------------------------------------------------------------
@client_app.command("create")
def client_create(
    tenant: Tenant,
    client_id: ClientId,
    role: Annotated[list[str] | None, typer.Option("--role", help="A role (repeatable).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a client; prints its secret once."""
    with admin(data_dir, database_url) as a:
        creds = a.create_client(tenant, client_id, roles=tuple(role or ()))
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
    ] = 0,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue a new secret; prints it once."""
    with admin(data_dir, database_url) as a:
        creds = a.rotate_secret(tenant, client_id, grace=grace)
    _show_credentials(creds, as_json, f"Rotated the secret of {client_id!r}.")


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
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Sign with a new key; the old one stays published until its tokens expire."""
    with admin(data_dir, database_url) as a:
        key = a.rotate_key(tenant, signing_alg=algorithm)
    if as_json:
        emit_json(_key(key))
        return
    console.print(f"New signing key {key.kid} ({key.alg}) for tenant {tenant!r}.")
