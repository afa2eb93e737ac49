"""SQL storage of the audit trail and of the authentication throttle's shared counters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, case, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from realmgate.server.storage.models import audit_events, auth_failures
from realmgate.server.storage.records import AuditEvent
from realmgate.server.storage.sliding import bucket_start, sliding_count


class SecurityStoreMixin:
    """Mixed into :class:`~realmgate.server.storage.sql.SqlStore`."""

    engine: Engine

    # audit ------------------------------------------------------------------
    def record_audit(self, event: AuditEvent) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(audit_events).values(
                    at=event.at,
                    actor=event.actor[:128],
                    action=event.action,
                    tenant=event.tenant,
                    target=event.target[:128],
                    details=event.details,
                )
            )

    def list_audit(self, tenant: str | None = None, limit: int = 100) -> list[AuditEvent]:
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if tenant is not None:
            query = query.where(audit_events.c.tenant == tenant)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_audit(r) for r in rows]

    # throttle ---------------------------------------------------------------
    def count_auth_failure(self, key: str, now: float, window: int) -> int:
        """Count one more failure for ``key``; return its failures in the sliding window
        ending at ``now`` (:mod:`~realmgate.server.storage.sliding`). One atomic upsert."""
        start = bucket_start(now, window)
        c = auth_failures.c
        same = c.window_start >= start  # >=: a node whose clock is behind keeps the bucket
        stmt = (
            _upsert(self.engine)
            .values(
                key=key,
                failures=1,
                previous=0,
                window_start=start,
                blocked_until=0.0,
                marked_at=0.0,
            )
            .on_conflict_do_update(
                index_elements=[c.key],
                set_={
                    "failures": case((same, c.failures + 1), else_=1),
                    "previous": case(
                        (same, c.previous), (c.window_start == start - window, c.failures), else_=0
                    ),
                    "window_start": case((same, c.window_start), else_=start),
                },
            )
            .returning(c.window_start, c.failures, c.previous)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one()
        return sliding_count(row.window_start, row.failures, row.previous, now, window)

    def raise_marks(self, marks: Mapping[str, float], now: float) -> None:
        """Set each key's mark (a block, or a known good source) to end at its time, unless it
        already ends later; a raised mark is stamped ``now`` for :meth:`marks_since`. One atomic
        upsert per key: concurrent writers can never lower a mark."""
        if not marks:
            return
        c = auth_failures.c
        ins = _upsert(self.engine)
        stmt = ins.on_conflict_do_update(
            index_elements=[c.key],
            set_={"blocked_until": ins.excluded.blocked_until, "marked_at": ins.excluded.marked_at},
            where=c.blocked_until < ins.excluded.blocked_until,
        )
        rows = [
            {
                "key": key,
                "failures": 0,
                "previous": 0,
                "window_start": 0,
                "blocked_until": until,
                "marked_at": now,
            }
            for key, until in sorted(marks.items())  # one order: no deadlock between writers
        ]
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def marks_since(self, since: float, now: float) -> dict[str, float]:
        """The marks raised at or after ``since`` that have not ended at ``now``."""
        c = auth_failures.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.key, c.blocked_until).where(c.marked_at >= since, c.blocked_until > now)
            ).all()
        return {r.key: float(r.blocked_until) for r in rows}

    def prune_auth_failures(self, older_than: int) -> int:
        """Delete the keys with no failure counted since ``older_than`` and no mark after it."""
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(auth_failures).where(
                    auth_failures.c.window_start < older_than,
                    auth_failures.c.blocked_until < older_than,
                )
            )
            return int(done.rowcount)


def _upsert(engine: Engine) -> Any:
    """``INSERT ... ON CONFLICT`` of ``auth_failures`` in the engine's dialect."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(auth_failures)
    return sqlite.insert(auth_failures)


def _audit(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        tenant=row.tenant,
        target=row.target,
        details=dict(row.details),
    )


__all__ = ["SecurityStoreMixin"]
