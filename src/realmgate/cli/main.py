"""Entry point of the ``realmgate`` command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from realmgate import __version__
from realmgate.cli.admin_cmds import tenant_app
from realmgate.cli.client_cmds import client_app
from realmgate.cli.context import DatabaseUrl, DataDir, make_settings, runtime
from realmgate.cli.export_cmds import export_app
from realmgate.cli.import_cmds import import_app
from realmgate.cli.keys_cmds import audit_app, keys_app
from realmgate.cli.master_cmds import admin_app
from realmgate.cli.operator_cmds import operator_app
from realmgate.cli.output import console
from realmgate.cli.sdk_cmds import api_app, token
from realmgate.cli.serve import serve
from realmgate.server import settings_doc
from realmgate.server.storage import migrate

app = typer.Typer(
    help="realmgate: OAuth 2.0 client-credentials authorization server and tenant API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)

app.command("serve")(serve)
app.add_typer(tenant_app, name="tenant")
app.add_typer(client_app, name="client")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(admin_app, name="admin")
app.add_typer(operator_app, name="operator")
app.add_typer(import_app, name="import")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.command("token")(token)
app.add_typer(api_app, name="api")
app.add_typer(export_app, name="export")


@config_app.command("docs")
def config_docs() -> None:
    """Print the configuration reference (docs/configuration.md) as Markdown."""
    sys.stdout.write(settings_doc.render())


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Migrate the database schema to this version of realmgate."""
    settings = make_settings(data_dir=data_dir, database_url=database_url, migrate_on_start=True)
    with runtime(settings) as rt:
        console.print(f"Schema at revision {migrate.current_revision(rt.store.engine)}.")


def _version(value: bool) -> None:
    if value:
        console.print(f"realmgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    pass


def main() -> None:
    app()
