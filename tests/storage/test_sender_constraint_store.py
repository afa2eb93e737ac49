"""Sender-constraint fields (migration 0013) through every write and read of the Store, on
SQLite and PostgreSQL: clients' DPoP/certificate binding and tls_client_auth subject, tenants'
``dpop_required``."""

from __future__ import annotations

from dataclasses import replace

from realmgate.server.storage.records import ClientRecord
from realmgate.server.storage.sql import SqlStore
from tests.storage.test_contract import client, key, tenant

DN = "CN=svc.example.com,O=Example Corp,C=DE"


def _bound(t: str = "acme", cid: str = "app", **kw: object) -> ClientRecord:
    fields: dict[str, object] = {
        "auth_method": "tls_client_auth",
        "dpop_bound": True,
        "cert_bound": True,
        "tls_subject_dn": DN,
        "tls_san": None,
    }
    fields.update(kw)
    return client(t, cid, **fields)


def test_defaults_are_unbound(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    found = store.get_client("acme", "app")
    assert found is not None
    assert (found.dpop_bound, found.cert_bound, found.tls_subject_dn, found.tls_san) == (
        False,
        False,
        None,
        None,
    )
    t = store.get_tenant("acme")
    assert t is not None
    assert t.dpop_required is False


def test_fields_round_trip_on_create_and_every_read(store: SqlStore) -> None:
    bound = _bound()
    san = client("acme", "san", auth_method="tls_client_auth", tls_san="dns:api.example.com")
    selfsigned = client("acme", "self", auth_method="self_signed_tls_client_auth", cert_bound=True)
    store.create_tenant(tenant(dpop_required=True), [bound, san, selfsigned], [key()])
    assert store.get_client("acme", "app") == bound
    assert store.get_client("acme", "san") == san
    assert store.get_client("acme", "self") == selfsigned
    assert store.get_clients([("acme", "app")]) == {("acme", "app"): bound}
    assert [c.client_id for c in store.list_clients("acme") if c.dpop_bound] == ["app"]
    t = store.get_tenant("acme")
    assert t is not None
    assert t.dpop_required is True
    assert [x.dpop_required for x in store.list_tenants()] == [True]
    both = store.get_tenants_and_keys(["acme", "nope"])
    assert both["acme"][0].dpop_required is True
    assert store.get_tenants_and_keys(["acme"])["acme"][0].dpop_required is True


def test_fields_change_on_update(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    c = store.get_client("acme", "app")
    assert c is not None
    changed = replace(c, dpop_bound=True, cert_bound=True, tls_san="uri:spiffe://e/x")
    assert store.update_client(changed)
    again = store.get_client("acme", "app")
    assert again is not None
    assert (again.dpop_bound, again.cert_bound, again.tls_san) == (True, True, "uri:spiffe://e/x")
    assert store.update_client(replace(again, dpop_bound=False, tls_san=None))
    last = store.get_client("acme", "app")
    assert last is not None
    assert (last.dpop_bound, last.cert_bound, last.tls_san) == (False, True, None)
    t = store.get_tenant("acme")
    assert t is not None
    assert store.update_tenant(replace(t, dpop_required=True))
    t2 = store.get_tenant("acme")
    assert t2 is not None
    assert t2.dpop_required is True


def test_fields_survive_import(store: SqlStore) -> None:
    bound = _bound()
    store.import_realm(tenant(dpop_required=True), [], [bound], [key()])
    assert store.get_client("acme", "app") == bound
    t = store.get_tenant("acme")
    assert t is not None
    assert t.dpop_required
    other = _bound("acme", "two", dpop_bound=False, tls_subject_dn=None, tls_san="ip:10.0.0.1")
    store.import_into_realm("acme", [], [other])
    assert store.get_client("acme", "two") == other
