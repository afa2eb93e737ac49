"""``realmgate keys`` and ``realmgate audit``: signing keys, their scheduled rotation, and the
audit trail, on the database or on a server over HTTPS (``--server``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realmgate.cli.backend import Target, open_backend, targeted
from realmgate.cli.context import DatabaseUrl, DataDir, JsonFlag, Tenant, make_settings, runtime
from realmgate.cli.output import console, emit_json, fail, table
from realmgate.server.core.admin_views import parse_time
from realmgate.server.crypto import MasterKeyError, create_key_file, read_key_file
from realmgate.server.vault import rewrap

keys_app = typer.Typer(help="Signing keys of a tenant.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail of admin changes.", no_args_is_help=True)


@keys_app.command("list")
@targeted
def keys_list(tenant: Tenant, as_json: JsonFlag = False, *, target: Target) -> None:
    """List a tenant's signing keys."""
    with open_backend(target) as b:
        keys = b.list_keys(tenant)
    if as_json:
        emit_json(keys)
        return
    rows = [(k["kid"], k["alg"], k["status"], k["createdAt"], k["verifyUntil"]) for k in keys]
    table(f"Signing keys of {tenant}", ["kid", "alg", "status", "created", "verify until"], rows)


@keys_app.command("rotate")
@targeted
def keys_rotate(
    tenant: Tenant,
    algorithm: Annotated[
        str | None,
        typer.Option("--algorithm", help="Switch algorithm (RS/PS/ES 256/384/512, EdDSA)."),
    ] = None,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="The key is compromised: remove it at once and revoke every token issued "
            "before now.",
        ),
    ] = False,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Sign with a new key; the old one stays published until its tokens expire."""
    with open_backend(target) as b:
        key = b.rotate_key(tenant, algorithm=algorithm, emergency=emergency)
    if as_json:
        emit_json(key)
        return
    console.print(f"New signing key {key['kid']} ({key['alg']}) for tenant {tenant!r}.")


@keys_app.command("policy")
@targeted
def keys_policy(
    tenant: Tenant,
    rotation_period: Annotated[
        int | None,
        typer.Option(
            "--rotation-period",
            help="Rotate this tenant's key every N seconds (0: never on schedule).",
            show_default=False,
        ),
    ] = None,
    server_default: Annotated[
        bool,
        typer.Option("--server-default", help="Follow the server's key_rotation_period again."),
    ] = False,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Show or set the tenant's scheduled key rotation."""
    if rotation_period is not None and server_default:
        fail("--rotation-period and --server-default exclude each other", 2)
    with open_backend(target) as b:
        if rotation_period is not None or server_default:
            data = b.set_key_policy(tenant, rotation_period)
        else:
            data = b.key_policy(tenant)
    if as_json:
        emit_json(data)
        return
    own = data["rotationPeriod"]
    every = data["effectiveRotationPeriod"]
    console.print(
        f"Tenant {tenant!r}: "
        + ("no scheduled rotation" if not every else f"a new signing key every {every} s")
        + (" (the server's period)." if own is None else " (its own period)."),
        highlight=False,
    )


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
    """Move every encrypted key and secret to a new master key (stop every node first).

    Local only: it needs the database and both master keys, so it has no --server."""
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


def _time(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        fail(f"{option} takes Unix seconds or an ISO 8601 time, not {value[:40]!r}", 2)


@audit_app.command("list")
@targeted
def audit_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N events.", min=1, max=10000)] = 50,
    first: Annotated[int, typer.Option(help="Skip the newest N events (paging).", min=0)] = 0,
    actor: Annotated[
        str | None, typer.Option(help="Only this actor (cli:USER, admin:REALM/CLIENT).")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action; 'client.*' for a prefix.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time on (ISO 8601 or Unix seconds).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Up to this time (ISO 8601 or Unix seconds).")
    ] = None,
    as_json: JsonFlag = False,
    *,
    target: Target,
) -> None:
    """Show who changed what, newest first."""
    start, end = _time(since, "--since"), _time(until, "--until")
    with open_backend(target) as b:
        rows = b.list_audit(
            tenant=tenant,
            limit=limit,
            first=first,
            actor=actor,
            action=action,
            since=start,
            until=end,
        )
    if as_json:
        emit_json(rows)
        return
    table(
        "Audit trail",
        ["at", "actor", "action", "tenant", "target"],
        [(r["at"], r["actor"], r["action"], r["tenant"], r["target"]) for r in rows],
    )
