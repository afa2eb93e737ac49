"""Databases for the benchmark, written through realmgate's own admin and storage layers."""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Engine, Table

from realmgate.jose import KeyPair, generate_key
from realmgate.server.core.admin import DEFAULT_SETTINGS, Admin
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.models import clients, signing_keys, tenants
from realmgate.server.storage.records import ClientRecord, KeyRecord, TenantRecord
from realmgate.server.storage.rows import client_values, key_values, tenant_values

TOKEN_PATH = "/realms/{tenant}/protocol/openid-connect/token"
DISTINCT_KEYS = 16  # key pairs shared out among the many-tenants realms (see seed_many)
SEED_CHUNK = 5_000  # tenants per batch of rows


@dataclass
class Credential:
    tenant: str
    client_id: str
    secret: str

    @property
    def path(self) -> str:
        return TOKEN_PATH.format(tenant=self.tenant)

    @property
    def body(self) -> str:
        return (
            f"grant_type=client_credentials&client_id={self.client_id}&client_secret={self.secret}"
        )


def _settings(data_dir: Path, database_url: str | None) -> Settings:
    # Explicit values: a REALMGATE_DATABASE_URL in the environment must not redirect the seed.
    return Settings(data_dir=data_dir, database_url=database_url or None, bootstrap_demo=False)


def seed_realms(
    data_dir: Path, database_url: str | None, clients_per_realm: int
) -> dict[str, list[Credential]]:
    """The realms ``bench-rs256`` and ``bench-es256``, each with ``clients_per_realm`` clients
    (the first one is the tenant-admin client), created as ``realmgate tenant create`` does."""
    rt = open_runtime(_settings(data_dir, database_url))
    try:
        admin = Admin(rt.store, rt.vault, rt.settings, actor="bench")
        out: dict[str, list[Credential]] = {}
        for alg in ("RS256", "ES256"):
            tenant = f"bench-{alg.lower()}"
            first = admin.create_tenant(tenant, signing_alg=alg)
            creds = [Credential(tenant, first.client_id, first.client_secret)]
            for i in range(1, clients_per_realm):
                c = admin.create_client(tenant, f"client-{i}", roles=("reader",))
                creds.append(Credential(tenant, c.client_id, c.client_secret))
            out[alg] = creds
        return out
    finally:
        rt.close()


def seed_many(
    data_dir: Path,
    database_url: str | None,
    n_tenants: int,
    clients_per_tenant: int,
    sample: int,
    alg: str = "ES256",
    log: bool = True,
    distinct_keys: int = DISTINCT_KEYS,
) -> list[Credential]:
    """``n_tenants`` realms with ``clients_per_tenant`` clients each, bulk-inserted (COPY on
    PostgreSQL, one ``executemany`` per chunk on SQLite) from rows made by the storage layer's
    row mapping.

    Every realm has its own signing-key row, encrypted under the master key with the realm's
    own associated data, as the admin layer writes it; but the key pairs are ``distinct_keys``
    pre-generated ones taken in turn (generating 100,000 EC keys would take longer than
    the rest of the seeding): realms still load, decrypt and parse their key one by one.
    Every client shares one secret (its keyed hash is computed once); returns ``sample``
    credentials spread uniformly over all clients."""
    t0 = time.perf_counter()
    rt = open_runtime(_settings(data_dir, database_url))
    try:
        secret = "bench-many-" + uuid.uuid4().hex + uuid.uuid4().hex
        now = int(time.time())
        pairs = [generate_key(alg) for _ in range(max(1, min(distinct_keys, n_tenants)))]
        pems = [p.private_pem() for p in pairs]
        template = _Templates(rt.settings, alg, rt.vault.hasher.hash(secret), now)
        sub_prefix = str(uuid.uuid4())[:24]  # a v4 UUID's first 24 characters
        with _BulkWriter(rt.store.engine) as out:
            for start in range(0, n_tenants, SEED_CHUNK):
                t_rows, k_rows, c_rows = [], [], []
                for i in range(start, min(n_tenants, start + SEED_CHUNK)):
                    shortcode = f"t{i:07d}"
                    t_rows.append(template.tenant(shortcode))
                    pair = pairs[i % len(pairs)]
                    blob = rt.vault.encrypt_signing_key(shortcode, pair.kid, pems[i % len(pems)])
                    k_rows.append(template.key(shortcode, pair, blob))
                    base = i * clients_per_tenant
                    c_rows += [
                        template.client(shortcode, f"c{j}", f"{sub_prefix}{base + j:012x}")
                        for j in range(clients_per_tenant)
                    ]
                out.write(template.tenants, t_rows)
                out.write(template.keys, k_rows)
                out.write(template.clients, c_rows)
                done = start + len(t_rows)
                if log and done % (SEED_CHUNK * 10) == 0 and done < n_tenants:
                    print(
                        f"  seeded {done:,} tenants ({time.perf_counter() - t0:.0f} s)", flush=True
                    )
    finally:
        rt.close()
    rng = random.Random(1234)
    total = n_tenants * clients_per_tenant
    picks = rng.sample(range(total), min(sample, total))
    return [
        Credential(f"t{p // clients_per_tenant:07d}", f"c{p % clients_per_tenant}", secret)
        for p in picks
    ]


