"""Shared CLI options: where the data lives. Every admin command opens the same runtime."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from realmgate.cli.output import fail
from realmgate.server.core.admin import Admin, AdminError
from realmgate.server.crypto import MasterKeyError
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.migrate import SchemaError

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (env REALMGATE_DATA_DIR).", show_default=False),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database URL (env REALMGATE_DATABASE_URL); default SQLite in the data directory.",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
Tenant = Annotated[str, typer.Argument(help="Tenant shortcode.")]
ClientId = Annotated[str, typer.Argument(help="Client id.")]


def make_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings.load(config_file, **values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"invalid configuration: {problems}", 2)
    except ValueError as exc:
        fail(str(exc), 2)


@contextmanager
def runtime(settings: Settings) -> Iterator[Runtime]:
    try:
        rt = open_runtime(settings)
    except (MasterKeyError, SchemaError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot open the database: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    try:
        yield rt
    finally:
        rt.close()


def user() -> str:
    """The operating system user, for the audit trail's actor."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def admin(data_dir: Path | None, database_url: str | None) -> Iterator[Admin]:
    with runtime(make_settings(data_dir=data_dir, database_url=database_url)) as rt:
        try:
            yield Admin(rt.store, rt.vault, rt.settings, actor=f"cli:{user()}")
        except AdminError as exc:
            fail(str(exc))
