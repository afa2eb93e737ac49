"""PostgreSQL connections in the pool: a connection that died while idle (server restarted,
proxy timeout) is replaced before use, without a ping on every checkout."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from realmgate.server.storage import migrate, sql
from realmgate.server.storage.sql import SqlStore, make_engine
from tests.servers import PG_ADMIN_URL, postgres_database


def _backend_pid(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_that_died_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    with postgres_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        migrate.upgrade(engine)
        store = SqlStore(engine)
        try:
            pid = _backend_pid(store)
            assert _backend_pid(store) == pid  # reused from the pool
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            monkeypatch.setattr(sql, "IDLE_PING_SECONDS", 0.0)  # "idle long enough"
            assert store.get_tenant("acme") is None  # a new connection, no error
            assert _backend_pid(store) != pid
            assert store.get_tenants_and_keys(["acme"]) == {}
        finally:
            store.close()


def test_a_connection_used_a_moment_ago_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trade-off: no ping under load, so a connection that dies while busy fails its next
    statement once; the pool is then refreshed."""
    with postgres_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        migrate.upgrade(engine)
        store = SqlStore(engine)
        try:
            monkeypatch.setattr(sql, "IDLE_PING_SECONDS", 3600.0)
            pid = _backend_pid(store)
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(DBAPIError):
                store.get_tenant("acme")
            assert store.get_tenant("acme") is None
            assert _backend_pid(store) != pid
        finally:
            store.close()
