"""``client_stamps``: a client's ``(sub, version)``, which client authentication reads after
every failure to check what the cache answered (see ``core.client_auth``)."""

from __future__ import annotations

from dataclasses import replace

from realmgate.server.storage.sql import SqlStore
from tests.storage.test_contract import client, key, tenant


def test_stamps_follow_the_clients_rows(store: SqlStore) -> None:
    store.create_tenant(tenant("a1"), [client("a1", "app"), client("a1", "x")], [key("a1")])
    store.create_tenant(tenant("b1"), [client("b1", "app", sub="other")], [key("b1")])
    wanted = [("a1", "app"), ("b1", "app"), ("a1", "nope"), ("b1", "x"), ("nope", "app")]
    app = store.get_client("a1", "app")
    assert app is not None
    assert store.client_stamps(wanted) == {
        ("a1", "app"): (app.sub, app.version),
        ("b1", "app"): ("other", app.version),
    }
    assert store.client_stamps([("a1", "x")]) == {("a1", "x"): (app.sub, app.version)}
    assert store.client_stamps([("a1", "nope")]) == {}
    assert store.client_stamps([]) == {}

    assert store.update_client(replace(app, enabled=False))  # every change moves the version
    assert store.client_stamps([("a1", "app")]) == {("a1", "app"): (app.sub, app.version + 1)}
    assert store.delete_client("a1", "app")
    assert store.client_stamps([("a1", "app"), ("a1", "x")]) == {
        ("a1", "x"): (app.sub, app.version)
    }
