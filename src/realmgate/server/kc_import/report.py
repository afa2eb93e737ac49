"""The migration report: one row per item of the export (what carried over, what changed, what
was dropped and why), per realm, as JSON and as a table. A *blocking* row is a drop that changes
what a client's tokens say or whether it can authenticate: the import stops on it unless the
caller allows a partial import. Rows never carry secrets; new secrets (for masked ones) are
listed apart, shown once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["imported", "skipped", "dropped", "changed"]
RealmOutcome = Literal["planned", "imported", "overwritten", "skipped", "blocked", "failed"]


@dataclass(frozen=True)
class Row:
    item: str
    kind: str
    outcome: Outcome
    reason: str = ""
    blocking: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "kind": self.kind,
            "outcome": self.outcome,
            "reason": self.reason,
            "blocking": self.blocking,
        }


@dataclass
class RealmReport:
    realm: str
    file: str
    rows: list[Row] = field(default_factory=list)
    outcome: RealmOutcome = "planned"
    error: str | None = None
    # clientId -> a new secret (the export's was masked or missing); shown once.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    _items: set[str] = field(default_factory=set, repr=False)

    def add(
        self, kind: str, name: str, outcome: Outcome, reason: str = "", *, blocking: bool = False
    ) -> None:
        self.rows.append(Row(f"{kind}:{name}", kind, outcome, reason, blocking))

    def add_once(
        self, kind: str, name: str, outcome: Outcome, reason: str = "", *, blocking: bool = False
    ) -> None:
        """A row for an item several clients share (a client scope's mapper): once."""
        if f"{kind}:{name}" not in self._items:
            self._items.add(f"{kind}:{name}")
            self.add(kind, name, outcome, reason, blocking=blocking)

    @property
    def blocking(self) -> list[Row]:
        return [r for r in self.rows if r.blocking]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "realm": self.realm,
            "file": self.file,
            "outcome": self.outcome,
            "blocking": len(self.blocking),
            "rows": [r.to_json() for r in self.rows],
            "secrets": [{"clientId": c, "secret": s} for c, s in sorted(self.secrets.items())],
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class Report:
    dry_run: bool = False
    realms: list[RealmReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.outcome not in ("blocked", "failed") for r in self.realms)

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "ok": self.ok,
            "realms": [r.to_json() for r in self.realms],
        }


def render(report: Report, console: Any) -> None:
    """The report as rich tables on ``console`` (a ``rich.console.Console``)."""
    from rich.markup import escape
    from rich.table import Table

    for realm in report.realms:
        table = Table(
            title=escape(f"realm {realm.realm} ({realm.file}): {realm.outcome}")
            + (" [dry run]" if report.dry_run else ""),
            title_justify="left",
        )
        for column in ("item", "outcome", "reason", "blocking"):
            table.add_column(column)
        for row in realm.rows:
            table.add_row(
                escape(row.item), row.outcome, escape(row.reason), "yes" if row.blocking else ""
            )
        console.print(table)
        if realm.error:
            console.print(f"[red]error:[/red] {escape(realm.error)}")
        for client_id, secret in sorted(realm.secrets.items()):
            console.print(escape(f"new secret of client {client_id}: {secret}"))


__all__ = ["Outcome", "RealmReport", "Report", "Row", "render"]
