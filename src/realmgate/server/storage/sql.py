"""The SQL implementation of :class:`~realmgate.server.storage.protocols.Store`.

One implementation for SQLite (the embedded default) and PostgreSQL, on SQLAlchemy Core.
SQLite runs in WAL mode with ``synchronous=FULL``: a write acknowledged to a caller has
reached the disk, so it survives a crash or a power loss.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.pool import ConnectionPoolEntry

from realmgate.server.storage.files import secure_sqlite_files, sqlite_path
from realmgate.server.storage.models import (
    clients,
    meta,
    realm_roles,
    signing_keys,
    tenants,
)
from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import (
    ClientRecord,
    KeyRecord,
    RoleRecord,
    TenantRecord,
)
from realmgate.server.storage.rows import (
    client_from_row,
    client_values,
    key_from_row,
    key_values,
    role_values,
    tenant_from_row,
    tenant_values,
)
from realmgate.server.storage.sql_admin import AdminStoreMixin, ensure_roles
from realmgate.server.storage.sql_feed import ChangeFeedMixin, record_change
from realmgate.server.storage.sql_import import ImportStoreMixin
from realmgate.server.storage.sql_operators import OperatorStoreMixin
from realmgate.server.storage.sql_reads import CacheReadsMixin
from realmgate.server.storage.sql_security import SecurityStoreMixin
from realmgate.server.storage.sql_tokens import TokenStateMixin

IDLE_PING_SECONDS = 1.0


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """The engine of a store; ``pool_size``/``max_overflow``: PostgreSQL connections kept
    per process / opened beyond them under load."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        if (database := sqlite_path(url)) is not None:
            secure_sqlite_files(database)  # 0600, and so are the -wal and -shm files
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_use_lifo=True)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it has been idle for ``IDLE_PING_SECONDS``:
    a dead one (database restarted, idle timeout of a proxy) is replaced, without the round
    trip of a ping on every checkout under load (what ``pool_pre_ping`` would cost). A
    statement that still fails on a dead connection invalidates the whole pool at once."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("SELECT 1")
            finally:
                cur.close()
            dbapi_conn.rollback()
        except Exception as exc:  # the pool discards it and connects again
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


