"""Databases for the benchmark, written through realmgate's own admin and storage layers."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert

from realmgate.server.core.admin import DEFAULT_SETTINGS, Admin
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.models import clients, signing_keys, tenants
from realmgate.server.storage.records import ClientRecord, TenantRecord
from realmgate.server.storage.rows import client_values, key_values, tenant_values

TOKEN_PATH = "/realms/{tenant}/protocol/openid-connect/token"


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
) -> list[Credential]:
    """``n_tenants`` realms with ``clients_per_tenant`` clients each, bulk-inserted with the
    storage layer's row mapping (one signing key per realm, encrypted under the master key).
    Every client shares one secret (its keyed hash is computed once); returns ``sample``
    credentials spread uniformly over all clients."""
    t0 = time.perf_counter()
    rt = open_runtime(_settings(data_dir, database_url))
    try:
        admin = Admin(rt.store, rt.vault, rt.settings, actor="bench")
        secret = "bench-many-" + uuid.uuid4().hex + uuid.uuid4().hex
        secret_hash = rt.vault.hasher.hash(secret)
        now = int(time.time())
        chunk = max(1, 20_000 // max(1, clients_per_tenant))
        for start in range(0, n_tenants, chunk):
            t_rows, c_rows, k_rows = [], [], []
            for i in range(start, min(n_tenants, start + chunk)):
                shortcode = f"t{i:07d}"
                t_rows.append(
                    tenant_values(
                        TenantRecord(
                            shortcode=shortcode,
                            name=shortcode,
                            signing_alg=alg,
                            settings=dict(DEFAULT_SETTINGS),
                            access_token_lifespan=rt.settings.access_token_lifespan,
                            session_max_lifespan=rt.settings.session_max_lifespan,
                            not_before=0,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                )
                k_rows.append(key_values(admin._new_key(shortcode, alg, now)))
                for j in range(clients_per_tenant):
                    c_rows.append(
                        client_values(
                            ClientRecord(
                                tenant=shortcode,
                                client_id=f"c{j}",
                                sub=str(uuid.uuid4()),
                                enabled=True,
                                roles=("reader",),
                                secret_hash=secret_hash,
                                created_at=now,
                                updated_at=now,
                            )
                        )
                    )
            with rt.store.engine.begin() as conn:
                conn.execute(insert(tenants), t_rows)
                conn.execute(insert(signing_keys), k_rows)
                conn.execute(insert(clients), c_rows)
            if log and start and start % (chunk * 25) == 0:
                print(f"  seeded {start:,} tenants ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        rt.close()
    rng = random.Random(1234)
    total = n_tenants * clients_per_tenant
    picks = rng.sample(range(total), min(sample, total))
    return [
        Credential(f"t{p // clients_per_tenant:07d}", f"c{p % clients_per_tenant}", secret)
        for p in picks
    ]
