"""Migration 0007: a database that already has tenants with several active signing keys (left
by concurrent rotations before the fix) keeps one per tenant, the key its realm signs with,
and then refuses a second one. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from realmgate.server.storage import migrate
from realmgate.server.storage.sql import SqlStore, make_engine
from tests.servers import postgres_database

BEFORE = "0005"  # the revision before the constraint


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield e
        e.dispose()
    else:
        with postgres_database() as url:
            e = make_engine(url)
            yield e
            e.dispose()


def _seed(engine: Engine, tenant: str, lifespan: int, keys: list[tuple[str, str, int]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (shortcode, name, signing_alg, settings, "
                "access_token_lifespan, session_max_lifespan, not_before, created_at, "
                "updated_at, version) VALUES (:t, :t, 'ES256', '{}', 600, :l, 0, 1, 1, 0)"
            ),
            {"t": tenant, "l": lifespan},
        )
        for kid, status, created_at in keys:
            conn.execute(
                text(
                    "INSERT INTO signing_keys (tenant, kid, alg, private_key_enc, public_jwk, "
                    "status, created_at, verify_until) "
                    "VALUES (:t, :k, 'ES256', :p, :j, :s, :c, :v)"
                ),
                {
                    "t": tenant,
                    "k": kid,
                    "p": b"ciphertext",
                    "j": json.dumps({"kty": "EC", "kid": kid}),
                    "s": status,
                    "c": created_at,
                    "v": None if status == "active" else 5000,
                },
            )


def test_upgrade_keeps_one_active_key_per_tenant(engine: Engine) -> None:
    migrate.upgrade(engine, BEFORE)
    _seed(engine, "twice", 3600, [("a-old", "active", 1000), ("b-new", "active", 2000)])
    # three active, two of the same age: the realm signs with the first by kid ("c-tie")
    _seed(
        engine,
        "thrice",
        7200,
        [("d-tie", "active", 3000), ("c-tie", "active", 3000), ("e", "active", 100)],
    )
    _seed(engine, "fine", 3600, [("f-new", "active", 2000), ("g-old", "retired", 1000)])
    # The keys the realms signed with before (newest first, ties by kid). This code's store
    # cannot read the old schema (later revisions added columns), so they are written down.
    signing_before = {"twice": "b-new", "thrice": "c-tie", "fine": "f-new"}

    started = int(time.time())
    migrate.upgrade(engine)
    finished = int(time.time())
    assert migrate.current_revision(engine) == migrate.head_revision()
    store = SqlStore(engine)

    def keys(t: str) -> dict[str, tuple[str, int | None]]:
        return {k.kid: (k.status, k.verify_until) for k in store.list_keys(t)}

    for t, lifespan in (("twice", 3600), ("thrice", 7200)):
        found = keys(t)
        active = [kid for kid, (status, _until) in found.items() if status == "active"]
        assert active == [signing_before[t]], found
        for kid, (status, until) in found.items():
            if kid != signing_before[t]:  # retired as a rotation would: still verifies
                assert status == "retired"
                assert until is not None
                assert started + lifespan <= until <= finished + lifespan
    assert keys("fine") == {"f-new": ("active", None), "g-old": ("retired", 5000)}
    realms = store.get_tenants_and_keys(["twice", "thrice", "fine"])
    assert {t: ks[0].kid for t, (_tenant, ks) in realms.items()} == signing_before

    with pytest.raises(IntegrityError):
        _seed(engine, "again", 3600, [("h", "active", 1), ("i", "active", 2)])
