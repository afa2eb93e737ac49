"""The store's parts behind realmgate's admin extensions, on SQLite and PostgreSQL (and Redis
for the throttle's marks): audit queries with filters and paging, the throttle's listing and
unblocking with its change rows, and the tenants due for a scheduled rotation with their own
periods."""

from __future__ import annotations

from dataclasses import replace

from realmgate.server.core.throttle import FailureCounters, client_key, source_tag
from realmgate.server.storage.records import AuditEvent
from realmgate.server.storage.sql import SqlStore
from tests.storage.test_contract import key, tenant
from tests.storage.test_throttle_counters import counters

__all__ = ["counters"]  # the fixture: SQL store and Redis


def test_audit_filters_and_paging(store: SqlStore) -> None:
    actions = [
        "tenant.created",
        "client.created",
        "client.created",
        "client.deleted",
        "key.rotated",
    ]
    for i, action in enumerate(actions):
        actor = "cli:root" if i % 2 else "admin:master/ops"
        store.record_audit(AuditEvent(1000 + i * 10, actor, action, "acme", f"t{i}"))
    store.record_audit(AuditEvent(2000, "cli:root", "client.created", "other", "x"))
    targets = [e.target for e in store.list_audit("acme")]
    assert targets == ["t4", "t3", "t2", "t1", "t0"]
    assert [e.target for e in store.list_audit("acme", 2, first=1)] == ["t3", "t2"]
    assert [e.target for e in store.list_audit("acme", first=5)] == []
    assert [e.target for e in store.list_audit("acme", action="client.created")] == ["t2", "t1"]
    assert [e.target for e in store.list_audit("acme", action="client.*")] == ["t3", "t2", "t1"]
    assert [e.target for e in store.list_audit("acme", action="client_*")] == []  # no wildcard
    assert [e.target for e in store.list_audit("acme", actor="cli:root")] == ["t3", "t1"]
    assert [e.target for e in store.list_audit("acme", since=1010, until=1030)] == [
        "t3",
        "t2",
        "t1",
    ]
    assert [e.tenant for e in store.list_audit(None, 1)] == ["other"]


def test_throttle_marks_listed_by_prefix_and_cleared(counters: FailureCounters) -> None:
    now = 1000.0
    blocked = {
        client_key("acme", "app"): 2000.0,
        client_key("acme", "app_2"): 2000.0,
        client_key("acme-x", "app"): 2000.0,  # another tenant sharing a prefix of the name
        client_key("acme", "gone"): 900.0,  # ended
        "src:10.0.0.1": 3000.0,
        source_tag("acme", "src:10.0.0.1"): 3000.0,
    }
    counters.raise_marks(blocked, now=now)
    for _ in range(3):
        counters.count_auth_failure(client_key("acme", "app"), now, 300)
    assert counters.marks_with_prefix(client_key("acme", ""), now, 100) == {
        client_key("acme", "app"): 2000.0,
        client_key("acme", "app_2"): 2000.0,
    }
    assert counters.marks_with_prefix(client_key("acme", "app_"), now, 100) == {
        client_key("acme", "app_2"): 2000.0  # '_' is no wildcard
    }
    assert len(counters.marks_with_prefix(client_key("acme", ""), now, 1)) == 1
    assert counters.marks_with_prefix(source_tag("acme", ""), now, 100) == {
        source_tag("acme", "src:10.0.0.1"): 3000.0
    }
    counters.clear_marks([client_key("acme", "app"), "src:10.0.0.1", "src:never-seen"])
    assert counters.marks_with_prefix(client_key("acme", ""), now, 100) == {
        client_key("acme", "app_2"): 2000.0
    }
    assert counters.marks_with_prefix("src:", now, 100) == {}
    assert client_key("acme", "app") not in counters.marks_since(0, now)
    # the failures were forgotten too: counting starts again at one
    assert counters.count_auth_failure(client_key("acme", "app"), now, 300) == 1


def test_unblocks_go_through_the_change_feed(store: SqlStore) -> None:
    start = store.latest_change_id()
    store.record_unblocks("acme", ["app", "src:10.0.0.1", "app"])
    changes = store.changes_since(start)
    assert [(c.tenant, c.kind, c.key) for c in changes] == [
        ("acme", "throttle", "app"),
        ("acme", "throttle", "src:10.0.0.1"),
    ]
    store.record_unblocks("acme", [])
    assert store.latest_change_id() == changes[-1].id


def test_tenants_due_for_rotation_with_their_own_periods(store: SqlStore) -> None:
    now = 1_000_000
    periods = {"own-hour": 3600, "server": None, "never": 0, "own-week": 7 * 86400}
    for shortcode, period in periods.items():
        store.create_tenant(
            tenant(shortcode, key_rotation_period=period),
            [],
            [key(shortcode, f"k-{shortcode}", created_at=now - 2 * 86400)],
        )
    store.create_tenant(tenant("fresh"), [], [key("fresh", "k-fresh", created_at=now - 60)])
    due = store.tenants_due_for_rotation(now, 86400, 100)
    assert sorted(due) == [("own-hour", 3600), ("server", 86400)]
    assert store.tenants_due_for_rotation(now, 0, 100) == [("own-hour", 3600)]
    assert len(store.tenants_due_for_rotation(now, 86400, 1)) == 1
    # the period survives an update of the tenant, and None goes back to the server's
    record = store.get_tenant("own-week")
    assert record is not None and record.key_rotation_period == 7 * 86400
    assert store.update_tenant(replace(record, name="renamed"))
    again = store.get_tenant("own-week")
    assert again is not None and again.key_rotation_period == 7 * 86400
    assert store.update_tenant(replace(again, key_rotation_period=None))
    assert ("own-week", 86400) in store.tenants_due_for_rotation(now, 86400, 100)
