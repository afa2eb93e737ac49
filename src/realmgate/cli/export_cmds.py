"""``realmgate export keycloak REALM``: a tenant as a Keycloak realm export file.

Local only (the database and, for ``--include-private-keys``, the master key): a file holding
private keys must never cross the network from an admin API.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from realmgate.cli.context import DatabaseUrl, DataDir, Tenant, make_settings, runtime
from realmgate.cli.output import fail
from realmgate.server.kc_import.export import ExportError, export_realm

export_app = typer.Typer(help="Export a realm in another server's format.", no_args_is_help=True)

NO_KEYS_WARNING = (
    "warning: the file holds no signing keys (use --include-private-keys to carry them): "
    "Keycloak will generate new keys, and tokens realmgate issued will not verify there.\n"
)
KEYS_WARNING = (
    "warning: the file holds the realm's private signing keys in clear: whoever reads it can "
    "sign tokens for this realm. Keep it like the master key and delete it after the import.\n"
)
SECRETS_NOTE = (
    "note: client secrets are not in the file (realmgate keeps only their hashes); Keycloak "
    "gives each imported client a new secret.\n"
)


@export_app.command("keycloak")
def export_keycloak(
    realm: Tenant,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the file here (mode 0600) instead of stdout."),
    ] = None,
    include_private_keys: Annotated[
        bool,
        typer.Option(
            "--include-private-keys",
            help="Put the signing keys with their private parts into the file (a warning says so).",
        ),
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write a realm as a Keycloak realm export (kc.sh import / realmgate import keycloak)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    with runtime(settings) as rt:
        try:
            rep = export_realm(
                rt.store,
                rt.vault,
                realm,
                include_private_keys=include_private_keys,
                default_audience=rt.settings.audience,
            )
        except ExportError as exc:
            fail(str(exc))
    text = json.dumps(rep, indent=2, ensure_ascii=False) + "\n"
    sys.stderr.write(KEYS_WARNING if include_private_keys else NO_KEYS_WARNING)
    sys.stderr.write(SECRETS_NOTE)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
