"""The change feed: every write appends a row, every node reads what it has not seen."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from realmgate.server.storage.models import changes
from realmgate.server.storage.records import Change

NOTIFY_CHANNEL = "realmgate_changes"


def record_change(conn: Connection, tenant: str, kind: str, key: str) -> None:
    """Append to the feed inside the writer's transaction (and NOTIFY on PostgreSQL)."""
    now = int(time.time())
    conn.execute(insert(changes).values(tenant=tenant, kind=kind, key=key, at=now))
    if conn.dialect.name == "postgresql":
        # Delivered at commit: every listening node reads the feed at once.
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


class ChangeFeedMixin:
    """Mixed into :class:`~realmgate.server.storage.sql.SqlStore`."""

    engine: Engine

    def latest_change_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(changes.c.id), 0))).scalar_one())

    def changes_since(self, change_id: int, limit: int = 1000) -> list[Change]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(changes).where(changes.c.id > change_id).order_by(changes.c.id).limit(limit)
            ).all()
        return [Change(id=r.id, tenant=r.tenant, kind=r.kind, key=r.key) for r in rows]

    def changes_by_ids(self, ids: list[int]) -> list[Change]:
        """Rows of the feed by id: the readers re-ask for ids they saw missing (a
        transaction that took its id earlier may commit later)."""
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(changes).where(changes.c.id.in_(ids[:1000])).order_by(changes.c.id)
            ).all()
        return [Change(id=r.id, tenant=r.tenant, kind=r.kind, key=r.key) for r in rows]

    def prune_changes(self, older_than: int) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(delete(changes).where(changes.c.at < older_than)).rowcount)
