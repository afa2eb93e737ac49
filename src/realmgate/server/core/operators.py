"""Console operators: accounts, roles, passwords (Argon2id), TOTP (RFC 6238) and sessions.

The console (``server/console``), the CLI (``realmgate operator``) and the first start all go
through :class:`Operators`, so a rule (username syntax, password length, replay refusal, what
ends a session) lives here only. No HTTP: the console turns these results into pages.

Argon2 runs in the caller's thread: async callers use ``anyio.to_thread.run_sync``. At most
two Argon2 computations run at once per process (each takes tens of MB), so a flood of
sign-ins queues instead of exhausting memory.
"""

from __future__ import annotations

import base64
import builtins
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from realmgate.server.core.admin_clients import Conflict, NotFound
from realmgate.server.core.console_sessions import (
    BAD_CREDENTIALS,
    BadCredentials,
    ConsoleSessions,
    OperatorError,
    session_hash,
)
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import DuplicateError, Store
from realmgate.server.storage.records import (
    AuditEvent,
    ConsoleStage,
    OperatorRecord,
)
from realmgate.server.vault import Vault

audit_log = logging.getLogger("realmgate.audit")

ROLES = ("admin", "support", "viewer")
Action = Literal[
    "read",
    "rotate_secret",
    "unblock",
    "enable_client",
    "revoke_tokens",
    "edit_client",
    "edit_tenant",
    "rotate_key",
    "onboard",
    "operators",
]
_ALL = frozenset(ROLES)
_SUPPORT = frozenset(("admin", "support"))
_ADMIN = frozenset(("admin",))
# The one table of who may do what: pages show a button only when ``can`` says so, and the
# POST behind it checks the same entry.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": _ALL,
    "rotate_secret": _SUPPORT,
    "unblock": _SUPPORT,
    "enable_client": _SUPPORT,
    "revoke_tokens": _ADMIN,
    "edit_client": _ADMIN,
    "edit_tenant": _ADMIN,
    "rotate_key": _ADMIN,
    "onboard": _ADMIN,
    "operators": _ADMIN,
}

MASTER = "master"
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
PASSWORD_MIN = 12
PASSWORD_MAX = 256
GENERATED_PASSWORD_BYTES = 15  # 20 urlsafe characters
TOTP_DIGITS = 6
TOTP_PERIOD = 30
TOTP_SECRET_BYTES = 20
TOTP_ISSUER = "realmgate"

# Argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()
_argon2_slots = threading.BoundedSemaphore(2)
_dummy_hash: list[str] = []  # computed on first need (an Argon2 hash takes time)
_dummy_lock = threading.Lock()


def can(role: str, action: str) -> bool:
    """Whether ``role`` may perform ``action`` (unknown roles and actions: no)."""
    return role in PERMISSIONS.get(action, frozenset())


@dataclass(frozen=True, slots=True)
class SignIn:
    """A correct password: ``stage`` says what the session grants (``ok``: everything the
    role allows; ``totp``: only the code form; ``enroll``: only the TOTP enrolment)."""

    operator: OperatorRecord
    stage: ConsoleStage


