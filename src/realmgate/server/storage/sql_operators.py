"""Console operators, their sessions, and traffic per tenant and minute (revision 0012).

None of these rows feed the token path's caches, so no change row is written: every node
reads operators and sessions from the database on each console request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from realmgate.server.storage.models import console_sessions, operators, traffic
from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import ConsoleSession, OperatorRecord, TrafficRow


def operator_from_row(row: Any) -> OperatorRecord:
    return OperatorRecord(
        username=row.username,
        role=row.role,
        password_hash=row.password_hash,
        totp_enabled=bool(row.totp_enabled),
        totp_secret_enc=None if row.totp_secret_enc is None else bytes(row.totp_secret_enc),
        totp_last_step=int(row.totp_last_step),
        enabled=bool(row.enabled),
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        last_signin_at=None if row.last_signin_at is None else int(row.last_signin_at),
    )


def operator_values(o: OperatorRecord) -> dict[str, Any]:
    """Every column but the key, ``created_at`` and ``totp_last_step`` (see use_totp_step)."""
    return {
        "role": o.role,
        "password_hash": o.password_hash,
        "totp_enabled": o.totp_enabled,
        "totp_secret_enc": o.totp_secret_enc,
        "enabled": o.enabled,
        "updated_at": o.updated_at,
        "last_signin_at": o.last_signin_at,
    }


def session_from_row(row: Any) -> ConsoleSession:
    return ConsoleSession(
        id_hash=row.id_hash,
        username=row.username,
        stage=row.stage,
        csrf=row.csrf,
        created_at=int(row.created_at),
        last_seen=int(row.last_seen),
        source=row.source,
    )


def _upsert_traffic(conn: Connection) -> Any:
    """``INSERT ... ON CONFLICT (minute, tenant) DO UPDATE`` adding the counts."""
    stmt: Any = (
        postgresql.insert(traffic) if conn.dialect.name == "postgresql" else sqlite.insert(traffic)
    )
    return stmt.on_conflict_do_update(
        index_elements=[traffic.c.minute, traffic.c.tenant],
        set_={
            "tokens": traffic.c.tokens + stmt.excluded.tokens,
            "failures": traffic.c.failures + stmt.excluded.failures,
        },
    )


class OperatorStoreMixin:
    """Mixed into :class:`~realmgate.server.storage.sql.SqlStore`."""

    engine: Engine

    # operators --------------------------------------------------------------
    def create_operator(self, operator: OperatorRecord) -> None:
        values = operator_values(operator)
        values.update(
            username=operator.username,
            created_at=operator.created_at,
            totp_last_step=operator.totp_last_step,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(operators).values(**values))
        except IntegrityError:
            raise DuplicateError(f"operator {operator.username!r} exists already") from None

    def get_operator(self, username: str) -> OperatorRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(operators).where(operators.c.username == username)).first()
        return None if row is None else operator_from_row(row)

    def list_operators(self) -> list[OperatorRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(operators).order_by(operators.c.username)).all()
        return [operator_from_row(r) for r in rows]

    def update_operator(self, operator: OperatorRecord) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(operators)
                .where(operators.c.username == operator.username)
                .values(**operator_values(operator))
            )
        return bool(done.rowcount)

    def use_totp_step(self, username: str, step: int) -> bool:
        """One conditional UPDATE: of two nodes given the same code, exactly one wins."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(operators)
                .where(operators.c.username == username, operators.c.totp_last_step < step)
                .values(totp_last_step=step)
            )
        return bool(done.rowcount)

    def delete_operator(self, username: str) -> bool:
        with self.engine.begin() as conn:
            # explicit: SQLite enforces the cascade only with its foreign keys pragma on
            conn.execute(delete(console_sessions).where(console_sessions.c.username == username))
            done = conn.execute(delete(operators).where(operators.c.username == username))
        return bool(done.rowcount)

    # sessions ---------------------------------------------------------------
    def create_console_session(self, session: ConsoleSession) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(console_sessions).values(
                    id_hash=session.id_hash,
                    username=session.username,
                    stage=session.stage,
                    csrf=session.csrf,
                    created_at=session.created_at,
                    last_seen=session.last_seen,
                    source=None if session.source is None else session.source[:64],
                )
            )

    def get_console_session(self, id_hash: str) -> ConsoleSession | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(console_sessions).where(console_sessions.c.id_hash == id_hash)
            ).first()
        return None if row is None else session_from_row(row)

    def touch_console_session(self, id_hash: str, last_seen: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(console_sessions)
                .where(
                    console_sessions.c.id_hash == id_hash,
                    console_sessions.c.last_seen < last_seen,
                )
                .values(last_seen=last_seen)
            )

    def delete_console_session(self, id_hash: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(console_sessions).where(console_sessions.c.id_hash == id_hash)
            )
        return bool(done.rowcount)

    def delete_console_sessions(self, username: str) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(console_sessions).where(console_sessions.c.username == username)
            )
        return int(done.rowcount or 0)

    def prune_console_sessions(self, idle_before: int, created_before: int) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(console_sessions).where(
                    (console_sessions.c.last_seen < idle_before)
                    | (console_sessions.c.created_at < created_before)
                )
            )
        return int(done.rowcount or 0)

    # traffic ----------------------------------------------------------------
    def add_traffic(self, rows: Sequence[TrafficRow]) -> None:
        if not rows:
            return
        merged: dict[tuple[int, str], list[int]] = {}
        for r in rows:  # one row per key per statement (PostgreSQL refuses duplicates)
            counts = merged.setdefault((r.minute, r.tenant[:63]), [0, 0])
            counts[0] += r.tokens
            counts[1] += r.failures
        values = [
            {"minute": m, "tenant": t, "tokens": c[0], "failures": c[1]}
            for (m, t), c in sorted(merged.items())  # sorted: no deadlock between writers
        ]
        with self.engine.begin() as conn:
            conn.execute(_upsert_traffic(conn), values)

    def traffic_since(self, minute: int) -> list[TrafficRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(traffic)
                .where(traffic.c.minute >= minute)
                .order_by(traffic.c.minute, traffic.c.tenant)
            ).all()
        return [TrafficRow(int(r.minute), r.tenant, int(r.tokens), int(r.failures)) for r in rows]

    def prune_traffic(self, before_minute: int) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(delete(traffic).where(traffic.c.minute < before_minute))
        return int(done.rowcount or 0)


__all__ = ["OperatorStoreMixin", "operator_from_row", "session_from_row"]