class _Template:
    """A row made by the storage layer's row mapping, in column order with JSON columns as
    text (serialised once); each seeded row is a copy with its own identity. Columns the
    mapping leaves out take their server defaults."""

    def __init__(self, table: Table, values: dict[str, Any]):
        self.table = table
        self.names = [c.name for c in table.columns if c.name in values]
        self.row = [
            json.dumps(values[c.name]) if isinstance(c.type, JSON) else values[c.name]
            for c in table.columns
            if c.name in values
        ]

    def at(self, *names: str) -> list[int]:
        return [self.names.index(n) for n in names]


class _Templates:
    def __init__(self, settings: Settings, alg: str, secret_hash: bytes, now: int):
        t = TenantRecord(
            shortcode="t",
            name="t",
            signing_alg=alg,
            settings=dict(DEFAULT_SETTINGS),
            access_token_lifespan=settings.access_token_lifespan,
            session_max_lifespan=settings.session_max_lifespan,
            not_before=0,
            created_at=now,
            updated_at=now,
        )
        c = ClientRecord(
            tenant="t",
            client_id="c",
            sub="s",
            enabled=True,
            roles=("reader",),
            secret_hash=secret_hash,
            created_at=now,
            updated_at=now,
        )
        k = KeyRecord("t", "k", alg, b"", {}, "active", now)
        self.tenants = _Template(tenants, tenant_values(t))
        self.clients = _Template(clients, client_values(c))
        self.keys = _Template(signing_keys, key_values(k))
        self._t = self.tenants.at("shortcode", "name", "realm_id")
        self._c = self.clients.at("tenant", "client_id", "sub", "internal_id")
        self._k = self.keys.at("tenant", "kid", "private_key_enc", "public_jwk")
        self._jwks: dict[str, str] = {}

    def tenant(self, shortcode: str) -> tuple[Any, ...]:
        row = self.tenants.row.copy()
        i, j, k = self._t
        row[i] = row[j] = shortcode
        row[k] = str(uuid.uuid4())  # the realm's Keycloak id, as the admin services give one
        return tuple(row)

    def client(self, tenant: str, client_id: str, sub: str) -> tuple[Any, ...]:
        row = self.clients.row.copy()
        i, j, k, m = self._c
        row[i], row[j], row[k], row[m] = tenant, client_id, sub, str(uuid.uuid4())
        return tuple(row)

    def key(self, tenant: str, pair: KeyPair, blob: bytes) -> tuple[Any, ...]:
        jwk = self._jwks.get(pair.kid)
        if jwk is None:
            jwk = self._jwks[pair.kid] = json.dumps(pair.public_jwk())
        row = self.keys.row.copy()
        i, j, k, m = self._k
        row[i], row[j], row[k], row[m] = tenant, pair.kid, blob, jwk
        return tuple(row)


class _BulkWriter:
    """Rows straight to the database in one transaction: COPY on PostgreSQL, ``executemany``
    on SQLite (checkpointed at the end, so the server does not start on a huge WAL)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.conn: Any = None

    def __enter__(self) -> _BulkWriter:
        self.conn = self.engine.raw_connection()
        return self

    def write(self, template: _Template, rows: list[tuple[Any, ...]]) -> None:
        into = f"{template.table.name} ({', '.join(template.names)})"
        cur = self.conn.cursor()
        if self.engine.dialect.name == "postgresql":
            with cur.copy(f"COPY {into} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(template.names))
            cur.executemany(f"INSERT INTO {into} VALUES ({marks})", rows)
        cur.close()

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is not None:
                self.conn.rollback()
                return
            cur = self.conn.cursor()
            if self.engine.dialect.name == "postgresql":
                cur.execute("ANALYZE")  # planner statistics for the new rows
            self.conn.commit()
            if self.engine.dialect.name == "sqlite":
                cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cur.close()
        finally:
            self.conn.close()
