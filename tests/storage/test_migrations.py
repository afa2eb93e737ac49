"""Schema migrations: the upgrade path from every released revision, on SQLite and PostgreSQL,
and nodes that refuse a schema they do not run on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage import migrate
from realmgate.server.storage.migrate import SchemaError
from realmgate.server.storage.sql import SqlStore, make_engine
from tests.servers import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        with postgres_database() as url:
            yield url


def _seed_0001(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (shortcode, name, signing_alg, settings, "
                "access_token_lifespan, session_max_lifespan, not_before, created_at, "
                "updated_at, version) VALUES ('old', 'Old', 'RS256', '{}', 7200, 57600, 0, 1, 1, 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO clients (tenant, client_id, sub, enabled, roles, secret_hash, "
                "created_at, updated_at) VALUES ('old', 'app', 's', :t, '[\"r\"]', :h, 1, 1)"
            ),
            {"t": True, "h": b"\x01" * 32},
        )


def test_upgrade_from_0001_keeps_data(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0001")
    assert migrate.current_revision(engine) == "0001"
    _seed_0001(engine)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    store = SqlStore(engine)
    tenant = store.get_tenant("old")
    client = store.get_client("old", "app")
    assert tenant is not None
    assert tenant.client_scopes == {"email": "default", "profile": "default", "openid": "optional"}
    assert client is not None
    assert client.roles == ("r",)
    assert client.auth_method == "client_secret"
    assert client.not_before == 0
    assert client.claims == {}
    assert client.version == 0
    store.close()


def test_every_revision_is_known_and_linear() -> None:
    assert migrate.known_revisions() == {
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0007",
        "0010",
        "0011",
        "0012",
        "0013",
    }
    assert migrate.head_revision() == "0013"


def test_node_refuses_an_old_schema_without_migrate_on_start(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0001")
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "d", database_url=database_url, migrate_on_start=False)
    with pytest.raises(SchemaError, match="realmgate db upgrade"):
        open_runtime(settings)
    rt = open_runtime(settings.model_copy(update={"migrate_on_start": True}))
    rt.close()
    open_runtime(settings).close()  # now at head: starts


def test_node_refuses_a_newer_schema(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "d", database_url=database_url, migrate_on_start=False)
    with pytest.raises(SchemaError, match="newer than this realmgate"):
        open_runtime(settings)
    with pytest.raises(SchemaError, match="newer than this realmgate"):
        open_runtime(settings.model_copy(update={"migrate_on_start": True}))


def test_upgrade_to_0011_gives_ids_and_realm_roles(database_url: str) -> None:
    """Existing realms and clients get Keycloak ids, stay enabled, and the roles their clients
    hold become realm roles; the signing keys survive (no copy of ``tenants`` on SQLite)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0010")
    _seed_0001(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO clients (tenant, client_id, sub, enabled, roles, secret_hash, "
                "created_at, updated_at) VALUES ('old', 'two', 's2', :t, :r, :h, 1, 1)"
            ),
            {"t": True, "r": '["r", "w"]', "h": b"\x02" * 32},
        )
        conn.execute(
            text(
                "INSERT INTO signing_keys (tenant, kid, alg, private_key_enc, public_jwk, status, "
                "created_at) VALUES ('old', 'k1', 'RS256', :p, '{}', 'active', 1)"
            ),
            {"p": b"ciphertext"},
        )
    migrate.upgrade(engine)
    store = SqlStore(engine)
    old = store.get_tenant("old")
    assert old is not None
    assert old.enabled
    assert len(old.realm_id) == 36
    clients = store.list_clients("old")
    ids = {c.internal_id for c in clients}
    assert len(ids) == 2
    assert all(len(i) == 36 for i in ids)
    assert all(c.reveal_enc is None and c.admin_roles == () for c in clients)
    assert [r.name for r in store.list_roles("old")] == ["r", "w"]
    assert [k.kid for k in store.list_keys("old")] == ["k1"]
    found = store.find_client("old", internal_id=clients[0].internal_id)
    assert found is not None
    assert found.client_id == clients[0].client_id
    store.close()


def test_upgrade_to_0013_leaves_clients_unbound(database_url: str) -> None:
    """Existing clients and realms get no sender constraint; the new fields are writable."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0012")
    _seed_0001(engine)
    migrate.upgrade(engine)
    store = SqlStore(engine)
    client = store.get_client("old", "app")
    tenant = store.get_tenant("old")
    assert client is not None
    assert tenant is not None
    assert not client.dpop_bound
    assert not client.cert_bound
    assert client.tls_subject_dn is None
    assert client.tls_san is None
    assert not tenant.dpop_required
    assert store.update_client(replace(client, cert_bound=True, tls_san="dns:a.example"))
    again = store.get_client("old", "app")
    assert again is not None
    assert again.cert_bound
    assert again.tls_san == "dns:a.example"
    store.close()
    migrate.upgrade(engine)  # at head: nothing to do
    engine.dispose()
