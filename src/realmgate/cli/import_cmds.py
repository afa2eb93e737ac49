"""``realmgate import keycloak FILE|DIR...``: Keycloak realm exports into realmgate, with the
migration report (a table, or ``--json``). Exit codes: 0 done; 1 blocking drops without
``--allow-partial`` (nothing written); 2 invalid input (the error names the file and the JSON
path; nothing written); 3 a realm exists and ``--if-exists fail``."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from realmgate.cli.context import DatabaseUrl, DataDir, JsonFlag, make_settings, runtime, user
from realmgate.cli.output import console, emit_json, err_console
from realmgate.server.kc_import.reader import InvalidInput, read_paths
from realmgate.server.kc_import.report import render
from realmgate.server.kc_import.runner import EXIT_INVALID, Options, plan_sources, run_plans

import_app = typer.Typer(help="Import realms from other servers.", no_args_is_help=True)


class IfExists(enum.StrEnum):
    fail = "fail"
    skip = "skip"
    overwrite = "overwrite"


@import_app.command("keycloak")
def import_keycloak(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Realm files (kc.sh export --file) or directory exports (<realm>-realm.json "
            "and <realm>-users-N.json).",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the report; write nothing.")
    ] = False,
    if_exists: Annotated[
        IfExists,
        typer.Option("--if-exists", help="A realm that exists already: fail, skip or overwrite."),
    ] = IfExists.fail,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Import even when a drop changes tokens or authentication (masked secrets get "
            "new ones, shown once).",
        ),
    ] = False,
    rotate_keys: Annotated[
        bool,
        typer.Option(
            "--rotate-keys", help="A new key signs at once; the imported keys only verify."
        ),
    ] = False,
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import Keycloak realm exports: one transaction per realm, all checked before any write."""
    try:
        plans = plan_sources(read_paths(paths))
    except InvalidInput as exc:
        if as_json:
            emit_json({"error": exc.message, "file": exc.file, "path": exc.path})
        else:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    options = Options(
        dry_run=dry_run,
        if_exists=if_exists.value,
        allow_partial=allow_partial,
        rotate_keys=rotate_keys,
        actor=f"cli:{user()}",
    )
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    with runtime(settings) as rt:
        try:
            report, code = run_plans(plans, rt.store, rt.vault, rt.settings, options)
        except InvalidInput as exc:
            if as_json:
                emit_json({"error": exc.message, "file": exc.file, "path": exc.path})
            else:
                err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_INVALID) from None
    if as_json:
        emit_json(report.to_json())
    else:
        render(report, console)
        if any(r.secrets for r in report.realms):
            console.print("[yellow]New secrets are shown only this once: store them now.[/]")
    if code:
        raise typer.Exit(code)


__all__ = ["import_app"]
