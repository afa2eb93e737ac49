"""``use_assertions``: the DPoP replay check's group commit, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from realmgate.server.storage.sql import SqlStore
from tests.storage.test_contract import client, key, tenant


def test_a_batch_records_each_jti_once(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    exp = int(time.time()) + 60
    rows = [("acme", "#dpop", "a", exp), ("acme", "#dpop", "b", exp), ("acme", "#dpop", "a", exp)]
    # the second "a" of one batch is a replay of the first
    assert store.use_assertions(rows) == [True, True, False]
    # every one of them is now used, in a later batch and through the one-row method
    assert store.use_assertions([("acme", "#dpop", "b", exp), ("acme", "#dpop", "c", exp)]) == [
        False,
        True,
    ]
    assert store.use_assertion("acme", "#dpop", "c", exp) is False
    # the namespace (client id) and the tenant are part of the key
    assert store.use_assertions([("acme", "app", "a", exp), ("other", "#dpop", "a", exp)]) == [
        True,
        True,
    ]
    assert store.use_assertions([]) == []


def test_used_rows_are_pruned_after_their_expiry(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    now = int(time.time())
    assert store.use_assertions([("acme", "#dpop", "old", now - 10)]) == [True]
    store.prune_expired(now)
    assert store.use_assertions([("acme", "#dpop", "old", now + 60)]) == [True]
