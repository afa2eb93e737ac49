"""The storage contract, run against every implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from realmgate.server.storage import migrate
from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import AuditEvent, ClientRecord, KeyRecord, TenantRecord
from realmgate.server.storage.sql import SqlStore


def tenant(shortcode: str = "acme", **kw: object) -> TenantRecord:
    base = TenantRecord(
        shortcode=shortcode,
        name="ACME",
        signing_alg="RS256",
        settings={"locale": "en-US", "transcriptionLanguages": ["en", "de"]},
        access_token_lifespan=7200,
        session_max_lifespan=57600,
        not_before=0,
        created_at=1000,
        updated_at=1000,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def client(t: str = "acme", cid: str = "app", **kw: object) -> ClientRecord:
    base = ClientRecord(
        tenant=t,
        client_id=cid,
        sub="6f1c0b8e-0000-4000-8000-000000000001",
        enabled=True,
        roles=("tenant-admin",),
        secret_hash=b"\x01" * 32,
        created_at=1000,
        updated_at=1000,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def key(t: str = "acme", kid: str = "k1", **kw: object) -> KeyRecord:
    base = KeyRecord(
        tenant=t,
        kid=kid,
        alg="RS256",
        private_key_enc=b"\x00secret-ciphertext",
        public_jwk={"kty": "RSA", "kid": kid},
        status="active",
        created_at=1000,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_schema_is_at_head(store: SqlStore) -> None:
    assert migrate.current_revision(store.engine) == migrate.head_revision()
    migrate.upgrade(store.engine)  # idempotent
    assert migrate.current_revision(store.engine) == migrate.head_revision()


def test_meta_roundtrip_and_overwrite(store: SqlStore) -> None:
    assert store.get_meta("pepper") is None
    store.put_meta("pepper", b"\x00\x01")
    store.put_meta("pepper", b"\x02")
    assert store.get_meta("pepper") == b"\x02"


def test_tenant_onboarding_is_atomic_and_complete(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    assert store.get_tenant("acme") == tenant()
    assert store.get_client("acme", "app") == client()
    assert store.list_keys("acme") == [key()]
    assert store.count_tenants() == 1
    with pytest.raises(DuplicateError):
        store.create_tenant(tenant(), [client(cid="other")], [key(kid="k2")])
    # the failed onboarding left nothing behind
    assert store.get_client("acme", "other") is None
    assert [k.kid for k in store.list_keys("acme")] == ["k1"]


def test_unknown_rows_are_none_or_false(store: SqlStore) -> None:
    assert store.get_tenant("nope") is None
    assert store.get_client("nope", "app") is None
    assert store.list_clients("nope") == []
    assert store.list_keys("nope") == []
    assert store.update_tenant(tenant("nope")) is False
    assert store.update_client(client("nope")) is False
    assert store.delete_tenant("nope") is False
    assert store.delete_client("nope", "app") is False


def test_tenants_and_keys_for_the_cache_in_one_read(store: SqlStore) -> None:
    store.create_tenant(tenant("a1"), [], [key("a1", "old", created_at=1000)])
    store.rotate_keys("a1", key("a1", "new", created_at=2000), retire_until=9000)
    store.create_tenant(tenant("b1", name="B"), [], [key("b1", "kb")])
    store.create_tenant(tenant("c1"), [], [])  # no key at all (the cache refuses it later)
    store.emergency_rotate("b1", key("b1", "kb2", created_at=3000), not_before=3000)
    found = store.get_tenants_and_keys(["a1", "b1", "c1", "nope", "a1"])
    assert set(found) == {"a1", "b1", "c1"}
    t, keys = found["a1"]
    assert t == tenant("a1")
    assert [(k.kid, k.status, k.verify_until) for k in keys] == [
        ("new", "active", None),
        ("old", "retired", 9000),
    ]  # newest first
    assert keys[0] == store.list_keys("a1")[0]
    t, keys = found["b1"]
    assert t.name == "B" and t.not_before == 3000
    assert [k.kid for k in keys] == ["kb2"]  # the revoked key is left out
    assert found["c1"] == (tenant("c1"), [])
    assert store.get_tenants_and_keys(["a1"])["a1"] == found["a1"]
    assert store.get_tenants_and_keys([]) == {}


def test_clients_for_the_cache_in_one_read(store: SqlStore) -> None:
    store.create_tenant(tenant("a1"), [client("a1", "app"), client("a1", "x")], [key("a1")])
    store.create_tenant(tenant("b1"), [client("b1", "app", enabled=False)], [key("b1")])
    wanted = [("a1", "app"), ("b1", "app"), ("a1", "nope"), ("b1", "x"), ("nope", "app")]
    found = store.get_clients(wanted)
    assert found == {
        ("a1", "app"): store.get_client("a1", "app"),
        ("b1", "app"): store.get_client("b1", "app"),
    }
    assert found[("b1", "app")] == client("b1", "app", enabled=False)
    assert store.get_clients([("a1", "x")]) == {("a1", "x"): client("a1", "x")}
    assert store.get_clients([]) == {}


def test_update_tenant_uses_optimistic_concurrency(store: SqlStore) -> None:
    store.create_tenant(tenant(), [], [key()])
    first = store.get_tenant("acme")
    assert first is not None
    assert store.update_tenant(replace(first, name="One"))
    # a writer that read the same version loses and must re-read
    assert not store.update_tenant(replace(first, name="Two"))
    current = store.get_tenant("acme")
    assert current is not None
    assert current.name == "One"
    assert current.version == first.version + 1


def test_clients_are_keyed_by_tenant(store: SqlStore) -> None:
    store.create_tenant(tenant("a1"), [client("a1", "app")], [key("a1")])
    store.create_tenant(tenant("b1"), [client("b1", "app", enabled=False)], [key("b1")])
    a, b = store.get_client("a1", "app"), store.get_client("b1", "app")
    assert a is not None and b is not None
    assert a.enabled and not b.enabled
    assert [c.client_id for c in store.list_clients("a1")] == ["app"]
    store.create_client(client("a1", "zeta"))
    assert [c.client_id for c in store.list_clients("a1")] == ["app", "zeta"]
    with pytest.raises(DuplicateError):
        store.create_client(client("a1", "zeta"))


def test_update_client_uses_optimistic_concurrency(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    first = store.get_client("acme", "app")
    assert first is not None
    assert store.update_client(replace(first, enabled=False))
    assert not store.update_client(replace(first, roles=("other",)))  # read a stale version
    current = store.get_client("acme", "app")
    assert current is not None
    assert (current.enabled, current.roles, current.version) == (False, ("tenant-admin",), 1)


def test_client_update_and_delete(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    updated = client(
        enabled=False,
        secret_hash=b"\x02" * 32,
        previous_secret_hash=b"\x01" * 32,
        previous_secret_expires_at=5000,
        access_token_lifespan=600,
        updated_at=2000,
    )
    assert store.update_client(updated)
    assert store.get_client("acme", "app") == replace(updated, version=1)
    assert store.delete_client("acme", "app")
    assert store.get_client("acme", "app") is None


def test_delete_tenant_removes_its_clients_and_keys(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    assert store.delete_tenant("acme")
    assert store.get_tenant("acme") is None
    assert store.get_client("acme", "app") is None
    assert store.list_keys("acme") == []
    assert store.list_all_keys() == []


def test_rotate_keys_retires_the_active_key(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    store.rotate_keys("acme", key(kid="k2", created_at=2000), retire_until=9000)
    keys = {k.kid: k for k in store.list_keys("acme")}
    assert keys["k2"].status == "active" and keys["k2"].verify_until is None
    assert keys["k1"].status == "retired" and keys["k1"].verify_until == 9000
    assert [k.kid for k in store.list_keys("acme")] == ["k2", "k1"]  # newest first


def test_replace_encrypted_material_at_once(store: SqlStore) -> None:
    jwt_client = client(cid="jwt", auth_method="client_secret_jwt", secret_enc=b"old-ct")
    store.create_tenant(tenant(), [client(), jwt_client], [key()])
    store.put_meta("pepper", b"old-pepper")
    secrets = store.list_encrypted_secrets()
    assert [(s.client_id, s.secret_enc, s.previous_secret_enc) for s in secrets] == [
        ("jwt", b"old-ct", None)
    ]
    store.replace_encrypted_material(
        [key(private_key_enc=b"rewrapped")],
        [replace(secrets[0], secret_enc=b"new-ct", previous_secret_enc=b"prev-ct")],
        {"pepper": b"new-pepper"},
    )
    assert store.list_all_keys()[0].private_key_enc == b"rewrapped"
    moved = store.get_client("acme", "jwt")
    assert moved is not None
    assert (moved.secret_enc, moved.previous_secret_enc) == (b"new-ct", b"prev-ct")
    assert store.get_meta("pepper") == b"new-pepper"


def test_every_write_appends_to_the_change_feed(store: SqlStore) -> None:
    start = store.latest_change_id()
    store.create_tenant(tenant(), [client()], [key()])
    store.create_client(client(cid="two"))
    current = store.get_client("acme", "two")
    assert current is not None
    store.update_client(replace(current, enabled=False))
    fresh = store.get_tenant("acme")
    assert fresh is not None
    store.update_tenant(replace(fresh, name="New"))
    store.rotate_keys("acme", key(kid="k2"), retire_until=1)
    store.delete_client("acme", "two")
    changes = store.changes_since(start)
    assert [(c.tenant, c.kind, c.key) for c in changes] == [
        ("acme", "tenant", "acme"),
        ("acme", "client", "two"),
        ("acme", "client", "two"),
        ("acme", "tenant", "acme"),
        ("acme", "keys", "k2"),
        ("acme", "client", "two"),
    ]
    assert [c.id for c in changes] == sorted(c.id for c in changes)
    assert store.latest_change_id() == changes[-1].id
    assert store.changes_since(changes[-1].id) == []
    assert len(store.changes_since(start, limit=2)) == 2


def test_prune_changes(store: SqlStore) -> None:
    store.create_tenant(tenant(), [client()], [key()])
    assert store.prune_changes(older_than=0) == 0
    assert store.prune_changes(older_than=2**40) >= 1
    assert store.changes_since(0) == []


def test_repr_hides_secret_material(store: SqlStore) -> None:
    text = repr(client(previous_secret_hash=b"\x09" * 32)) + repr(key()) + repr(store)
    assert "secret_hash" not in text
    assert "ciphertext" not in text
    assert "private_key_enc" not in text


def test_audit_trail_newest_first_and_by_tenant(store: SqlStore) -> None:
    store.record_audit(
        AuditEvent(1, "cli:root", "tenant.created", "a1", "a1", {"algorithm": "RS256"})
    )
    store.record_audit(AuditEvent(2, "cli:root", "client.created", "b1", "app"))
    store.record_audit(AuditEvent(3, "system", "key.rotated", "a1", "k2", {"scheduled": True}))
    events = store.list_audit()
    assert [e.action for e in events] == ["key.rotated", "client.created", "tenant.created"]
    assert events[2].details == {"algorithm": "RS256"}
    assert [e.target for e in store.list_audit("a1")] == ["k2", "a1"]
    assert len(store.list_audit(limit=1)) == 1


def test_auth_failure_counters_and_blocks(store: SqlStore) -> None:
    assert store.count_auth_failure("src:1.2.3.4", now=100, window=60) == 1
    assert store.count_auth_failure("src:1.2.3.4", now=110, window=60) == 2
    assert store.count_auth_failure("src:5.6.7.8", now=110, window=60) == 1
    # two windows on nothing is left (the sliding window: tests/storage/test_throttle_counters)
    assert store.count_auth_failure("src:1.2.3.4", now=240, window=60) == 1
    store.raise_marks({"src:1.2.3.4": 250.5}, now=240)
    store.raise_marks({"src:1.2.3.4": 220.0}, now=241)  # never shortens a block
    assert store.marks_since(0, now=0) == {"src:1.2.3.4": 250.5}
    assert store.prune_auth_failures(older_than=300) == 2
    assert store.marks_since(0, now=0) == {}
