"""The storage contract of the admin API (revision 0011), on SQLite and PostgreSQL: realm roles
(a client's roles are always realm roles), clients by their Keycloak ids, secrets revealable
once, the new tenant and client fields."""

from __future__ import annotations

from dataclasses import replace

import pytest

from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import RoleRecord
from realmgate.server.storage.sql import SqlStore
from tests.storage.test_contract import client, key, tenant


def role(t: str = "acme", name: str = "reader", **kw: object) -> RoleRecord:
    base = RoleRecord(tenant=t, name=name, id=f"id-{t}-{name}", description=None, created_at=1)
    return replace(base, **kw)  # type: ignore[arg-type]


def names(store: SqlStore, t: str = "acme") -> list[str]:
    return [r.name for r in store.list_roles(t)]


def test_new_tenant_and_client_fields_round_trip(store: SqlStore) -> None:
    t = tenant(enabled=False, realm_id="r-1", extra={"defaultLocale": "de", "attributes": {}})
    c = client(
        internal_id="c-1",
        name="App",
        description="the app",
        extra={"redirectUris": ["https://x/cb"], "standardFlowEnabled": False},
        admin_roles=("view-clients", "manage-clients"),
        reveal_enc=b"\x00ciphertext",
        reveal_until=5000,
    )
    store.create_tenant(t, [c], [key()])
    assert store.get_tenant("acme") == t
    assert store.get_client("acme", "app") == c
    assert "ciphertext" not in repr(c)
    # an update keeps the ids given at creation
    fresh = store.get_tenant("acme")
    assert fresh is not None
    assert store.update_tenant(replace(fresh, realm_id="other", enabled=True))
    updated = store.get_tenant("acme")
    assert updated is not None
    assert (updated.realm_id, updated.enabled) == ("r-1", True)
    current = store.get_client("acme", "app")
    assert current is not None
    assert store.update_client(replace(current, internal_id="other", admin_roles=()))
    after = store.get_client("acme", "app")
    assert after is not None
    assert (after.internal_id, after.admin_roles) == ("c-1", ())


def test_roles_crud_sorted_and_keyed_by_tenant(store: SqlStore) -> None:
    store.create_tenant(tenant(), [], [key()])
    store.create_tenant(tenant("other"), [], [key("other")])
    store.create_role(role(name="writer", description="writes"))
    store.create_role(role(name="admin"))
    store.create_role(role("other", "writer"))
    with pytest.raises(DuplicateError):
        store.create_role(role(name="writer", id="another-id"))
    assert names(store) == ["admin", "writer"]
    assert store.get_role("acme", "writer") == role(name="writer", description="writes")
    assert store.get_role("acme", "nobody") is None
    assert store.delete_role("acme", "writer")
    assert not store.delete_role("acme", "writer")
    assert names(store) == ["admin"]
    assert names(store, "other") == ["writer"]


def test_every_client_write_creates_the_realm_roles_it_names(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client(roles=("a", "b"))], [key()])
    assert names(store) == ["a", "b"]
    existing_id = store.get_role("acme", "a")
    store.create_client(client(cid="two", sub="s2", roles=("b", "c")))
    assert names(store) == ["a", "b", "c"]
    current = store.get_client("acme", "two")
    assert current is not None
    assert store.update_client(replace(current, roles=("d",)))
    assert names(store) == ["a", "b", "c", "d"]
    assert store.get_role("acme", "a") == existing_id  # never replaced
    # a role given with the tenant is kept as given
    store.create_tenant(tenant("t2"), [client("t2", roles=("r",))], [key("t2")], [role("t2", "r")])
    assert store.list_roles("t2") == [role("t2", "r")]


