"""``python -m bench.memory``: where a worker's memory goes, and the least RSS a worker that
holds N realms can have.

Three measurements, each in a process of its own:

1. **The libraries**: RSS after importing, in a worker's order, each group of what a worker
   loads, down to realmgate's serving code (what every worker holds before any request).
2. **A signing key**: RSS per parsed P-256 private key, from loading N distinct key objects
   (OpenSSL's key, group and point structures; the part of a cached realm that is not Python).
3. **A cached realm**: a real ``realmgate serve --workers 1`` on SQLite with N tenants of one
   client each; the worker's RSS after its first token, then after one token of every client
   (realm, signing key, client, rendered claims and remembered request, all cached).

The floor of a worker holding N realms is (1) plus N times (2): no Python object at all for
the realms, their clients and their grants.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import many, procs, seed

PORT = 18400
GROUPS = [
    ("interpreter", ""),
    ("standard library (asyncio, ssl, json, logging, ...)", "import asyncio, ssl, json, logging"),
    ("cryptography", "import cryptography.hazmat.primitives.asymmetric.ec"),
    ("pydantic, pydantic-settings", "import pydantic, pydantic_settings"),
    ("SQLAlchemy", "import sqlalchemy, sqlalchemy.orm"),
    ("Starlette, FastAPI", "import starlette.applications, fastapi"),
    ("uvicorn, uvloop, httptools", "import uvicorn.protocols.http.httptools_impl, uvloop"),
    ("joserfc, prometheus-client, httpx", "import joserfc, prometheus_client, httpx"),
    ("realmgate's serving code", "import realmgate.server.http.asgi"),
]
_RSS = (
    "def rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS:'):\n"
    "            return int(line.split()[1]) / 1024\n"
)


def _run(code: str) -> object:
    out = subprocess.run(
        [sys.executable, "-c", _RSS + code], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def imports() -> list[tuple[str, float]]:
    code = "import json\nsteps = []\n"
    for name, stmt in GROUPS:
        code += f"{stmt}\nsteps.append(({name!r}, rss()))\n"
    code += "print(json.dumps(steps))\n"
    steps = _run(code)
    assert isinstance(steps, list)
    out, last = [], 0.0
    for name, total in steps:
        out.append((name, total - last))
        last = total
    return out


def key_kb(n: int) -> float:
    code = (
        "import json\n"
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        "from cryptography.hazmat.primitives.serialization import load_der_private_key\n"
        "from cryptography.hazmat.primitives import serialization as s\n"
        "der = ec.generate_private_key(ec.SECP256R1()).private_bytes(\n"
        "    s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())\n"
        "keys = [load_der_private_key(der, None)]\n"
        "before = rss()\n"
        f"keys += [load_der_private_key(der, None) for _ in range({n})]\n"
        f"print(json.dumps((rss() - before) * 1024 / {n}))\n"
    )
    value = _run(code)
    assert isinstance(value, float)
    return value


def realm_kb(n: int, work: Path) -> tuple[float, float]:
    """(worker RSS after its first token in MB, KB per cached realm with its client)."""
    creds = seed.seed_many(work / "data", None, n, 1, n, log=False)
    server = procs.realmgate_server("memory", PORT, work / "data", 1, None, work / "rg.log")
    server.start()
    try:
        first = creds[0]
        server.wait_until(lambda: procs.post_form(PORT, first.path, first.body)[0] == 200)
        start = server.rss()["worker_max"]
        url = f"http://127.0.0.1:{PORT}{first.path}"
        many.warm_up(url, creds, work / "walk.lua", 16, 1, 2, lambda _line: None)
        end = server.rss()["worker_max"]
    finally:
        server.stop()
    return start, (end - start) * 1024 / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    p.add_argument("--realms", type=int, default=10_000, help="N (default 10,000)")
    args = p.parse_args(argv)
    n = args.realms
    print("1. a worker's libraries, RSS added by each group in import order:")
    base = 0.0
    for name, mb in imports():
        base += mb
        print(f"   {name:<52} {mb:6.1f} MB")
    print(f"   {'total before any request':<52} {base:6.1f} MB")
    key = key_kb(n)
    print(f"2. one parsed P-256 signing key: {key:.2f} KB ({n:,} distinct key objects)")
    with tempfile.TemporaryDirectory(prefix="realmgate-memory-") as tmp:
        start, per_realm = realm_kb(n, Path(tmp))
    print(
        f"3. a worker after its first token: {start:.1f} MB; each cached realm with its client,"
        f" key and remembered grant: {per_realm:.2f} KB ({n:,} realms)"
    )
    print(
        f"\nfloor with {n:,} realms (libraries + keys, no Python object): "
        f"{base + n * key / 1024:.1f} MB; measured: {start + n * per_realm / 1024:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
