"""``realmgate admin``: admin identities of the administrative realm ``master``, on the database.

The first start of an empty database creates ``master`` and its client ``realmgate-admin``
(``bootstrap_admin``); ``realmgate admin create-client`` makes another one (or the first, on a
database created before the admin API) with the realm role ``admin``: every realm, through the
admin API.
"""

from __future__ import annotations

from typing import Annotated

import typer

from realmgate.cli.context import DatabaseUrl, DataDir, JsonFlag, admin
from realmgate.cli.output import console, emit_json
from realmgate.server.core.admin_realms import ADMIN_CLIENT_ID, MASTER
from realmgate.server.core.admin_views import credentials_view

admin_app = typer.Typer(
    help="Admin clients of the administrative realm 'master' (for the admin API).",
    no_args_is_help=True,
)


@admin_app.command("create-client")
def admin_create_client(
    client_id: Annotated[
        str, typer.Option("--client-id", help="Client id of the new admin client.")
    ] = ADMIN_CLIENT_ID,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an admin client (realm role 'admin') in 'master', creating 'master' if missing;
    prints its secret once."""
    with admin(data_dir, database_url) as a:
        creds = a.create_admin_client(client_id)
    data = credentials_view(creds)
    if as_json:
        emit_json(data)
        return
    console.print(f"[green]Created admin client {client_id!r} in realm {MASTER!r}.[/]")
    for k, v in data.items():
        console.print(f"  {k + ':':17} {v}", highlight=False)
    console.print("[yellow]The client secret is shown only this once: store it now.[/]")