def hash_password(password: str) -> str:
    with _argon2_slots:
        return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Argon2 verification; False on a mismatch or an unreadable hash."""
    with _argon2_slots:
        try:
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def _dummy() -> str:
    """A hash to verify against when the username is unknown (the same work either way)."""
    with _dummy_lock:
        if not _dummy_hash:
            _dummy_hash.append(hash_password(secrets.token_urlsafe(16)))
        return _dummy_hash[0]


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise OperatorError(
            "a username has 1 to 64 characters: lowercase letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise OperatorError(f"the role must be one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise OperatorError(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def _totp(secret: bytes) -> TOTP:
    # SHA-1: RFC 6238's default, the one every authenticator app supports.
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_PERIOD, enforce_key_length=False)  # noqa: S303


def totp_code(secret: bytes, at: float) -> str:
    """The code of ``secret`` at time ``at`` (tests and the CLI's check)."""
    return _totp(secret).generate(int(at)).decode()


def _matching_step(secret: bytes, code: str, now: float) -> int | None:
    """The time step (previous, current or next) whose code ``code`` is, or None."""
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = _totp(secret)
    current = int(now) // TOTP_PERIOD
    found = None
    for step in (current - 1, current, current + 1):  # no early exit: the same work
        expected = totp.generate(step * TOTP_PERIOD)
        if hmac.compare_digest(expected, code.encode()):
            found = step
    return found


class Operators(ConsoleSessions):
    """Operator accounts and console sessions. ``actor`` (``console:<name>``,
    ``cli:<user>``) and ``source`` go into every audit event, under tenant ``master`` with
    target ``operator:<username>``; never a password or a secret."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        *,
        actor: str = "system",
        source: str | None = None,
    ):
        self.store = store
        self.vault = vault
        self.settings = settings
        self.clock = clock
        self.actor = actor
        self.source = source

    # accounts ---------------------------------------------------------------
    def create(
        self, username: str, role: str, password: str | None = None
    ) -> tuple[OperatorRecord, str]:
        """A new operator; returns it with its password (generated when None): shown once."""
        check_username(username)
        check_role(role)
        password = generate_password() if password is None else check_password(password)
        now = self._now()
        record = OperatorRecord(
            username=username,
            role=role,
            password_hash=hash_password(password),
            totp_enabled=False,
            totp_secret_enc=None,
            totp_last_step=0,
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        try:
            self.store.create_operator(record)
        except DuplicateError:
            raise Conflict(f"operator {username!r} exists already") from None
        self._audit("operator.created", username, role=role)
        return record, password

    def get(self, username: str) -> OperatorRecord:
        record = self.store.get_operator(username) if USERNAME_RE.fullmatch(username) else None
        if record is None:
            raise NotFound(f"no operator {username!r}")
        return record

    def list(self) -> builtins.list[OperatorRecord]:
        return self.store.list_operators()

    def set_role(self, username: str, role: str) -> OperatorRecord:
        check_role(role)
        if role != "admin":
            self._keep_an_admin(username, "lose the role admin")
        record = self._update(username, role=role)
        self._audit("operator.role_changed", username, role=role)
        return record

    def set_password(self, username: str, password: str) -> None:
        """A new password (by an admin or the CLI); ends every session of the operator."""
        check_password(password)
        self.get(username)
        self._update(username, password_hash=hash_password(password))
        self.store.delete_console_sessions(username)
        self._audit("operator.password_set", username)

    def change_own_password(self, username: str, current: str, new: str) -> None:
        """The operator's own change: the current password first (BadCredentials)."""
        check_password(new)
        record = self.get(username)
        if not verify_password(record.password_hash, current):
            raise BadCredentials("The current password is wrong")
        self._update(username, password_hash=hash_password(new))
        self.store.delete_console_sessions(username)
        self._audit("operator.password_changed", username)

    def set_enabled(self, username: str, enabled: bool) -> OperatorRecord:
        """Disabling ends every session of the operator."""
        if not enabled:
            self._keep_an_admin(username, "be disabled")
        record = self._update(username, enabled=enabled)
        if not enabled:
            self.store.delete_console_sessions(username)
        self._audit("operator.enabled" if enabled else "operator.disabled", username)
        return record

    def delete(self, username: str) -> None:
        self._keep_an_admin(username, "be removed")
        self.store.delete_operator(username)
        self._audit("operator.removed", username)

    # two-factor -------------------------------------------------------------
    def begin_totp(self, username: str) -> tuple[str, str]:
        """A new pending TOTP secret (not in force until :meth:`confirm_totp`): returns the
        base32 secret and its ``otpauth://`` URI, to show once. Refused when enrolled."""
        record = self.get(username)
        if record.totp_enabled:
            raise OperatorError("two-factor authentication is already set up")
        return self._new_totp(username, enabled=False)

    def confirm_totp(self, username: str, code: str) -> None:
        """Turn the pending secret on once the operator proves they hold it."""
        record = self.get(username)
        if record.totp_enabled or record.totp_secret_enc is None:
            raise OperatorError("start the two-factor setup first")
        secret = self.vault.decrypt_totp_secret(username, record.totp_secret_enc)
        step = _matching_step(secret, code, self.clock())
        if step is None or not self.store.use_totp_step(username, step):
            raise OperatorError("Wrong code")
        self._update(username, totp_enabled=True)
        self._audit("operator.totp_enrolled", username)

    def reset_totp(self, username: str) -> None:
        """Remove the operator's second factor (they enrol again, if the install requires)."""
        self._update(username, totp_enabled=False, totp_secret_enc=None)
        self._audit("operator.totp_reset", username)

    def enroll_totp_now(self, username: str) -> tuple[str, str]:
        """A new secret in force at once (the CLI shows it to the operator): (base32, URI)."""
        result = self._new_totp(username, enabled=True)
        self._audit("operator.totp_enrolled", username)
        return result

    def _new_totp(self, username: str, *, enabled: bool) -> tuple[str, str]:
        secret = secrets.token_bytes(TOTP_SECRET_BYTES)
        blob = self.vault.encrypt_totp_secret(username, secret)
        self._update(username, totp_enabled=enabled, totp_secret_enc=blob)
        b32 = base64.b32encode(secret).decode().rstrip("=")
        label = quote(f"{TOTP_ISSUER}:{username}", safe="")
        uri = (
            f"otpauth://totp/{label}?secret={b32}&issuer={TOTP_ISSUER}"
            f"&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_PERIOD}"
        )
        return b32, uri

    # sign-in ----------------------------------------------------------------
    def check_password(self, username: str, password: str) -> SignIn:
        """The password step of a sign-in. Unknown, disabled and wrong all raise the same
        BadCredentials after the same Argon2 work."""
        record = (
            self.store.get_operator(username)
            if isinstance(username, str) and USERNAME_RE.fullmatch(username)
            else None
        )
        if record is None:
            verify_password(_dummy(), password)
            raise BadCredentials()
        if not verify_password(record.password_hash, password) or not record.enabled:
            raise BadCredentials()
        if record.totp_enabled:
            stage: ConsoleStage = "totp"
        elif self.settings.console_require_totp:
            stage = "enroll"
        else:
            stage = "ok"
        if _hasher.check_needs_rehash(record.password_hash):
            record = self._update(username, password_hash=hash_password(password))
        return SignIn(record, stage)

    def check_totp(self, username: str, code: str) -> None:
        """The second step: a code of the previous, current or next 30 s step, never one of
        a step already used (a replay, even on another node)."""
        record = self.store.get_operator(username)
        if (
            record is None
            or not record.enabled
            or not record.totp_enabled
            or record.totp_secret_enc is None
        ):
            raise BadCredentials("Wrong authentication code")
        secret = self.vault.decrypt_totp_secret(username, record.totp_secret_enc)
        step = _matching_step(secret, code, self.clock())
        if step is None or not self.store.use_totp_step(username, step):
            raise BadCredentials("Wrong authentication code")

    def signed_in(self, username: str) -> None:
        """Record a completed sign-in (``last_signin_at`` and the audit)."""
        self._update(username, last_signin_at=self._now())
        self._audit("console.signin", username)

    # helpers ----------------------------------------------------------------
    def _keep_an_admin(self, username: str, change: str) -> None:
        """Refuse the change that would leave no enabled admin (nobody could manage
        operators in the console any more). NotFound for an unknown operator."""
        record = self.get(username)
        if record.role != "admin" or not record.enabled:
            return
        others = [
            o
            for o in self.store.list_operators()
            if o.role == "admin" and o.enabled and o.username != username
        ]
        if not others:
            raise OperatorError(f"the last enabled admin cannot {change}")

    def _now(self) -> int:
        return int(self.clock())

    def _update(self, username: str, **changes: Any) -> OperatorRecord:
        record = replace(self.get(username), updated_at=self._now(), **changes)
        if not self.store.update_operator(record):
            raise NotFound(f"no operator {username!r}")
        return record

    def _audit(self, action: str, username: str, **details: Any) -> None:
        if self.source is not None:
            details["source"] = self.source
        target = f"operator:{username}"
        self.store.record_audit(
            AuditEvent(self._now(), self.actor, action, MASTER, target, details)
        )
        audit_log.info(
            "%s %s/%s by %s",
            action,
            MASTER,
            target,
            self.actor,
            extra={"event": action, "tenant": MASTER, "target": target, "actor": self.actor},
        )


def bootstrap_operator(operators: Operators) -> str | None:
    """On first start: the operator ``admin`` (role admin) with a generated password, which
    is returned to print once. None when any operator exists already."""
    if operators.store.list_operators():
        return None
    try:
        _, password = operators.create("admin", "admin")
    except Conflict:
        return None
    return password


__all__ = [
    "BAD_CREDENTIALS",
    "MASTER",
    "PERMISSIONS",
    "ROLES",
    "Action",
    "BadCredentials",
    "OperatorError",
    "Operators",
    "SignIn",
    "bootstrap_operator",
    "can",
    "check_password",
    "check_role",
    "check_username",
    "generate_password",
    "hash_password",
    "session_hash",
    "totp_code",
    "verify_password",
]
