"""Console operators (core/operators.py) on a real SQLite runtime with an injected clock:
Argon2id passwords, TOTP with replay refusal, session idle/absolute/stage expiry, the
permissions table, TOTP secrets under the master key (and ``keys rewrap``), no secret in reprs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from realmgate.server.core.admin_clients import AdminError, Conflict, NotFound
from realmgate.server.core.operators import (
    PERMISSIONS,
    ROLES,
    BadCredentials,
    OperatorError,
    Operators,
    can,
    session_hash,
    totp_code,
)
from realmgate.server.crypto import MasterKeyError, new_master_key, parse_master_key
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.vault import Vault, open_vault, rewrap

T0 = 1_800_000_000.0  # a multiple of 30: TOTP steps are easy to reason about


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_runtime(Settings(data_dir=tmp_path / "data"))
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(rt: Runtime, clock: Clock, **settings: object) -> Operators:
    s = rt.settings.model_copy(update=settings) if settings else rt.settings
    return Operators(rt.store, rt.vault, s, clock, actor="console:test", source="192.0.2.1")


def secret_of(b32: str) -> bytes:
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def test_permissions_table() -> None:
    assert ROLES == ("admin", "support", "viewer")
    expected = {
        "read": {"admin", "support", "viewer"},
        "rotate_secret": {"admin", "support"},
        "unblock": {"admin", "support"},
        "enable_client": {"admin", "support"},
        "revoke_tokens": {"admin"},
        "edit_client": {"admin"},
        "edit_tenant": {"admin"},
        "rotate_key": {"admin"},
        "onboard": {"admin"},
        "operators": {"admin"},
    }
    assert {k: set(v) for k, v in PERMISSIONS.items()} == expected
    for action, roles in expected.items():
        for role in (*ROLES, "root", ""):
            assert can(role, action) == (role in roles)
    assert not can("admin", "no-such-action")


def test_create_hashes_with_argon2id_and_validates(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    record, password = ops.create("alice", "admin")
    assert len(password) == 20
    assert record.password_hash.startswith("$argon2id$")
    assert password not in record.password_hash
    assert ops.check_password("alice", password).stage == "ok"
    _, chosen = ops.create("bob@example.com", "viewer", "twelve chars")
    assert chosen == "twelve chars"
    with pytest.raises(Conflict):
        ops.create("alice", "viewer")
    for bad in ("", "Alice", "-x", "a b", "x" * 65):
        with pytest.raises(OperatorError, match="username"):
            ops.create(bad, "viewer")
    with pytest.raises(OperatorError, match="role"):
        ops.create("carol", "root")
    for bad_pw in ("short", "x" * 257):
        with pytest.raises(OperatorError, match="12 to 256"):
            ops.create("carol", "viewer", bad_pw)
    assert [o.username for o in ops.list()] == ["alice", "bob@example.com"]
    assert issubclass(OperatorError, AdminError)


def test_wrong_unknown_disabled_all_the_same(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    _, password = ops.create("alice", "support")
    messages = []
    for user, pw in (("alice", "wrong password!"), ("nobody", password), ("BAD NAME", "x")):
        with pytest.raises(BadCredentials) as exc:
            ops.check_password(user, pw)
        messages.append(str(exc.value))
    ops.set_enabled("alice", False)
    with pytest.raises(BadCredentials) as exc:
        ops.check_password("alice", password)
    messages.append(str(exc.value))
    assert set(messages) == {"Invalid username or password"}


def test_change_own_password(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    _, password = ops.create("alice", "viewer")
    token, _ = ops.start_session("alice", "ok", None)
    with pytest.raises(BadCredentials):
        ops.change_own_password("alice", "not the password", "a new password!")
    assert ops.session(token) is not None
    ops.change_own_password("alice", password, "a new password!")
    assert ops.session(token) is None
    assert ops.check_password("alice", "a new password!").stage == "ok"


def test_totp_enrolment_codes_and_replay(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    _, password = ops.create("alice", "admin")
    b32, uri = ops.begin_totp("alice")
    assert uri.startswith("otpauth://totp/realmgate%3Aalice?secret=" + b32)
    secret = secret_of(b32)
    assert len(secret) == 20
    # pending: the password alone still signs in
    assert ops.check_password("alice", password).stage == "ok"
    with pytest.raises(OperatorError, match="Wrong code"):
        ops.confirm_totp("alice", "000000" if totp_code(secret, T0) != "000000" else "111111")
    ops.confirm_totp("alice", totp_code(secret, T0))
    assert ops.get("alice").totp_enabled
    assert ops.check_password("alice", password).stage == "totp"
    with pytest.raises(OperatorError, match="already"):
        ops.begin_totp("alice")
    # the enrolment's code was used: refused as a sign-in code (replay)
    with pytest.raises(BadCredentials):
        ops.check_totp("alice", totp_code(secret, T0))
    clock.now = T0 + 60
    ops.check_totp("alice", totp_code(secret, T0 + 60))
    with pytest.raises(BadCredentials):
        ops.check_totp("alice", totp_code(secret, T0 + 60))  # same step again
    # the next step is accepted early, then an older step (the previous one) is refused
    ops.check_totp("alice", totp_code(secret, T0 + 90))
    with pytest.raises(BadCredentials):
        ops.check_totp("alice", totp_code(secret, T0 + 30))
    # two steps away: refused
    clock.now = T0 + 300
    with pytest.raises(BadCredentials):
        ops.check_totp("alice", totp_code(secret, T0 + 300 - 60))
    for junk in ("", "12345", "1234567", "abcdef", " " * 6):
        with pytest.raises(BadCredentials):
            ops.check_totp("alice", junk)
    ops.check_totp(
        "alice", " " + totp_code(secret, T0 + 300)[:3] + " " + totp_code(secret, T0 + 300)[3:]
    )
    ops.reset_totp("alice")
    record = ops.get("alice")
    assert not record.totp_enabled and record.totp_secret_enc is None
    assert ops.check_password("alice", password).stage == "ok"


def test_require_totp_means_enrolment(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock, console_require_totp=True)
    _, password = ops.create("alice", "viewer")
    assert ops.check_password("alice", password).stage == "enroll"
    b32, _ = ops.enroll_totp_now("alice")
    assert ops.check_password("alice", password).stage == "totp"
    ops.check_totp("alice", totp_code(secret_of(b32), T0))


def test_totp_secret_is_encrypted_bound_to_the_operator(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    ops.create("alice", "admin")
    b32, _ = ops.enroll_totp_now("alice")
    blob = ops.get("alice").totp_secret_enc
    assert blob is not None and secret_of(b32) not in blob
    assert rt.vault.decrypt_totp_secret("alice", blob) == secret_of(b32)
    with pytest.raises(MasterKeyError):  # AES-GCM refuses another operator's AAD
        rt.vault.decrypt_totp_secret("mallory", blob)


def test_rewrap_moves_totp_secrets(tmp_path: Path, clock: Clock) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    runtime = open_runtime(settings)
    try:
        ops = Operators(runtime.store, runtime.vault, settings, clock)
        ops.create("alice", "admin")
        ops.create("bob", "viewer")
        b32, _ = ops.enroll_totp_now("alice")
        new_key = new_master_key()
        rewrap(runtime.store, runtime.vault, parse_master_key(new_key))
        moved = open_vault(
            settings.model_copy(update={"master_key": SecretStr(new_key)}), runtime.store
        )
        blob = ops.get("alice").totp_secret_enc
        assert blob is not None
        assert moved.decrypt_totp_secret("alice", blob) == secret_of(b32)
        reopened = Operators(runtime.store, moved, settings, clock)
        reopened.check_totp("alice", totp_code(secret_of(b32), T0))
        assert ops.get("bob").totp_secret_enc is None
    finally:
        runtime.close()


def test_session_idle_absolute_and_stage_expiry(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock, console_session_idle=100, console_session_absolute=1000)
    ops.create("alice", "admin")
    token, row = ops.start_session("alice", "ok", "192.0.2.1")
    assert row.id_hash == session_hash(token) and token not in row.id_hash
    assert rt.store.get_console_session(session_hash(token)) is not None
    # idle: kept alive by use until the absolute limit
    for _ in range(9):
        clock.now += 99
        found = ops.current(token)
        assert found is not None and found[1].role == "admin"
    clock.now = T0 + 1000
    assert ops.session(token) is None
    assert rt.store.get_console_session(session_hash(token)) is None  # deleted
    token, _ = ops.start_session("alice", "ok", None)
    clock.now += 100
    assert ops.session(token) is None  # idle
    # a pending second factor lives 300 s at most
    token, _ = ops.start_session("alice", "totp", None)
    clock.now += 90
    assert ops.session(token) is not None
    clock.now += 90
    assert ops.session(token) is not None
    clock.now += 90
    assert ops.session(token) is not None
    clock.now += 40
    assert ops.session(token) is None
    assert ops.session("") is None and ops.session("unknown") is None
    assert ops.session(None) is None


def test_promote_rotates_the_session_id(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    ops.create("alice", "admin")
    token, pending = ops.start_session("alice", "totp", "192.0.2.9")
    new_token, row = ops.promote(token)
    assert new_token != token and row.stage == "ok" and row.source == "192.0.2.9"
    assert row.csrf != pending.csrf
    assert ops.session(token) is None
    assert ops.session(new_token) is not None
    with pytest.raises(BadCredentials):
        ops.promote(token)


def test_sessions_end_with_the_operator(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    ops.create("alice", "admin")
    ops.create("bob", "admin")
    a1, _ = ops.start_session("alice", "ok", None)
    a2, _ = ops.start_session("alice", "ok", None)
    b1, _ = ops.start_session("bob", "ok", None)
    ops.end_session(a1)
    assert ops.session(a1) is None and ops.session(a2) is not None
    assert ops.end_all_sessions("alice") == 1
    assert ops.session(a2) is None and ops.session(b1) is not None
    ops.set_role("bob", "viewer")
    found = ops.current(b1)
    assert found is not None and found[1].role == "viewer"  # the role read fresh
    ops.delete("bob")
    assert ops.session(b1) is None
    with pytest.raises(NotFound):
        ops.get("bob")
    with pytest.raises(NotFound):
        ops.set_role("bob", "admin")


def test_prune_sessions(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock, console_session_idle=100)
    ops.create("alice", "admin")
    old, _ = ops.start_session("alice", "ok", None)
    clock.now += 150
    live, _ = ops.start_session("alice", "ok", None)
    assert ops.prune_sessions() == 1
    assert rt.store.get_console_session(session_hash(old)) is None
    assert ops.session(live) is not None


def test_audit_events_name_the_operator_and_never_a_secret(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    ops.create("root", "admin")  # the last enabled admin could not be disabled or removed
    _, password = ops.create("alice", "support")
    ops.set_role("alice", "admin")
    ops.set_password("alice", "another password")
    b32, _ = ops.enroll_totp_now("alice")
    ops.reset_totp("alice")
    ops.set_enabled("alice", False)
    ops.set_enabled("alice", True)
    ops.end_all_sessions("alice")
    ops.signed_in("alice")
    ops.delete("alice")
    events = [
        e for e in reversed(rt.store.list_audit("master", 100)) if e.target == "operator:alice"
    ]
    assert [e.action for e in events] == [
        "operator.created",
        "operator.role_changed",
        "operator.password_set",
        "operator.totp_enrolled",
        "operator.totp_reset",
        "operator.disabled",
        "operator.enabled",
        "operator.signed_out",
        "console.signin",
        "operator.removed",
    ]
    for e in events:
        assert (e.tenant, e.target, e.actor) == ("master", "operator:alice", "console:test")
        assert e.details["source"] == "192.0.2.1"
        text = repr(e)
        for secret in (password, "another password", b32):
            assert secret not in text


def test_no_secret_in_reprs(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    record, password = ops.create("alice", "admin")
    ops.enroll_totp_now("alice")
    record = ops.get("alice")
    token, session = ops.start_session("alice", "ok", None)
    signin = ops.check_password("alice", password)
    for obj in (record, session, signin):
        text = repr(obj)
        assert "argon2" not in text
        assert password not in text
        assert session.csrf not in text
        assert token not in text
        assert "totp_secret_enc" not in text
    assert isinstance(rt.vault, Vault)


def test_the_last_enabled_admin_stays(rt: Runtime, clock: Clock) -> None:
    ops = make(rt, clock)
    ops.create("alice", "admin")
    ops.create("bob", "support")
    for change in (
        lambda: ops.set_role("alice", "viewer"),
        lambda: ops.set_enabled("alice", False),
        lambda: ops.delete("alice"),
    ):
        with pytest.raises(OperatorError, match="the last enabled admin"):
            change()
    ops.set_role("bob", "admin")
    ops.set_enabled("alice", False)
    with pytest.raises(OperatorError, match="the last enabled admin"):
        ops.delete("bob")
    ops.delete("alice")  # a disabled admin may go
    assert [o.username for o in ops.list()] == ["bob"]