class SqlStore(
    AdminStoreMixin,
    ImportStoreMixin,
    CacheReadsMixin,
    SecurityStoreMixin,
    ChangeFeedMixin,
    TokenStateMixin,
    OperatorStoreMixin,
):
    """The :class:`Store` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __repr__(self) -> str:  # the URL may carry a password
        return f"SqlStore(dialect={self.engine.dialect.name!r})"

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # meta -------------------------------------------------------------------
    def get_meta(self, name: str) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.name == name)).scalar()
        return None if value is None else bytes(value)

    def put_meta(self, name: str, value: bytes) -> None:
        with self._tx() as conn:
            done = conn.execute(update(meta).where(meta.c.name == name).values(value=value))
            if done.rowcount == 0:
                conn.execute(insert(meta).values(name=name, value=value))

    # tenants ----------------------------------------------------------------
    def create_tenant(
        self,
        tenant: TenantRecord,
        client_list: list[ClientRecord],
        keys: list[KeyRecord],
        roles: Sequence[RoleRecord] = (),
    ) -> None:
        try:
            with self._tx() as conn:
                conn.execute(insert(tenants).values(**tenant_values(tenant)))
                for r in roles:
                    conn.execute(insert(realm_roles).values(**role_values(r)))
                for c in client_list:
                    ensure_roles(conn, c.tenant, c.roles, c.created_at)
                    conn.execute(insert(clients).values(**client_values(c)))
                for k in keys:
                    conn.execute(insert(signing_keys).values(**key_values(k)))
                record_change(conn, tenant.shortcode, "tenant", tenant.shortcode)
        except IntegrityError:
            raise DuplicateError(f"tenant {tenant.shortcode!r} exists already") from None

    def list_tenants(self) -> list[TenantRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tenants).order_by(tenants.c.shortcode)).all()
        return [tenant_from_row(r) for r in rows]

    def count_tenants(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tenants)).scalar_one())

    def update_tenant(self, tenant: TenantRecord) -> bool:
        with self._tx() as conn:
            values = tenant_values(tenant)
            del values["shortcode"], values["created_at"], values["realm_id"]
            values["version"] = tenant.version + 1
            done = conn.execute(
                update(tenants)
                .where(tenants.c.shortcode == tenant.shortcode, tenants.c.version == tenant.version)
                .values(**values)
            )
            if done.rowcount:
                record_change(conn, tenant.shortcode, "tenant", tenant.shortcode)
            return bool(done.rowcount)

    def delete_tenant(self, shortcode: str) -> bool:
        with self._tx() as conn:
            # Explicit child deletes: SQLite enforces ON DELETE CASCADE only with the pragma.
            conn.execute(delete(clients).where(clients.c.tenant == shortcode))
            conn.execute(delete(signing_keys).where(signing_keys.c.tenant == shortcode))
            conn.execute(delete(realm_roles).where(realm_roles.c.tenant == shortcode))
            done = conn.execute(delete(tenants).where(tenants.c.shortcode == shortcode))
            if done.rowcount:
                record_change(conn, shortcode, "tenant", shortcode)
            return bool(done.rowcount)

    # clients ----------------------------------------------------------------
    def create_client(self, client: ClientRecord) -> None:
        try:
            with self._tx() as conn:
                ensure_roles(conn, client.tenant, client.roles, client.created_at)
                conn.execute(insert(clients).values(**client_values(client)))
                record_change(conn, client.tenant, "client", client.client_id)
        except IntegrityError:
            raise DuplicateError(
                f"client {client.client_id!r} exists already in tenant {client.tenant!r}"
            ) from None

    def list_clients(self, tenant: str) -> list[ClientRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(clients).where(clients.c.tenant == tenant).order_by(clients.c.client_id)
            ).all()
        return [client_from_row(r) for r in rows]

    def update_client(self, client: ClientRecord) -> bool:
        with self._tx() as conn:
            values = client_values(client)
            del values["tenant"], values["client_id"], values["created_at"], values["internal_id"]
            values["version"] = client.version + 1
            done = conn.execute(
                update(clients)
                .where(
                    clients.c.tenant == client.tenant,
                    clients.c.client_id == client.client_id,
                    clients.c.version == client.version,
                )
                .values(**values)
            )
            if done.rowcount:
                ensure_roles(conn, client.tenant, client.roles, client.updated_at)
                record_change(conn, client.tenant, "client", client.client_id)
            return bool(done.rowcount)

    def delete_client(self, tenant: str, client_id: str) -> bool:
        with self._tx() as conn:
            done = conn.execute(
                delete(clients).where(clients.c.tenant == tenant, clients.c.client_id == client_id)
            )
            if done.rowcount:
                record_change(conn, tenant, "client", client_id)
            return bool(done.rowcount)

    # keys -------------------------------------------------------------------
    def list_keys(self, tenant: str) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(signing_keys)
                .where(signing_keys.c.tenant == tenant)
                .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
            ).all()
        return [key_from_row(r) for r in rows]

    def list_all_keys(self) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(signing_keys).order_by(signing_keys.c.tenant, signing_keys.c.kid)
            ).all()
        return [key_from_row(r) for r in rows]

    @staticmethod
    def _lock_tenant(conn: Connection, tenant: str) -> None:
        """Serialise key changes of one tenant (PostgreSQL row lock; SQLite has one writer).

        Every rotation (by hand, emergency, scheduled) takes it first. Without it, concurrent
        rotations under READ COMMITTED each retire the key they saw and each insert an active
        key, or deadlock on the key rows; the schema refuses a second active key anyway
        (``uq_signing_keys_one_active``)."""
        conn.execute(
            select(tenants.c.shortcode).where(tenants.c.shortcode == tenant).with_for_update()
        )

    @staticmethod
    def _insert_active_key(conn: Connection, new: KeyRecord) -> None:
        """Insert the new active key and record the change; the tenant's signing algorithm
        becomes the key's in the same transaction (a separate tenant update could be lost to a
        concurrent one, leaving the tenant on the old algorithm)."""
        conn.execute(insert(signing_keys).values(**key_values(new)))
        changed = conn.execute(
            update(tenants)
            .where(tenants.c.shortcode == new.tenant, tenants.c.signing_alg != new.alg)
            .values(signing_alg=new.alg, updated_at=new.created_at, version=tenants.c.version + 1)
        )
        record_change(conn, new.tenant, "keys", new.kid)
        if changed.rowcount:
            record_change(conn, new.tenant, "tenant", new.tenant)

    def rotate_keys(self, tenant: str, new: KeyRecord, retire_until: int) -> None:
        with self._tx() as conn:
            self._lock_tenant(conn, tenant)
            conn.execute(
                update(signing_keys)
                .where(signing_keys.c.tenant == tenant, signing_keys.c.status == "active")
                .values(status="retired", verify_until=retire_until)
            )
            self._insert_active_key(conn, new)

    def tenants_with_keys_older_than(self, older_than: int, limit: int) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(signing_keys.c.tenant)
                .where(signing_keys.c.status == "active", signing_keys.c.created_at < older_than)
                .order_by(signing_keys.c.created_at)
                .limit(limit)
            ).scalars()
            return list(rows)

    def rotate_keys_if_older(
        self, tenant: str, new: KeyRecord, older_than: int, retire_until: int
    ) -> bool:
        """Scheduled rotation, safe with many nodes and beside the other rotations: under the
        tenant lock, a conditional update wins."""
        with self._tx() as conn:
            self._lock_tenant(conn, tenant)
            done = conn.execute(
                update(signing_keys)
                .where(
                    signing_keys.c.tenant == tenant,
                    signing_keys.c.status == "active",
                    signing_keys.c.created_at < older_than,
                )
                .values(status="retired", verify_until=retire_until)
            )
            if done.rowcount == 0:
                return False
            self._insert_active_key(conn, new)
            return True

    def emergency_rotate(self, tenant: str, new: KeyRecord, not_before: int) -> list[str]:
        """Remove every other key of the tenant from use at once; tokens before now are void."""
        with self._tx() as conn:
            self._lock_tenant(conn, tenant)
            kids = list(
                conn.execute(
                    select(signing_keys.c.kid).where(
                        signing_keys.c.tenant == tenant, signing_keys.c.status != "revoked"
                    )
                ).scalars()
            )
            conn.execute(
                update(signing_keys)
                .where(signing_keys.c.tenant == tenant, signing_keys.c.status != "revoked")
                .values(status="revoked", verify_until=not_before)
            )
            conn.execute(insert(signing_keys).values(**key_values(new)))
            conn.execute(
                update(tenants)
                .where(tenants.c.shortcode == tenant)
                .values(not_before=not_before, signing_alg=new.alg, version=tenants.c.version + 1)
            )
            record_change(conn, tenant, "tenant", tenant)
            return kids

    def close(self) -> None:
        self.engine.dispose()
