"""Operators, console sessions and traffic rows on real SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest

from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import ConsoleSession, OperatorRecord, TrafficRow
from realmgate.server.storage.sql import SqlStore


def _operator(name: str = "alice", **changes: object) -> OperatorRecord:
    base = OperatorRecord(
        username=name,
        role="admin",
        password_hash="$argon2id$fake",
        totp_enabled=False,
        totp_secret_enc=None,
        totp_last_step=0,
        enabled=True,
        created_at=100,
        updated_at=100,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _session(id_hash: str, username: str = "alice", **changes: object) -> ConsoleSession:
    base = ConsoleSession(
        id_hash=id_hash,
        username=username,
        stage="ok",
        csrf="c" * 43,
        created_at=1000,
        last_seen=1000,
        source="127.0.0.1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_operator_round_trip_and_duplicate(store: SqlStore) -> None:
    op = _operator(totp_secret_enc=b"\x00\x01", last_signin_at=5)
    store.create_operator(op)
    assert store.get_operator("alice") == op
    with pytest.raises(DuplicateError):
        store.create_operator(_operator())
    store.create_operator(_operator("bob", role="viewer"))
    assert [o.username for o in store.list_operators()] == ["alice", "bob"]
    assert store.get_operator("nobody") is None


def test_update_keeps_last_step_and_created_at(store: SqlStore) -> None:
    store.create_operator(_operator())
    assert store.use_totp_step("alice", 7)
    changed = _operator(role="support", enabled=False, updated_at=200, totp_last_step=0)
    assert store.update_operator(changed)
    got = store.get_operator("alice")
    assert got is not None
    assert (got.role, got.enabled, got.updated_at, got.totp_last_step) == (
        "support",
        False,
        200,
        7,
    )
    assert not store.update_operator(_operator("ghost"))


def test_totp_step_used_once(store: SqlStore) -> None:
    store.create_operator(_operator())
    assert store.use_totp_step("alice", 10)
    assert not store.use_totp_step("alice", 10)  # replay
    assert not store.use_totp_step("alice", 9)  # older
    assert store.use_totp_step("alice", 11)
    assert not store.use_totp_step("ghost", 12)


def test_sessions(store: SqlStore) -> None:
    store.create_operator(_operator())
    store.create_operator(_operator("bob"))
    store.create_console_session(_session("a" * 64))
    store.create_console_session(_session("b" * 64, stage="totp"))
    store.create_console_session(_session("c" * 64, "bob"))
    got = store.get_console_session("b" * 64)
    assert got == _session("b" * 64, stage="totp")
    store.touch_console_session("a" * 64, 1500)
    store.touch_console_session("a" * 64, 1200)  # never backwards
    touched = store.get_console_session("a" * 64)
    assert touched is not None and touched.last_seen == 1500
    assert store.delete_console_session("b" * 64)
    assert not store.delete_console_session("b" * 64)
    assert store.delete_console_sessions("alice") == 1
    assert store.get_console_session("a" * 64) is None
    assert store.get_console_session("c" * 64) is not None


def test_prune_and_delete_operator_ends_sessions(store: SqlStore) -> None:
    store.create_operator(_operator())
    store.create_console_session(_session("a" * 64, last_seen=2000))
    store.create_console_session(_session("b" * 64, last_seen=900))  # idle
    store.create_console_session(_session("c" * 64, created_at=10, last_seen=2000))  # too old
    assert store.prune_console_sessions(idle_before=1000, created_before=500) == 2
    assert store.get_console_session("a" * 64) is not None
    assert store.delete_operator("alice")
    assert store.get_console_session("a" * 64) is None
    assert not store.delete_operator("alice")


def test_traffic_adds_counts(store: SqlStore) -> None:
    store.add_traffic([TrafficRow(100, "t1", 3, 1), TrafficRow(100, "t2", 1, 0)])
    store.add_traffic([TrafficRow(100, "t1", 2, 0), TrafficRow(100, "t1", 1, 4)])
    store.add_traffic([TrafficRow(101, "t1", 5, 0)])
    store.add_traffic([])
    assert store.traffic_since(100) == [
        TrafficRow(100, "t1", 6, 5),
        TrafficRow(100, "t2", 1, 0),
        TrafficRow(101, "t1", 5, 0),
    ]
    assert store.traffic_since(101) == [TrafficRow(101, "t1", 5, 0)]
    assert store.prune_traffic(101) == 2
    assert store.traffic_since(0) == [TrafficRow(101, "t1", 5, 0)]
