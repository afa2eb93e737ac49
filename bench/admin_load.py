"""``python -m bench.admin_load``: token throughput alone and beside admin traffic.

One ``realmgate serve --workers 2`` (SQLite, the realms of ``bench.seed``); per round, 10 s of
ES256 token requests (64 connections, 64 clients) alone, then 10 s of the same while
``--admin-callers`` threads of one admin client create clients through the Admin API as fast
as the server's ``admin_rate_limit`` lets them (a 429 waits its ``Retry-After``). Prints the
tokens per second of both and their ratio per round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench import procs, seed, wrk


def admin_loop(base: str, creds: tuple[str, str], stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=30.0) as http:
        r = http.post(
            "/realms/master/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=creds,
        )
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        prefix = os.urandom(4).hex()
        i = 0
        while not stop.is_set():
            i += 1
            body = {"clientId": f"c{prefix}-{i}", "serviceAccountsEnabled": True}
            r = http.post("/admin/realms/load/clients", json=body, headers=auth)
            counts.append(r.status_code)
            if r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", "1")))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.admin_load", description=__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--admin-callers", type=int, default=4)
    p.add_argument("--port", type=int, default=18400)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="realmgate-bench-admin-load-"))
    try:
        creds = seed.seed_realms(work / "data", None, 64)["ES256"]
        env, unset = procs.realmgate_env(work / "data", None)
        full = {k: v for k, v in {**os.environ, **env}.items() if k not in unset}
        out = subprocess.run(
            [str(procs.VENV_BIN / "realmgate"), "admin", "create-client", "--json"],
            env=full,
            capture_output=True,
            text=True,
            check=True,
        )
        admin = json.loads(out.stdout)
        server = procs.realmgate_server(
            "realmgate-sqlite", args.port, work / "data", 2, None, work / "server.log"
        )
        server.start()
        base = f"http://127.0.0.1:{args.port}"
        try:
            server.wait_until(lambda: procs.get(args.port, "/health/live")[0] == 200)
            httpx.post(
                f"{base}/admin/realms",
                json={"realm": "load", "enabled": True},
                headers={
                    "Authorization": "Bearer "
                    + httpx.post(
                        f"{base}/realms/master/protocol/openid-connect/token",
                        data={"grant_type": "client_credentials"},
                        auth=(admin["clientId"], admin["clientSecret"]),
                    ).json()["access_token"]
                },
            ).raise_for_status()
            script = wrk.write_script(
                work / "es256.lua",
                [
                    ("POST", c.path, {"Content-Type": "application/x-www-form-urlencoded"}, c.body)
                    for c in creds
                ],
            )
            url = f"{base}/"
            wrk.run(url, script, 64, 3.0)
            ratios = []
            for rnd in range(args.rounds):
                alone = wrk.run(url, script, 64, 10.0).rps
                stop, counts = threading.Event(), []
                threads = [
                    threading.Thread(
                        target=admin_loop,
                        args=(base, (admin["clientId"], admin["clientSecret"]), stop, counts),
                    )
                    for _ in range(args.admin_callers)
                ]
                for t in threads:
                    t.start()
                time.sleep(1.0)
                start = len(counts)
                loaded = wrk.run(url, script, 64, 10.0).rps
                created = sum(1 for s in counts[start:] if s == 201) / 10.0
                stop.set()
                for t in threads:
                    t.join()
                ratios.append(loaded / alone)
                print(
                    f"round {rnd}: alone {alone:,.0f} tokens/s, beside {created:,.0f} admin "
                    f"creations/s {loaded:,.0f} tokens/s, ratio {loaded / alone:.2f}",
                    flush=True,
                )
            print(f"median ratio {statistics.median(ratios):.2f}")
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
