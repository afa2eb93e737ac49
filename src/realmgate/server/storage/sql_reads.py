"""The reads behind the servers' realm and client caches: few round trips, no transaction.

A cache miss costs one statement per key on pre-built statements (building and compiling a
``select()`` per call costs more than SQLite's own work), all on one connection. On
PostgreSQL the statements run in autocommit mode (one round trip instead of ``BEGIN``,
``SELECT``, ``ROLLBACK``) and the keys missed together are read in one statement (``IN``),
one round trip for all of them. A single statement sees one snapshot, so a tenant and its
keys are consistent with each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, and_, bindparam, select, tuple_

from realmgate.server.storage.models import clients, signing_keys, tenants
from realmgate.server.storage.records import ClientRecord, KeyRecord, TenantRecord
from realmgate.server.storage.rows import client_from_row, intern_name, tenant_from_row

T = TypeVar("T")
MAX_KEYS = 500  # per statement
_KEY_COLUMNS = ("kid", "alg", "private_key_enc", "public_jwk", "status", "created_at")


def _realms_query() -> Select[Any]:
    """Tenants with their keys that are not revoked, newest first (no key: NULLs)."""
    return (
        select(
            tenants,
            *(signing_keys.c[name].label(f"k_{name}") for name in _KEY_COLUMNS),
            signing_keys.c.verify_until.label("k_verify_until"),
        )
        .select_from(
            tenants.outerjoin(
                signing_keys,
                and_(
                    signing_keys.c.tenant == tenants.c.shortcode,
                    signing_keys.c.status != "revoked",
                ),
            )
        )
        .order_by(tenants.c.shortcode, signing_keys.c.created_at.desc(), signing_keys.c.kid)
    )


_GET_TENANT = select(tenants).where(tenants.c.shortcode == bindparam("shortcode"))
_GET_CLIENT = select(clients).where(
    clients.c.tenant == bindparam("tenant"), clients.c.client_id == bindparam("client_id")
)
_GET_REALM = _realms_query().where(tenants.c.shortcode == bindparam("shortcode"))
_GET_REALMS = _realms_query().where(
    tenants.c.shortcode.in_(bindparam("shortcodes", expanding=True))
)
# PostgreSQL finds row values by the primary key (SQLite would scan: it reads one by one).
_GET_CLIENTS = select(clients).where(
    tuple_(clients.c.tenant, clients.c.client_id).in_(bindparam("keys", expanding=True))
)
_STAMP_COLUMNS = (clients.c.tenant, clients.c.client_id, clients.c.sub, clients.c.version)
_GET_STAMP = select(*_STAMP_COLUMNS).where(
    clients.c.tenant == bindparam("tenant"), clients.c.client_id == bindparam("client_id")
)
_GET_STAMPS = select(*_STAMP_COLUMNS).where(
    tuple_(clients.c.tenant, clients.c.client_id).in_(bindparam("keys", expanding=True))
)


def _joined_key(tenant: str, row: Any) -> KeyRecord:
    return KeyRecord(
        tenant=tenant,
        kid=row.k_kid,
        alg=intern_name(row.k_alg),
        private_key_enc=bytes(row.k_private_key_enc),
        public_jwk=dict(row.k_public_jwk),
        status=intern_name(row.k_status),
        created_at=row.k_created_at,
        verify_until=row.k_verify_until,
    )


class CacheReadsMixin:
    """Mixed into :class:`~realmgate.server.storage.sql.SqlStore`."""

    engine: Engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for read-only statements (autocommit on PostgreSQL)."""
        with self.engine.connect() as conn:
            if conn.dialect.name != "postgresql":
                yield conn
            else:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def get_tenant(self, shortcode: str) -> TenantRecord | None:
        with self._read() as conn:
            row = conn.execute(_GET_TENANT, {"shortcode": shortcode}).first()
        return None if row is None else tenant_from_row(row)

    def get_client(self, tenant: str, client_id: str) -> ClientRecord | None:
        with self._read() as conn:
            row = conn.execute(_GET_CLIENT, {"tenant": tenant, "client_id": client_id}).first()
        return None if row is None else client_from_row(row, tenant, client_id)

    def get_tenants_and_keys(
        self, shortcodes: Sequence[str]
    ) -> dict[str, tuple[TenantRecord, list[KeyRecord]]]:
        """Tenants and their keys that are not revoked (newest first); unknown shortcodes
        are left out. The records keep the caller's strings."""
        wanted = {s: s for s in shortcodes}
        found: dict[str, tuple[TenantRecord, list[KeyRecord]]] = {}
        with self._read() as conn:
            if len(wanted) > 1 and conn.dialect.name == "postgresql":
                rows = [
                    row
                    for part in _chunks(list(wanted))
                    for row in conn.execute(_GET_REALMS, {"shortcodes": part})
                ]
            else:
                rows = [r for s in wanted for r in conn.execute(_GET_REALM, {"shortcode": s})]
        for row in rows:
            shortcode = wanted.get(row.shortcode, row.shortcode)
            entry = found.get(shortcode)
            if entry is None:
                tenant = tenant_from_row(row, shortcode, shared_json=True)
                entry = found[shortcode] = (tenant, [])
            if row.k_kid is not None:
                entry[1].append(_joined_key(shortcode, row))
        return found

    def _rows_by_key(
        self, wanted: dict[tuple[str, str], tuple[str, str]], many: Any, one: Any
    ) -> list[Any]:
        """The rows of ``wanted`` (tenant, client id) keys: PostgreSQL reads them in chunks
        with ``many``, one statement each; SQLite (or a single key) one by one with ``one``."""
        with self._read() as conn:
            if len(wanted) > 1 and conn.dialect.name == "postgresql":
                return [
                    row
                    for part in _chunks(list(wanted))
                    for row in conn.execute(many, {"keys": part})
                ]
            return [
                row
                for t, c in wanted
                if (row := conn.execute(one, {"tenant": t, "client_id": c}).first())
            ]

    def get_clients(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ClientRecord]:
        """Clients by (tenant, client id); unknown ones are left out. The records keep the
        caller's strings."""
        wanted = {k: k for k in keys}
        rows = self._rows_by_key(wanted, _GET_CLIENTS, _GET_CLIENT)
        found: dict[tuple[str, str], ClientRecord] = {}
        for row in rows:
            key = wanted.get((row.tenant, row.client_id), (row.tenant, row.client_id))
            found[key] = client_from_row(row, key[0], key[1], shared_json=True)
        return found

    def client_stamps(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, int]]:
        """``(sub, version)`` of clients by (tenant, client id), unknown ones left out: whether
        a cached record is still current, without reading or decoding the record."""
        wanted = {k: k for k in keys}
        rows = self._rows_by_key(wanted, _GET_STAMPS, _GET_STAMP)
        return {
            wanted.get((row.tenant, row.client_id), (row.tenant, row.client_id)): (
                row.sub,
                row.version,
            )
            for row in rows
        }


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), MAX_KEYS):
        yield items[start : start + MAX_KEYS]


__all__ = ["CacheReadsMixin"]
