"""Console sessions of operators, mixed into :class:`~realmgate.server.core.operators.Operators`.

The cookie holds 32 random bytes; the database keeps only their SHA-256 (``id_hash``), so a
copy of the database opens no session. A session ends when idle for ``console_session_idle``
seconds, ``console_session_absolute`` seconds after sign-in, after :data:`STAGE_TTL` in a
pending stage, or as soon as its operator is disabled or removed. Sessions live in the database,
so every node of an install sees them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from realmgate.server.core.admin_clients import AdminError
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import ConsoleSession, ConsoleStage, OperatorRecord

# How long a session in a pending stage lives (from its creation), whatever the idle timeout.
STAGE_TTL: dict[str, int] = {"totp": 300, "enroll": 900}
SESSION_TOKEN_BYTES = 32
BAD_CREDENTIALS = "Invalid username or password"


class OperatorError(AdminError):
    """A refused operator request; the message is safe to show."""


class BadCredentials(OperatorError):
    """Wrong username, password or code: the same message whatever was wrong."""

    def __init__(self, message: str = BAD_CREDENTIALS):
        super().__init__(message)


def session_hash(token: str) -> str:
    """The SHA-256 hex of a cookie value: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    """The session half of :class:`~realmgate.server.core.operators.Operators`."""

    store: Store
    settings: Settings
    clock: Callable[[], float]

    def _now(self) -> int:
        return int(self.clock())

    def _audit(self, action: str, username: str, **details: Any) -> None:
        raise NotImplementedError

    # sessions ---------------------------------------------------------------
    def start_session(
        self, username: str, stage: ConsoleStage, source: str | None
    ) -> tuple[str, ConsoleSession]:
        """A new session: returns the cookie value (only its hash is stored) and the row."""
        token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        now = self._now()
        row = ConsoleSession(
            id_hash=session_hash(token),
            username=username,
            stage=stage,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            source=source,
        )
        self.store.create_console_session(row)
        return token, row

    def current(self, token: str | None) -> tuple[ConsoleSession, OperatorRecord] | None:
        """The live session of a cookie value and its operator (read fresh), or None when
        unknown, expired (idle, absolute, pending-stage lifetime) or the operator is
        disabled or removed. Touches ``last_seen``; an expired row is deleted."""
        if not token or len(token) > 256:
            return None
        id_hash = session_hash(token)
        row = self.store.get_console_session(id_hash)
        if row is None:
            return None
        now = self._now()
        if self._expired(row, now):
            self.store.delete_console_session(id_hash)
            return None
        operator = self.store.get_operator(row.username)
        if operator is None or not operator.enabled:
            return None
        if now > row.last_seen:
            self.store.touch_console_session(id_hash, now)
            row = replace(row, last_seen=now)
        return row, operator

    def session(self, token: str | None) -> ConsoleSession | None:
        found = self.current(token)
        return None if found is None else found[0]

    def _expired(self, row: ConsoleSession, now: int) -> bool:
        s = self.settings
        if now - row.last_seen >= s.console_session_idle:
            return True
        if now - row.created_at >= s.console_session_absolute:
            return True
        ttl = STAGE_TTL.get(row.stage)
        return ttl is not None and now - row.created_at >= ttl

    def promote(self, token: str) -> tuple[str, ConsoleSession]:
        """The second factor is done: a NEW session id in stage ``ok`` (the old row is
        deleted), so a cookie seen before the second factor grants nothing."""
        found = self.current(token)
        if found is None:
            raise BadCredentials("the sign-in has expired; sign in again")
        old, _ = found
        self.store.delete_console_session(old.id_hash)
        return self.start_session(old.username, "ok", old.source)

    def end_session(self, token: str) -> None:
        self.store.delete_console_session(session_hash(token))

    def end_all_sessions(self, username: str) -> int:
        count = self.store.delete_console_sessions(username)
        self._audit("operator.signed_out", username, sessions=count)
        return count

    def prune_sessions(self) -> int:
        """Delete expired sessions (maintenance)."""
        now = self._now()
        s = self.settings
        return self.store.prune_console_sessions(
            now - s.console_session_idle, now - s.console_session_absolute
        )


__all__ = [
    "BAD_CREDENTIALS",
    "SESSION_TOKEN_BYTES",
    "STAGE_TTL",
    "BadCredentials",
    "ConsoleSessions",
    "OperatorError",
    "session_hash",
]
