"""``realmgate tenant``: tenants on the database the server uses, or on a server over HTTPS
(``--server``; see :mod:`realmgate.cli.backend`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from realmgate.cli.backend import Target, open_backend, targeted
from realmgate.cli.context import JsonFlag, Tenant
from realmgate.cli.output import console, emit_json, fail, show_credentials, table

tenant_app = typer.Typer(
    help="Tenants (realms): onboard, list, show, change, delete; settings and throttle.",
    no_args_is_help=True,
)


@tenant_app.command("create")
@targeted
def tenant_create(
    shortcode: Tenant,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    algorithm: Annotated[
        str | None,
        typer.Option("--algorithm", help="RS256 (default), RS/PS/ES 256/384/512 or EdDSA."),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Default: <shortcode>-admin.")
    ] = None,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Onboard a tenant; prints its first client's credentials once."""
    with open_backend(target) as b:
        creds = b.create_tenant(shortcode, name=name, algorithm=algorithm, client_id=client_id)
    show_credentials(creds, as_json, f"Created tenant {shortcode!r}.")


@tenant_app.command("list")
@targeted
def tenant_list(as_json: JsonFlag = False, *, target: Target) -> None:
    """List tenants."""
    with open_backend(target) as b:
        tenants = b.list_tenants()
    if as_json:
        emit_json(tenants)
        return
    rows = [(t["shortcode"], t["name"], t["signingAlgorithm"], t["createdAt"]) for t in tenants]
    table("Tenants", ["shortcode", "name", "algorithm", "created"], rows)


@tenant_app.command("show")
@targeted
def tenant_show(shortcode: Tenant, as_json: JsonFlag = False, *, target: Target) -> None:
    """Show a tenant's settings."""
    with open_backend(target) as b:
        data = b.show_tenant(shortcode)
    if as_json:
        emit_json(data)
        return
    table(f"Tenant {shortcode}", ["setting", "value"], list(data.items()))


@tenant_app.command("set")
@targeted
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
    dpop_required: Annotated[
        bool | None,
        typer.Option(
            "--dpop-required/--no-dpop-required",
            help="Every client of the tenant must send DPoP proofs (RFC 9449).",
        ),
    ] = None,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Change a tenant's lifespans and client scopes."""
    scopes = {}
    for item in scope or ():
        name, sep, kind = item.partition("=")
        if not sep:
            fail(f"--scope takes NAME=default or NAME=optional, not {item[:70]!r}", 2)
        scopes[name] = kind
    with open_backend(target) as b:
        data = b.configure_tenant(
            shortcode,
            lifespan=lifespan,
            max_lifespan=max_lifespan,
            scopes=scopes,
            remove_scopes=tuple(remove_scope or ()),
            dpop_required=dpop_required,
        )
    if as_json:
        emit_json(data)
        return
    table(f"Tenant {shortcode}", ["setting", "value"], list(data.items()))


@tenant_app.command("revoke-tokens")
@targeted
def tenant_revoke_tokens(shortcode: Tenant, as_json: JsonFlag = False, *, target: Target) -> None:
    """Not-before policy: every token of the tenant issued before now stops working."""
    with open_backend(target) as b:
        data = b.revoke_tenant_tokens(shortcode)
    if as_json:
        emit_json(data)
        return
    console.print(f"Tokens of tenant {shortcode!r} issued before {data['notBefore']} are revoked.")


@tenant_app.command("delete")
@targeted
def tenant_delete(
    shortcode: Tenant,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    *,
    target: Target,
) -> None:
    """Delete a tenant with its clients and keys."""
    if not yes:
        typer.confirm(f"Delete tenant {shortcode!r} with all its clients and keys?", abort=True)
    with open_backend(target) as b:
        b.delete_tenant(shortcode)
    console.print(f"Deleted tenant {shortcode!r}.")


def _patch(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    patch: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            fail(f"--set takes FIELD=VALUE, not {item[:70]!r}", 2)
        try:
            patch[name] = json.loads(raw)
        except ValueError:
            patch[name] = raw
    return patch


@tenant_app.command("settings")
@targeted
def tenant_settings(
    shortcode: Tenant,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Change a setting FIELD=VALUE, VALUE as JSON if it parses (repeatable; "
            "null removes where allowed).",
        ),
    ] = None,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Show or change the tenant settings (those of the tenant API)."""
    with open_backend(target) as b:
        data = b.tenant_settings(shortcode, _patch(set_))
    if as_json:
        emit_json(data)
        return
    table(f"Settings of {shortcode}", ["setting", "value"], list(data.items()))


@tenant_app.command("throttle")
@targeted
def tenant_throttle(shortcode: Tenant, as_json: JsonFlag = False, *, target: Target) -> None:
    """What the authentication throttle blocks: the tenant's clients, and the sources that
    failures against it blocked."""
    with open_backend(target) as b:
        data = b.throttle_state(shortcode)
    if as_json:
        emit_json(data)
        return
    rows = [("client", c["clientId"], c["blockedUntil"]) for c in data["clients"]]
    rows += [("source", s["source"], s["blockedUntil"]) for s in data["sources"]]
    table(f"Blocked in {shortcode}", ["kind", "what", "blocked until"], rows)


@tenant_app.command("unblock")
@targeted
def tenant_unblock(
    shortcode: Tenant,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Unblock this client.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Unblock this address (IPv6: its /64).")
    ] = None,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Unblock a client, a source, or (neither given) everything blocked for the tenant, on
    every node; their failures are forgotten."""
    with open_backend(target) as b:
        data = b.unblock(shortcode, client_id=client_id, source=source)
    if as_json:
        emit_json(data)
        return
    done = data["unblocked"]
    what = [f"client {c!r}" for c in done["clients"]] + [f"source {s}" for s in done["sources"]]
    console.print(f"Unblocked in {shortcode!r}: {', '.join(what) or 'nothing was blocked'}.")
