"""Output helpers: rich tables for people, ``--json`` for scripts, clear errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def show_credentials(data: dict[str, Any], as_json: bool, what: str) -> None:
    """Credentials handed out once (``tenantShortcode``, ``clientId``, ``clientSecret``)."""
    if as_json:
        emit_json(data)
        return
    console.print(f"[green]{what}[/]")
    for k, v in data.items():
        console.print(f"  {k + ':':17} {v}", highlight=False)
    if data.get("clientSecret"):
        console.print("[yellow]The client secret is shown only this once: store it now.[/]")
