"""At most one active signing key per tenant, enforced by the schema on both backends, and
rotations that carry the tenant's signing algorithm in their own transaction."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from realmgate.server.storage.models import signing_keys
from realmgate.server.storage.records import KeyRecord
from realmgate.server.storage.rows import key_values
from realmgate.server.storage.sql import SqlStore
from tests.storage.test_contract import client, key, tenant


def _insert(store: SqlStore, record: KeyRecord) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(signing_keys).values(**key_values(record)))


def test_a_second_active_key_of_a_tenant_is_refused(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    store.create_tenant(tenant("other"), [], [key("other", "k1")])  # one per tenant: fine
    with pytest.raises(IntegrityError):
        _insert(store, key(kid="k2", created_at=2000))
    _insert(store, key(kid="k3", status="retired", verify_until=9000))
    # nor by turning a retired key active again
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            update(signing_keys)
            .where(signing_keys.c.tenant == "acme", signing_keys.c.kid == "k3")
            .values(status="active", verify_until=None)
        )
    assert [(k.kid, k.status) for k in store.list_keys("acme")] == [
        ("k1", "active"),
        ("k3", "retired"),
    ]
    _insert(store, key(kid="k4", status="revoked", verify_until=1))  # inactive keys: any number
    store.rotate_keys("acme", key(kid="k5", created_at=3000), retire_until=9000)
    store.emergency_rotate("acme", key(kid="k6", created_at=4000), not_before=4000)
    assert store.rotate_keys_if_older("acme", key(kid="k7", created_at=5000), 4500, 9000)
    statuses = {k.kid: k.status for k in store.list_keys("acme")}
    assert [kid for kid, s in statuses.items() if s == "active"] == ["k7"]


@pytest.mark.parametrize("how", ["rotate", "scheduled", "emergency"])
def test_a_rotation_makes_the_new_keys_algorithm_the_tenants(store: SqlStore, how: str) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    before = store.get_tenant("acme")
    assert before is not None and before.signing_alg == "RS256"
    start = store.latest_change_id()
    new = key(kid="es", alg="ES256", created_at=2000)
    if how == "rotate":
        store.rotate_keys("acme", new, retire_until=9000)
    elif how == "scheduled":
        assert store.rotate_keys_if_older("acme", new, older_than=1500, retire_until=9000)
    else:
        store.emergency_rotate("acme", new, not_before=2000)
    after = store.get_tenant("acme")
    assert after is not None
    assert after.signing_alg == "ES256"
    assert after.version == before.version + 1  # a stale copy of the tenant cannot undo it
    assert not store.update_tenant(replace(before, name="stale"))
    assert ("acme", "tenant", "acme") in [
        (c.tenant, c.kind, c.key) for c in store.changes_since(start)
    ]


def test_a_rotation_with_the_same_algorithm_leaves_the_tenant_alone(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    before = store.get_tenant("acme")
    start = store.latest_change_id()
    store.rotate_keys("acme", key(kid="k2", created_at=2000), retire_until=9000)
    assert store.get_tenant("acme") == before
    assert [(c.kind, c.key) for c in store.changes_since(start)] == [("keys", "k2")]