def test_deleting_a_role_takes_it_from_every_client_at_once(store: SqlStore) -> None:
    store.create_tenant(
        tenant(),
        [
            client(roles=("reader", "writer")),
            client(cid="b", sub="s-b", roles=("reader_x",)),  # '_' is a LIKE wildcard
            client(cid="c", sub="s-c", roles=("writer",)),
        ],
        [key()],
    )
    store.create_tenant(tenant("other"), [client("other", roles=("reader",))], [key("other")])
    versions = {c.client_id: c.version for c in store.list_clients("acme")}
    start = store.latest_change_id()
    assert store.delete_role("acme", "reader")
    roles = {c.client_id: c.roles for c in store.list_clients("acme")}
    assert roles == {"app": ("writer",), "b": ("reader_x",), "c": ("writer",)}
    feed = [(c.tenant, c.kind, c.key) for c in store.changes_since(start)]
    assert feed == [("acme", "client", "app")]
    after = {c.client_id: c.version for c in store.list_clients("acme")}
    assert after == {**versions, "app": versions["app"] + 1}
    other = store.get_client("other", "app")
    assert other is not None
    assert other.roles == ("reader",)


def test_find_client_by_keycloak_id_or_service_account(store: SqlStore) -> None:
    store.create_tenant(
        tenant(),
        [client(internal_id="kc-1", sub="sub-1"), client(cid="b", internal_id="kc-2", sub="s2")],
        [key()],
    )
    store.create_tenant(tenant("other"), [client("other", internal_id="kc-9")], [key("other")])
    found = store.find_client("acme", internal_id="kc-2")
    assert found is not None
    assert found.client_id == "b"
    by_sub = store.find_client("acme", sub="sub-1")
    assert by_sub is not None
    assert by_sub.client_id == "app"
    assert store.find_client("acme", internal_id="kc-9") is None  # another tenant's
    assert store.find_client("acme", sub="nobody") is None
    with pytest.raises(ValueError, match="exactly one"):
        store.find_client("acme")


def test_a_keycloak_id_is_unique_in_its_tenant_where_given(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client(internal_id="kc-1")], [key()])
    with pytest.raises(DuplicateError):
        store.create_client(client(cid="b", sub="s-b", internal_id="kc-1"))
    store.create_tenant(tenant("other"), [client("other", internal_id="kc-1")], [key("other")])
    # rows written without one (bench seeds) may share the empty id
    store.create_client(client(cid="c", sub="s-c"))
    store.create_client(client(cid="d", sub="s-d"))


def test_expired_reveals_are_destroyed_with_a_change_each(store: SqlStore) -> None:
    store.create_tenant(
        tenant(),
        [
            client(reveal_enc=b"ct-1", reveal_until=100),
            client(cid="later", sub="s2", reveal_enc=b"ct-2", reveal_until=500),
            client(cid="none", sub="s3"),
        ],
        [key()],
    )
    start = store.latest_change_id()
    assert store.clear_expired_reveals(99) == 0
    assert store.clear_expired_reveals(100) == 1
    gone = store.get_client("acme", "app")
    assert gone is not None
    assert (gone.reveal_enc, gone.reveal_until, gone.version) == (None, None, 1)
    kept = store.get_client("acme", "later")
    assert kept is not None
    assert kept.reveal_enc == b"ct-2"
    assert [(c.kind, c.key) for c in store.changes_since(start)] == [("client", "app")]
    # the maintenance task's prune destroys them too
    assert store.prune_expired(1000) >= 1
    later = store.get_client("acme", "later")
    assert later is not None
    assert later.reveal_enc is None


def test_rewrap_ends_every_open_reveal(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client(reveal_enc=b"ct", reveal_until=2**40)], [key()])
    store.put_meta("pepper", b"old")
    store.replace_encrypted_material([], [], {"pepper": b"new"})
    found = store.get_client("acme", "app")
    assert found is not None
    assert (found.reveal_enc, found.reveal_until) == (None, None)


def test_delete_tenant_removes_its_roles(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client(roles=("r",))], [key()])
    assert store.delete_tenant("acme")
    assert store.list_roles("acme") == []
    store.create_tenant(tenant(), [client(roles=("r",))], [key()])  # the name is free again
    assert names(store) == ["r"]
