"""The revocation deny-list and the used client assertions, shared by every node."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from realmgate.server.storage.models import changes, revoked_tokens, used_assertions
from realmgate.server.storage.records import RevokedToken
from realmgate.server.storage.sql_admin import clear_reveals
from realmgate.server.storage.sql_feed import record_change

CHANGE_RETENTION_SECONDS = 24 * 3600  # how long feed rows are kept
_USED_KEY = (used_assertions.c.tenant, used_assertions.c.client_id, used_assertions.c.jti)
# INSERT ... ON CONFLICT DO NOTHING RETURNING the key: the rows that were new (SQLite, PostgreSQL)
_REPLAY_INSERT = {
    dialect is postgresql: dialect.insert(used_assertions)
    .on_conflict_do_nothing()
    .returning(*_USED_KEY)
    for dialect in (sqlite, postgresql)
}


class TokenStateMixin:
    """Mixed into :class:`~realmgate.server.storage.sql.SqlStore`."""

    engine: Engine

    def revoke_token(self, tenant: str, jti: str, expires_at: int) -> None:
        now = int(time.time())
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(revoked_tokens.c.jti).where(
                    revoked_tokens.c.tenant == tenant, revoked_tokens.c.jti == jti
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(revoked_tokens).values(
                        tenant=tenant, jti=jti, expires_at=expires_at, revoked_at=now
                    )
                )
                record_change(conn, tenant, "revoked", jti)

    def get_revoked(self, tenant: str, jti: str) -> RevokedToken | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(revoked_tokens).where(
                    revoked_tokens.c.tenant == tenant, revoked_tokens.c.jti == jti
                )
            ).first()
        return None if row is None else RevokedToken(row.tenant, row.jti, row.expires_at)

    def list_revoked(self, now: int) -> list[RevokedToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(revoked_tokens).where(revoked_tokens.c.expires_at >= now)
            ).all()
        return [RevokedToken(r.tenant, r.jti, r.expires_at) for r in rows]

    def use_assertion(self, tenant: str, client_id: str, jti: str, expires_at: int) -> bool:
        """Record a client assertion's jti; False when it was used before (a replay)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(used_assertions).values(
                        tenant=tenant, client_id=client_id, jti=jti, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False
        return True

    def use_assertions(self, rows: Sequence[tuple[str, str, str, int]]) -> list[bool]:
        """Record many ``(tenant, client_id, jti, expires_at)`` in one transaction (the group
        commit of DPoP proofs' replay check); per row, False when it was used before, or
        earlier in ``rows``."""
        first: dict[tuple[str, str, str], int] = {}
        for i, (tenant, client_id, jti, _) in enumerate(rows):
            first.setdefault((tenant, client_id, jti), i)
        if not first:
            return []
        values = [
            {"tenant": t, "client_id": c, "jti": j, "expires_at": rows[i][3]}
            for (t, c, j), i in first.items()
        ]
        with self.engine.begin() as conn:
            stmt = _REPLAY_INSERT[conn.dialect.name == "postgresql"]
            # one statement for the batch (SQLAlchemy's "insertmanyvalues"), compiled once
            inserted = {(r[0], r[1], r[2]) for r in conn.execute(stmt, values)}
        return [
            (t, c, j) in inserted and first[(t, c, j)] == i for i, (t, c, j, _) in enumerate(rows)
        ]

    def prune_expired(self, now: int) -> int:
        """Drop revocations and used assertions past their expiry, and old change-feed rows;
        destroy the revealable secrets whose window has ended (``clear_expired_reveals``)."""
        with self.engine.begin() as conn:
            n = conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
            m = conn.execute(delete(used_assertions).where(used_assertions.c.expires_at < now))
            k = conn.execute(delete(changes).where(changes.c.at < now - CHANGE_RETENTION_SECONDS))
            r = clear_reveals(conn, now)
            return int(n.rowcount + m.rowcount + k.rowcount) + r
