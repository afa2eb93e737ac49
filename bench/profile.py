"""``python -m bench.profile [scenario]``: where a realmgate worker spends its time per request.

Starts ``realmgate serve --workers 1`` (SQLite, access log off, log level warning) under
cProfile, drives one scenario with wrk, stops the server with SIGINT (so that cProfile writes
its data) and prints the functions by own time and by cumulative time, per request.
Scenarios: token-rs256, token-es256, get. cProfile slows Python code down (not C code such as
the signature itself), so read the shares, not the absolute figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import procs, seed, wrk

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument(
        "scenario", choices=["token-rs256", "token-es256", "get"], nargs="?", default="token-es256"
    )
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    port = 18099
    with tempfile.TemporaryDirectory(prefix="realmgate-profile-") as tmp:
        work = Path(tmp)
        realms = seed.seed_realms(work / "data", None, 64)
        prof = work / "worker.prof"
        env = {
            **{k: v for k, v in os.environ.items() if k != "REALMGATE_DATABASE_URL"},
            "REALMGATE_DATA_DIR": str(work / "data"),
            "REALMGATE_ACCESS_LOG": "false",
            "REALMGATE_LOG_LEVEL": "warning",
            "REALMGATE_BOOTSTRAP_DEMO": "false",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(prof),
                "-m",
                "realmgate",
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            admin = realms["ES256"][0]
            deadline = time.time() + 60
            while True:
                try:
                    status, data = procs.post_form(port, admin.path, admin.body)
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.time() > deadline:
                    raise SystemExit("realmgate did not start")
                time.sleep(0.05)
            script = work / "s.lua"
            if args.scenario == "get":
                token = json.loads(data)["access_token"]
                wrk.write_script(
                    script,
                    [
                        (
                            "GET",
                            "/v2/tenants/current/settings",
                            {"Authorization": f"Bearer {token}"},
                            None,
                        )
                    ],
                )
                path = "/v2/tenants/current/settings"
            else:
                creds = realms["RS256" if args.scenario == "token-rs256" else "ES256"]
                wrk.write_script(script, [("POST", c.path, FORM, c.body) for c in creds])
                path = creds[0].path
            r = wrk.run(f"http://127.0.0.1:{port}{path}", script, args.connections, args.duration)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        buf = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buf)
        total = stats.total_tt  # type: ignore[attr-defined]
        buf.write(
            f"{args.scenario}: {r.requests} requests at {r.rps:.0f} req/s under cProfile "
            f"(1 worker, {args.connections} connections); profiled CPU {total:.1f} s, "
            f"{1e6 * total / max(1, r.requests):.0f} µs per request\n"
        )
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        text = buf.getvalue()
        (args.out / f"profile-{args.scenario}.txt").write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
