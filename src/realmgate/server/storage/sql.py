"""The SQL implementation of :class:`~realmgate.server.storage.protocols.Store`.

One implementation for SQLite (the embedded default) and PostgreSQL, on SQLAlchemy Core.
SQLite runs in WAL mode with ``synchronous=FULL``: a write acknowledged to a caller has
reached the disk, so it survives a crash or a power loss.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import ConnectionPoolEntry

from realmgate.server.storage.models import changes, clients, meta, signing_keys, tenants
from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import Change, ClientRecord, KeyRecord, TenantRecord

CHANGE_RETENTION_SECONDS = 24 * 3600


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
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
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _tenant(row: Any) -> TenantRecord:
    return TenantRecord(
        shortcode=row.shortcode,
        name=row.name,
        signing_alg=row.signing_alg,
        settings=dict(row.settings),
        access_token_lifespan=row.access_token_lifespan,
        session_max_lifespan=row.session_max_lifespan,
        not_before=row.not_before,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _client(row: Any) -> ClientRecord:
    return ClientRecord(
        tenant=row.tenant,
        client_id=row.client_id,
        sub=row.sub,
        enabled=bool(row.enabled),
        roles=tuple(row.roles),
        secret_hash=bytes(row.secret_hash),
        created_at=row.created_at,
        updated_at=row.updated_at,
        access_token_lifespan=row.access_token_lifespan,
        previous_secret_hash=None
        if row.previous_secret_hash is None
        else bytes(row.previous_secret_hash),
        previous_secret_expires_at=row.previous_secret_expires_at,
    )


def _key(row: Any) -> KeyRecord:
    return KeyRecord(
        tenant=row.tenant,
        kid=row.kid,
        alg=row.alg,
        private_key_enc=bytes(row.private_key_enc),
        public_jwk=dict(row.public_jwk),
        status=row.status,
        created_at=row.created_at,
        verify_until=row.verify_until,
    )


def _tenant_values(t: TenantRecord) -> dict[str, Any]:
    return {
        "shortcode": t.shortcode,
        "name": t.name,
        "signing_alg": t.signing_alg,
        "settings": t.settings,
        "access_token_lifespan": t.access_token_lifespan,
        "session_max_lifespan": t.session_max_lifespan,
        "not_before": t.not_before,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "version": t.version,
    }


def _client_values(c: ClientRecord) -> dict[str, Any]:
    return {
        "tenant": c.tenant,
        "client_id": c.client_id,
        "sub": c.sub,
        "enabled": c.enabled,
        "roles": list(c.roles),
        "secret_hash": c.secret_hash,
        "previous_secret_hash": c.previous_secret_hash,
        "previous_secret_expires_at": c.previous_secret_expires_at,
        "access_token_lifespan": c.access_token_lifespan,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _key_values(k: KeyRecord) -> dict[str, Any]:
    return {
        "tenant": k.tenant,
        "kid": k.kid,
        "alg": k.alg,
        "private_key_enc": k.private_key_enc,
        "public_jwk": k.public_jwk,
        "status": k.status,
        "created_at": k.created_at,
        "verify_until": k.verify_until,
    }


class SqlStore:
    """The :class:`Store` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __repr__(self) -> str:  # the URL may carry a password
        return f"SqlStore(dialect={self.engine.dialect.name!r})"

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @staticmethod
    def _changed(conn: Connection, tenant: str, kind: str, key: str) -> None:
        now = int(time.time())
        conn.execute(insert(changes).values(tenant=tenant, kind=kind, key=key, at=now))

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
        self, tenant: TenantRecord, client_list: list[ClientRecord], keys: list[KeyRecord]
    ) -> None:
        try:
            with self._tx() as conn:
                conn.execute(insert(tenants).values(**_tenant_values(tenant)))
                for c in client_list:
                    conn.execute(insert(clients).values(**_client_values(c)))
                for k in keys:
                    conn.execute(insert(signing_keys).values(**_key_values(k)))
                self._changed(conn, tenant.shortcode, "tenant", tenant.shortcode)
        except IntegrityError:
            raise DuplicateError(f"tenant {tenant.shortcode!r} exists already") from None

    def get_tenant(self, shortcode: str) -> TenantRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tenants).where(tenants.c.shortcode == shortcode)).first()
        return None if row is None else _tenant(row)

    def list_tenants(self) -> list[TenantRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tenants).order_by(tenants.c.shortcode)).all()
        return [_tenant(r) for r in rows]

    def count_tenants(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tenants)).scalar_one())

    def update_tenant(self, tenant: TenantRecord) -> bool:
        with self._tx() as conn:
            values = _tenant_values(tenant)
            del values["shortcode"], values["created_at"]
            values["version"] = tenant.version + 1
            done = conn.execute(
                update(tenants)
                .where(tenants.c.shortcode == tenant.shortcode, tenants.c.version == tenant.version)
                .values(**values)
            )
            if done.rowcount:
                self._changed(conn, tenant.shortcode, "tenant", tenant.shortcode)
            return bool(done.rowcount)

    def delete_tenant(self, shortcode: str) -> bool:
        with self._tx() as conn:
            # Explicit child deletes: SQLite enforces ON DELETE CASCADE only with the pragma.
            conn.execute(delete(clients).where(clients.c.tenant == shortcode))
            conn.execute(delete(signing_keys).where(signing_keys.c.tenant == shortcode))
            done = conn.execute(delete(tenants).where(tenants.c.shortcode == shortcode))
            if done.rowcount:
                self._changed(conn, shortcode, "tenant", shortcode)
            return bool(done.rowcount)

    # clients ----------------------------------------------------------------
    def create_client(self, client: ClientRecord) -> None:
        try:
            with self._tx() as conn:
                conn.execute(insert(clients).values(**_client_values(client)))
                self._changed(conn, client.tenant, "client", client.client_id)
        except IntegrityError:
            raise DuplicateError(
                f"client {client.client_id!r} exists already in tenant {client.tenant!r}"
            ) from None

    def get_client(self, tenant: str, client_id: str) -> ClientRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(clients).where(clients.c.tenant == tenant, clients.c.client_id == client_id)
            ).first()
        return None if row is None else _client(row)

    def list_clients(self, tenant: str) -> list[ClientRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(clients).where(clients.c.tenant == tenant).order_by(clients.c.client_id)
            ).all()
        return [_client(r) for r in rows]

    def update_client(self, client: ClientRecord) -> bool:
        with self._tx() as conn:
            values = _client_values(client)
            del values["tenant"], values["client_id"], values["created_at"]
            done = conn.execute(
                update(clients)
                .where(clients.c.tenant == client.tenant, clients.c.client_id == client.client_id)
                .values(**values)
            )
            if done.rowcount:
                self._changed(conn, client.tenant, "client", client.client_id)
            return bool(done.rowcount)

    def delete_client(self, tenant: str, client_id: str) -> bool:
        with self._tx() as conn:
            done = conn.execute(
                delete(clients).where(clients.c.tenant == tenant, clients.c.client_id == client_id)
            )
            if done.rowcount:
                self._changed(conn, tenant, "client", client_id)
            return bool(done.rowcount)

    # keys -------------------------------------------------------------------
    def list_keys(self, tenant: str) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(signing_keys)
                .where(signing_keys.c.tenant == tenant)
                .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
            ).all()
        return [_key(r) for r in rows]

    def list_all_keys(self) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(signing_keys).order_by(signing_keys.c.tenant, signing_keys.c.kid)
            ).all()
        return [_key(r) for r in rows]

    def rotate_keys(self, tenant: str, new: KeyRecord, retire_until: int) -> None:
        with self._tx() as conn:
            conn.execute(
                update(signing_keys)
                .where(signing_keys.c.tenant == tenant, signing_keys.c.status == "active")
                .values(status="retired", verify_until=retire_until)
            )
            conn.execute(insert(signing_keys).values(**_key_values(new)))
            self._changed(conn, tenant, "keys", new.kid)

    def replace_key_material(self, keys: list[KeyRecord]) -> None:
        with self._tx() as conn:
            for k in keys:
                conn.execute(
                    update(signing_keys)
                    .where(signing_keys.c.tenant == k.tenant, signing_keys.c.kid == k.kid)
                    .values(private_key_enc=k.private_key_enc)
                )

    # change feed ------------------------------------------------------------
    def latest_change_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(changes.c.id), 0))).scalar_one())

    def changes_since(self, change_id: int, limit: int = 1000) -> list[Change]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(changes).where(changes.c.id > change_id).order_by(changes.c.id).limit(limit)
            ).all()
        return [Change(id=r.id, tenant=r.tenant, kind=r.kind, key=r.key) for r in rows]

    def prune_changes(self, older_than: int) -> int:
        with self._tx() as conn:
            return int(conn.execute(delete(changes).where(changes.c.at < older_than)).rowcount)

    def close(self) -> None:
        self.engine.dispose()
