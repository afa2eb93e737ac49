"""``python -m bench.admin``: clients created through the Admin REST API, then a token for each.

For each backend (SQLite, PostgreSQL): a fresh database with one admin client in ``master``
(``realmgate admin create-client``), ``realmgate serve --workers 2``, a realm created with
``POST /admin/realms``, then ``--clients`` confidential clients created with
``POST /admin/realms/{realm}/clients`` by ``--concurrency`` concurrent callers (one admin token,
as a provisioning script holds), each client's secret read once (``GET .../client-secret``) and
one token requested as each new client (its first: every cache cold). Reported: clients per
second and the latency percentiles of the creations, and the same for the secret reads and the
first tokens. The admin rate limit is lifted for the run (``REALMGATE_ADMIN_RATE_LIMIT``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import procs

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
REPORT_HEADING = "## Admin API: clients created through the API, then a token each"


@dataclass
class Phase:
    name: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def _timed(
    n: int, concurrency: int, step: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            t0 = time.perf_counter()
            await step(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def drive(base: str, admin_id: str, admin_secret: str, n: int, conc: int) -> list[Phase]:
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as http:
        r = await http.post(
            "/realms/master/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=(admin_id, admin_secret),
        )
        r.raise_for_status()
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        realm = "bench-admin"
        r = await http.post("/admin/realms", json={"realm": realm, "enabled": True}, headers=auth)
        assert r.status_code == 201, r.text
        ids: list[str] = [""] * n
        secrets: list[str] = [""] * n

        async def create(i: int) -> None:
            body = {
                "clientId": f"svc-{i:05d}",
                "serviceAccountsEnabled": True,
                "publicClient": False,
                "clientAuthenticatorType": "client-secret",
            }
            resp = await http.post(f"/admin/realms/{realm}/clients", json=body, headers=auth)
            assert resp.status_code == 201, resp.text
            ids[i] = resp.headers["location"].rsplit("/", 1)[1]

        async def reveal(i: int) -> None:
            resp = await http.get(
                f"/admin/realms/{realm}/clients/{ids[i]}/client-secret", headers=auth
            )
            assert resp.status_code == 200, resp.text
            secrets[i] = resp.json()["value"]

        async def token(i: int) -> None:
            resp = await http.post(
                f"/realms/{realm}/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": f"svc-{i:05d}",
                    "client_secret": secrets[i],
                },
            )
            assert resp.status_code == 200, resp.text

        phases = []
        for name, step in (("create client", create), ("read secret", reveal), ("token", token)):
            seconds, lat = await _timed(n, conc, step)
            phases.append(Phase(name, n, seconds, lat))
        return phases


def _admin_client(env: dict[str, str]) -> tuple[str, str]:
    out = subprocess.run(
        [str(procs.VENV_BIN / "realmgate"), "admin", "create-client", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    return data["clientId"], data["clientSecret"]


def run_backend(name: str, database_url: str | None, n: int, conc: int, port: int) -> list[Phase]:
    work = Path(tempfile.mkdtemp(prefix="realmgate-bench-admin-"))
    try:
        env, unset = procs.realmgate_env(work / "data", database_url)
        full = {k: v for k, v in {**os.environ, **env}.items() if k not in unset}
        full["REALMGATE_BOOTSTRAP_ADMIN"] = "false"
        admin_id, admin_secret = _admin_client(full)
        server = procs.realmgate_server(
            f"realmgate-{name}",
            port,
            work / "data",
            2,
            database_url,
            work / "server.log",
            extra_env={
                "REALMGATE_ADMIN_RATE_LIMIT": "1000000",
                "REALMGATE_BOOTSTRAP_ADMIN": "false",
            },
        )
        server.start()
        try:
            server.wait_until(lambda: procs.get(port, "/health/live")[0] == 200)
            base = f"http://127.0.0.1:{port}"
            return asyncio.run(drive(base, admin_id, admin_secret, n, conc))
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pg_database() -> str:
    import psycopg

    db = f"rg_bench_admin_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{db}"')
    return db


def report(results: dict[str, list[Phase]], n: int, conc: int) -> list[str]:
    lines = [
        REPORT_HEADING,
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `python -m bench.admin "
        f"--clients {n} --concurrency {conc}`, `realmgate serve --workers 2`, one admin token, "
        f"{conc} concurrent callers. Each client's first token is a cold one (no cache holds it).",
        "",
        "| database | step | count | per second | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for backend, phases in results.items():
        for p in phases:
            lines.append(
                f"| {backend} | {p.name} | {p.count:,} | {p.rate:,.0f} | {p.pct(0.5):.2f} "
                f"| {p.pct(0.99):.2f} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.admin", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--backend", choices=["sqlite", "pg", "both"], default="both")
    p.add_argument("--port", type=int, default=18190)
    p.add_argument("--update-docs", action="store_true", help="write the table to the report")
    args = p.parse_args(argv)
    results: dict[str, list[Phase]] = {}
    if args.backend in ("sqlite", "both"):
        results["SQLite"] = run_backend("sqlite", None, args.clients, args.concurrency, args.port)
    if args.backend in ("pg", "both"):
        url = PG_URL.format(db=_pg_database())
        results["PostgreSQL"] = run_backend("pg", url, args.clients, args.concurrency, args.port)
    lines = report(results, args.clients, args.concurrency)
    print("\n".join(lines))
    if args.update_docs:
        doc = procs.ROOT / "docs" / "benchmarks.md"
        text = doc.read_text()
        head, _, rest = text.partition(REPORT_HEADING)
        tail = ""
        if rest:
            nxt = rest.find("\n## ", 1)
            tail = rest[nxt:] if nxt >= 0 else ""
        doc.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + "\n" + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
