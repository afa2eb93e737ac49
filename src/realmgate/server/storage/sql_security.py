"""SQL storage of the audit trail, of the authentication throttle's shared counters and of the
tenants' scheduled key rotation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, case, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from realmgate.server.storage.models import audit_events, auth_failures, signing_keys, tenants
from realmgate.server.storage.records import AuditEvent
from realmgate.server.storage.sliding import bucket_start, sliding_count
from realmgate.server.storage.sql_feed import record_change

CHUNK = 500  # keys per statement in IN lists


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

    def list_audit(
        self,
        tenant: str | None = None,
        limit: int = 100,
        *,
        first: int = 0,
        actor: str | None = None,
        action: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first, ``first`` skipped; ``action`` ending in ``*`` matches a prefix;
        ``since`` and ``until`` (Unix seconds) both inclusive."""
        c = audit_events.c
        query = select(audit_events).order_by(c.id.desc()).offset(max(0, first)).limit(limit)
        if tenant is not None:
            query = query.where(c.tenant == tenant)
        if actor is not None:
            query = query.where(c.actor == actor)
        if action is not None and action.endswith("*"):
            query = query.where(c.action.startswith(action[:-1], autoescape=True))
        elif action is not None:
            query = query.where(c.action == action)
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at <= until)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_audit(r) for r in rows]

    # scheduled key rotation ---------------------------------------------------
    def tenants_due_for_rotation(
        self, now: int, default_period: int, limit: int
    ) -> list[tuple[str, int]]:
        """``(tenant, period)`` of the tenants whose active key is older than their rotation
        period: their own (``TenantRecord.key_rotation_period``) or ``default_period``; a
        period of 0 never rotates. Oldest keys first."""
        k = signing_keys.c
        own = tenants.c.options["key_rotation_period"].as_integer()
        period = func.coalesce(own, default_period)
        query = (
            select(k.tenant, period.label("period"))
            .join(tenants, tenants.c.shortcode == k.tenant)
            .where(k.status == "active", period > 0, k.created_at < now - period)
            .order_by(k.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(r.tenant, int(r.period)) for r in conn.execute(query)]

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

    def marks_with_prefix(self, prefix: str, now: float, limit: int) -> dict[str, float]:
        """At most ``limit`` marks whose key starts with ``prefix``, still in force at ``now``."""
        c = auth_failures.c
        query = (
            select(c.key, c.blocked_until)
            .where(c.key.startswith(prefix, autoescape=True), c.blocked_until > now)
            .order_by(c.key)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return {r.key: float(r.blocked_until) for r in conn.execute(query)}

    def clear_marks(self, keys: Sequence[str]) -> None:
        """An admin's unblock: the keys' marks end and their failures are forgotten."""
        ordered = sorted(set(keys))
        with self.engine.begin() as conn:
            for i in range(0, len(ordered), CHUNK):
                chunk = ordered[i : i + CHUNK]
                conn.execute(delete(auth_failures).where(auth_failures.c.key.in_(chunk)))

    def record_unblocks(self, tenant: str, keys: Sequence[str]) -> None:
        """Tell every node through the change feed that ``keys`` of ``tenant`` (client ids or
        source keys) are unblocked (``Throttle.unblocked``)."""
        if not keys:
            return
        with self.engine.begin() as conn:
            for key in sorted(set(keys)):
                record_change(conn, tenant, "throttle", key[:128])

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
