"""Benchmark: ``realmgate import keycloak`` of one realm with many service-account clients.

    python -m bench.kc_import [--clients 10000] [--backends sqlite,postgres] [--out FILE]

For each backend, on a fresh database: writes a Keycloak realm export (``kc.sh export`` shape:
clients with secrets, their service-account users with realm roles, an audience mapper each,
an ``rsa-generated`` key provider with its private key), migrates the schema (not timed), then
times the dry run (read, check, plan) and the import itself (one transaction), as the CLI runs
them (process start included). The realm's client count is checked after the import.
PostgreSQL: a database created on ``REALMGATE_TEST_PG``'s server (default
postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REALM = "bench-kc"
PG_ADMIN_URL = os.environ.get("REALMGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def realm_export(clients: int) -> dict[str, Any]:
    """A realm export with ``clients`` confidential service-account clients."""
    realm_id = str(uuid.uuid4())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    reps, users = [], []
    for i in range(clients):
        client_id = f"svc-{i:05d}"
        reps.append(
            {
                "id": str(uuid.uuid4()),
                "clientId": client_id,
                "enabled": True,
                "clientAuthenticatorType": "client-secret",
                "secret": secrets.token_urlsafe(24),
                "bearerOnly": False,
                "serviceAccountsEnabled": True,
                "publicClient": False,
                "standardFlowEnabled": False,
                "protocol": "openid-connect",
                "attributes": {"access.token.lifespan": "300"},
                "fullScopeAllowed": True,
                "protocolMappers": [
                    {
                        "id": str(uuid.uuid4()),
                        "name": "api audience",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-audience-mapper",
                        "consentRequired": False,
                        "config": {
                            "included.custom.audience": "https://api.bench.example",
                            "access.token.claim": "true",
                            "id.token.claim": "false",
                        },
                    }
                ],
                "defaultClientScopes": ["profile", "email", "roles"],
                "optionalClientScopes": [],
            }
        )
        users.append(
            {
                "id": str(uuid.uuid4()),
                "username": f"service-account-{client_id}",
                "enabled": True,
                "serviceAccountClientId": client_id,
                "credentials": [],
                "realmRoles": ["svc-read" if i % 2 else "svc-write"],
                "clientRoles": {},
                "groups": [],
            }
        )
    return {
        "id": realm_id,
        "realm": REALM,
        "enabled": True,
        "accessTokenLifespan": 300,
        "defaultSignatureAlgorithm": "RS256",
        "roles": {
            "realm": [
                {
                    "id": str(uuid.uuid4()),
                    "name": n,
                    "composite": False,
                    "clientRole": False,
                    "containerId": realm_id,
                    "attributes": {},
                }
                for n in ("svc-read", "svc-write")
            ],
            "client": {},
        },
        "users": users,
        "clients": reps,
        "components": {
            "org.keycloak.keys.KeyProvider": [
                {
                    "id": str(uuid.uuid4()),
                    "name": "rsa-generated",
                    "providerId": "rsa-generated",
                    "subComponents": {},
                    "config": {
                        "privateKey": [base64.b64encode(pkcs1).decode()],
                        "keyUse": ["SIG"],
                        "priority": ["100"],
                    },
                }
            ]
        },
        "keycloakVersion": "26.0.7",
    }


def cli(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "realmgate", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"realmgate {' '.join(args[:2])} failed:\n{result.stderr[-2000:]}")
    return elapsed, result


def run_backend(backend: str, export: Path, clients: int, work: Path) -> dict[str, Any]:
    env = {**os.environ, "REALMGATE_DATA_DIR": str(work / backend)}
    database = None
    if backend == "postgres":
        import psycopg

        database = f"realmgate_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env["REALMGATE_DATABASE_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
    try:
        cli(env, "db", "upgrade")
        dry, _ = cli(env, "import", "keycloak", str(export), "--dry-run", "--json")
        real, result = cli(env, "import", "keycloak", str(export), "--json")
        report = json.loads(result.stdout)
        _, listed = cli(env, "client", "list", REALM, "--json")
        count = len(json.loads(listed.stdout))
        if count < clients:
            raise SystemExit(f"{backend}: {count} clients after the import, not {clients}")
        return {
            "backend": backend,
            "clients": clients,
            "dry_run_s": round(dry, 2),
            "import_s": round(real, 2),
            "clients_per_s": round(clients / real, 1),
            "outcome": report["realms"][0]["outcome"],
        }
    finally:
        if database is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--out", type=Path, help="Also write the results as JSON here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kc-import-bench-") as tmp:
        work = Path(tmp)
        export = work / f"{REALM}-realm.json"
        export.write_text(json.dumps(realm_export(args.clients)), encoding="utf-8")
        size_mb = export.stat().st_size / 1e6
        rows = [run_backend(b, export, args.clients, work) for b in args.backends.split(",")]
    result = {
        "scenario": "kc-import",
        "file_mb": round(size_mb, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "results": rows,
    }
    print(f"Keycloak import of one realm, {args.clients} clients ({size_mb:.1f} MB):")
    print(f"{'backend':<10} {'dry run (s)':>12} {'import (s)':>11} {'clients/s':>10}")
    for row in rows:
        print(
            f"{row['backend']:<10} {row['dry_run_s']:>12} {row['import_s']:>11} "
            f"{row['clients_per_s']:>10}"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
