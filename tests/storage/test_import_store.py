"""The storage contract of realm imports (issue 16) on SQLite and PostgreSQL: a realm is written
whole in one transaction or not at all, overwrite replaces its clients, roles and keys, and
``partialImport`` adds or replaces clients and roles at once; every change reaches the feed."""

from __future__ import annotations

import pytest

from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import RoleRecord
from realmgate.server.storage.sql import SqlStore
from tests.storage.test_contract import client, key, tenant


def role(t: str, name: str, rid: str) -> RoleRecord:
    return RoleRecord(tenant=t, name=name, id=rid, description=f"{name}!", created_at=1)


def test_import_writes_a_whole_realm(store: SqlStore) -> None:
    start = store.latest_change_id()
    t = tenant("CX-Operator", realm_id="r-1", enabled=False)
    replaced = store.import_realm(
        t,
        [role("CX-Operator", "reader", "role-1")],
        [client("CX-Operator", "gw", roles=("reader", "writer"), internal_id="c-1")],
        [key("CX-Operator", "kid-1")],
    )
    assert replaced is False
    assert store.get_tenant("CX-Operator") == t
    assert store.get_tenant("cx-operator") is None  # exact, case-sensitive
    assert [r.name for r in store.list_roles("CX-Operator")] == ["reader", "writer"]
    assert store.get_role("CX-Operator", "reader") == role("CX-Operator", "reader", "role-1")
    got = store.get_client("CX-Operator", "gw")
    assert got is not None and got.internal_id == "c-1"
    assert [k.kid for k in store.list_keys("CX-Operator")] == ["kid-1"]
    kinds = {(c.kind, c.key) for c in store.changes_since(start)}
    assert {("tenant", "CX-Operator"), ("client", "gw"), ("keys", "kid-1")} <= kinds


def test_an_existing_realm_is_a_duplicate_and_nothing_changes(store: SqlStore) -> None:
    store.import_realm(tenant("acme"), [], [client("acme", "app")], [key("acme", "k1")])
    with pytest.raises(DuplicateError):
        store.import_realm(tenant("acme"), [], [client("acme", "other")], [key("acme", "k2")])
    assert [c.client_id for c in store.list_clients("acme")] == ["app"]
    assert [k.kid for k in store.list_keys("acme")] == ["k1"]


def test_a_failing_import_writes_nothing(store: SqlStore) -> None:
    store.import_realm(tenant("one"), [role("one", "reader", "shared-id")], [], [key("one")])
    # the role id is taken by realm "one": the whole import of "two" is rolled back
    with pytest.raises(DuplicateError):
        store.import_realm(
            tenant("two"),
            [role("two", "reader", "shared-id")],
            [client("two", "app")],
            [key("two")],
        )
    assert store.get_tenant("two") is None
    assert store.list_clients("two") == []
    assert store.list_keys("two") == []


def test_overwrite_replaces_clients_roles_and_keys(store: SqlStore) -> None:
    store.import_realm(
        tenant("acme"),
        [role("acme", "old", "r-old")],
        [client("acme", "gone", roles=("old",)), client("acme", "kept")],
        [key("acme", "k-old")],
    )
    start = store.latest_change_id()
    replaced = store.import_realm(
        tenant("acme", name="New name", realm_id="r-2"),
        [role("acme", "new", "r-new")],
        [client("acme", "kept", roles=("new",))],
        [key("acme", "k-new")],
        overwrite=True,
    )
    assert replaced is True
    current = store.get_tenant("acme")
    assert current is not None
    assert (current.name, current.realm_id) == ("New name", "r-2")
    assert [r.name for r in store.list_roles("acme")] == ["new"]
    assert [(c.client_id, c.roles) for c in store.list_clients("acme")] == [("kept", ("new",))]
    assert [k.kid for k in store.list_keys("acme")] == ["k-new"]
    kinds = {(c.kind, c.key) for c in store.changes_since(start)}
    assert {("client", "gone"), ("client", "kept"), ("keys", "k-new")} <= kinds


def test_partial_import_adds_and_replaces_at_once(store: SqlStore) -> None:
    store.import_realm(
        tenant("acme"), [role("acme", "reader", "r-1")], [client("acme", "app")], [key("acme")]
    )
    store.import_into_realm(
        "acme",
        [role("acme", "reader", "ignored"), role("acme", "writer", "r-2")],
        [client("acme", "app", roles=("writer",)), client("acme", "new")],
        replace_clients=["app"],
    )
    assert [(r.name, r.id) for r in store.list_roles("acme")] == [
        ("reader", "r-1"),
        ("tenant-admin", store.list_roles("acme")[1].id),
        ("writer", "r-2"),
    ]
    reader = store.get_role("acme", "reader")
    assert reader is not None and reader.description == "reader!"
    assert [(c.client_id, c.roles) for c in store.list_clients("acme")] == [
        ("app", ("writer",)),
        ("new", ("tenant-admin",)),
    ]
    # a client that exists (not to be replaced): nothing of the call is written
    with pytest.raises(DuplicateError):
        store.import_into_realm(
            "acme", [role("acme", "third", "r-3")], [client("acme", "new"), client("acme", "x")]
        )
    assert store.get_role("acme", "third") is None
    assert store.get_client("acme", "x") is None
    with pytest.raises(KeyError):
        store.import_into_realm("nobody", [], [])
