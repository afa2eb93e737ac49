"""SQL storage of the audit trail and of the authentication throttle's shared counters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from realmgate.server.storage.models import audit_events, auth_failures
from realmgate.server.storage.records import AuditEvent


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
    def count_auth_failure(self, key: str, now: int, window: int) -> int:
        """Count one more failure for ``key`` in the current window; return the count."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(auth_failures)
                .where(auth_failures.c.key == key, auth_failures.c.window_start > now - window)
                .values(failures=auth_failures.c.failures + 1)
            )
            if done.rowcount == 0:
                restarted = conn.execute(
                    update(auth_failures)
                    .where(auth_failures.c.key == key)
                    .values(failures=1, window_start=now, blocked_until=0.0)
                )
                if restarted.rowcount == 0:
                    conn.execute(
                        insert(auth_failures).values(
                            key=key, failures=1, window_start=now, blocked_until=0.0
                        )
                    )
                return 1
            count = conn.execute(
                select(auth_failures.c.failures).where(auth_failures.c.key == key)
            ).scalar_one()
            return int(count)

    def set_blocked_until(self, key: str, until: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(auth_failures)
                .where(auth_failures.c.key == key, auth_failures.c.blocked_until < until)
                .values(blocked_until=until)
            )

    def blocked_until(self, keys: list[str]) -> dict[str, float]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(auth_failures.c.key, auth_failures.c.blocked_until).where(
                    auth_failures.c.key.in_(keys)
                )
            ).all()
        return {r.key: float(r.blocked_until) for r in rows}

    def prune_auth_failures(self, older_than: int) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(auth_failures).where(
                    auth_failures.c.window_start < older_than,
                    auth_failures.c.blocked_until < older_than,
                )
            )
            return int(done.rowcount)


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
