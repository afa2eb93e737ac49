"""``realmgate operator``: the admin console's operator accounts, on the database the server
uses (local only: an operator is who signs in to the console, so the console and this command
are the two ways to manage them).

Passwords and TOTP secrets are printed once, by the command that makes them; only Argon2
hashes and the encrypted TOTP secret are stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from realmgate.cli.context import DatabaseUrl, DataDir, JsonFlag, make_settings, runtime, user
from realmgate.cli.output import console, emit_json, fail, table
from realmgate.server.core.admin_clients import AdminError
from realmgate.server.core.operators import ROLES, Operators, generate_password
from realmgate.server.storage.records import OperatorRecord

operator_app = typer.Typer(
    help="Operators of the admin console: add, list, role, password, two-factor, sign-out.",
    no_args_is_help=True,
)

Username = Annotated[str, typer.Argument(help="Operator username.")]
Role = Annotated[str, typer.Option("--role", help=f"Role: {', '.join(ROLES)}.")]


@contextmanager
def operators(data_dir: Path | None, database_url: str | None) -> Iterator[Operators]:
    with runtime(make_settings(data_dir=data_dir, database_url=database_url)) as rt:
        try:
            yield Operators(rt.store, rt.vault, rt.settings, actor=f"cli:{user()}")
        except AdminError as exc:
            fail(str(exc))


def _when(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def operator_view(o: OperatorRecord) -> dict[str, Any]:
    """What the CLI shows of an operator: never the hash nor the TOTP secret."""
    return {
        "username": o.username,
        "role": o.role,
        "enabled": o.enabled,
        "totp": o.totp_enabled,
        "createdAt": o.created_at,
        "updatedAt": o.updated_at,
        "lastSignInAt": o.last_signin_at,
    }


@operator_app.command("add")
def operator_add(
    username: Username,
    role: Role = "viewer",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an operator with a generated password, printed once."""
    with operators(data_dir, database_url) as ops:
        record, password = ops.create(username, role)
    if as_json:
        emit_json({"username": record.username, "role": record.role, "password": password})
        return
    console.print(f"[green]Created operator {username!r} (role {role}).[/]")
    console.print(f"password: {password}", highlight=False, soft_wrap=True)
    console.print("[yellow]The password is shown only this once: hand it over now.[/]")


@operator_app.command("list")
def operator_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonFlag = False
) -> None:
    """List operators."""
    with operators(data_dir, database_url) as ops:
        records = ops.list()
    if as_json:
        emit_json([operator_view(o) for o in records])
        return
    rows = [
        (
            o.username,
            o.role,
            "yes" if o.enabled else "no",
            "yes" if o.totp_enabled else "no",
            _when(o.created_at),
            _when(o.last_signin_at),
        )
        for o in records
    ]
    table(
        "Operators", ["username", "role", "enabled", "two-factor", "created", "last sign-in"], rows
    )


@operator_app.command("set-role")
def operator_set_role(
    username: Username,
    role: Annotated[str, typer.Argument(help=f"New role: {', '.join(ROLES)}.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change an operator's role (in force on the operator's next request)."""
    with operators(data_dir, database_url) as ops:
        ops.set_role(username, role)
    console.print(f"[green]Operator {username!r} now has the role {role}.[/]")


@operator_app.command("passwd")
def operator_passwd(
    username: Username,
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate a password and print it once.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set an operator's password (prompted, or --generate); ends the operator's sessions."""
    if generate:
        password = generate_password()
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with operators(data_dir, database_url) as ops:
        ops.set_password(username, password)
    console.print(f"[green]Password of {username!r} set; its sessions are ended.[/]")
    if generate:
        console.print(f"password: {password}", highlight=False, soft_wrap=True)
        console.print("[yellow]The password is shown only this once.[/]")


@operator_app.command("totp-enroll")
def operator_totp_enroll(
    username: Username,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Give an operator a new TOTP secret, in force at once; printed once (secret and URI)."""
    with operators(data_dir, database_url) as ops:
        secret, uri = ops.enroll_totp_now(username)
    if as_json:
        emit_json({"username": username, "secret": secret, "uri": uri})
        return
    console.print(f"[green]Two-factor authentication set up for {username!r}.[/]")
    console.print(f"secret: {secret}", highlight=False, soft_wrap=True)
    console.print(f"uri:    {uri}", highlight=False, soft_wrap=True)
    console.print("[yellow]Shown only this once: add it to the operator's authenticator app.[/]")


@operator_app.command("totp-reset")
def operator_totp_reset(
    username: Username, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Remove an operator's second factor (a lost device)."""
    with operators(data_dir, database_url) as ops:
        ops.reset_totp(username)
    console.print(f"[green]Two-factor authentication of {username!r} removed.[/]")


@operator_app.command("disable")
def operator_disable(
    username: Username, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Disable an operator: no sign-in, and every session ends."""
    with operators(data_dir, database_url) as ops:
        ops.set_enabled(username, False)
    console.print(f"[green]Operator {username!r} disabled; its sessions are ended.[/]")


@operator_app.command("enable")
def operator_enable(
    username: Username, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Enable an operator again."""
    with operators(data_dir, database_url) as ops:
        ops.set_enabled(username, True)
    console.print(f"[green]Operator {username!r} enabled.[/]")


@operator_app.command("sign-out")
def operator_sign_out(
    username: Username, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """End every console session of an operator."""
    with operators(data_dir, database_url) as ops:
        ops.get(username)
        count = ops.end_all_sessions(username)
    console.print(f"[green]Ended {count} session(s) of {username!r}.[/]")


@operator_app.command("remove")
def operator_remove(
    username: Username,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove an operator and its sessions."""
    if not yes and not typer.confirm(f"Remove operator {username!r}?"):
        fail("not removed")
    with operators(data_dir, database_url) as ops:
        ops.delete(username)
    console.print(f"[green]Operator {username!r} removed.[/]")


__all__ = ["operator_app"]
