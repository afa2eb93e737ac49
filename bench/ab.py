"""``python -m bench.ab``: an A/B of source trees (or settings) by the server CPU each token
costs, the way a change's note reports it.

Each variant is ``NAME=TREE[:nomemo]``: ``realmgate serve`` with ``PYTHONPATH=TREE/src`` (a
checkout or ``git worktree`` of another commit; ``:nomemo`` turns the remembered-request cache
off). The variants take turns for ``--rounds`` rounds on one seeded SQLite database; each turn
starts the server, warms it up with wrk, then measures one wrk run. Reported per variant: the
median CPU its processes used per token (from ``/proc``: user and system time, workers and
supervisor) and the median tokens/s. ``--pin`` puts the server on the last core and wrk on
the others (``taskset``), which steadies the figures on a busy machine. No figure here is a
test: ratios between variants of one run are what to read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs, seed, wrk

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Variant:
    name: str
    tree: Path
    memo: bool


def parse_variant(text: str) -> Variant:
    name, sep, spec = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=TREE[:nomemo], got {text!r}")
    tree, _, mode = spec.partition(":")
    if mode not in ("", "memo", "nomemo"):
        raise argparse.ArgumentTypeError(f"unknown mode {mode!r} (memo or nomemo)")
    return Variant(name, Path(tree).resolve(), mode != "nomemo")


def _wrk(pin: list[str], connections: int, seconds: float, script: Path, port: int) -> str:
    cmd = [
        *pin,
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
    ]
    cmd.append(str(script))
    return subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True
    ).stdout


def measure(
    variant: Variant, data: Path, script: Path, first: seed.Credential, args: argparse.Namespace
) -> tuple[float, float]:
    """(server CPU µs per token, tokens/s) of one turn."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "REALMGATE_DATABASE_URL"},
        "PYTHONPATH": str(variant.tree / "src"),
        "REALMGATE_DATA_DIR": str(data),
        "REALMGATE_ACCESS_LOG": "false",
        "REALMGATE_LOG_LEVEL": "warning",
        "REALMGATE_BOOTSTRAP_DEMO": "false",
    }
    if not variant.memo:
        env["REALMGATE_TOKEN_REQUEST_CACHE_SIZE"] = "0"
    cores = os.cpu_count() or 1
    server_pin = ["taskset", "-c", str(cores - 1)] if args.pin and cores > 1 else []
    wrk_pin = ["taskset", "-c", f"0-{cores - 2}"] if args.pin and cores > 1 else []
    cmd = [sys.executable, "-m", "realmgate", "serve", "--port", str(args.port)]
    server = subprocess.Popen(
        [*server_pin, *cmd, "--workers", str(args.workers)],
        env=env,
        cwd=variant.tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if procs.post_form(args.port, first.path, first.body)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"{variant.name}: the server did not answer")
            time.sleep(0.1)
        _wrk(wrk_pin, args.connections, args.warmup, script, args.port)
        pids = procs.process_tree(server.pid)
        before = procs.cpu_seconds(pids)
        out = _wrk(wrk_pin, args.connections, args.duration, script, args.port)
        used = procs.cpu_seconds(pids) - before
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = wrk.parse(out)
    if result.errors:
        raise RuntimeError(f"{variant.name}: {result.errors} failed requests")
    return used / max(result.requests, 1) * 1e6, result.rps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="+", type=parse_variant, metavar="NAME=TREE[:nomemo]")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=6, help="seconds (wrk takes whole ones)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--alg", choices=["ES256", "RS256"], default="ES256")
    p.add_argument("--pin", action="store_true", help="server on the last core, wrk on the rest")
    p.add_argument("--port", type=int, default=18555)
    args = p.parse_args(argv)
    if not shutil.which("wrk"):
        p.error("wrk is needed: apt-get install -y wrk")
    results: dict[str, list[tuple[float, float]]] = {v.name: [] for v in args.variants}
    with tempfile.TemporaryDirectory(prefix="realmgate-ab-") as tmp:
        work = Path(tmp)
        realms = seed.seed_realms(work / "data", None, 64)  # under the 500/s per-client limit
        creds = realms[args.alg]
        script = wrk.write_script(
            work / "tokens.lua", [("POST", c.path, FORM, c.body) for c in creds]
        )
        for turn in range(args.rounds):
            for variant in args.variants:
                cost, rps = measure(variant, work / "data", script, creds[0], args)
                results[variant.name].append((cost, rps))
                print(f"round {turn + 1} {variant.name:<12} {cost:7.1f} µs/token {rps:9.0f}/s")
    print()
    print("| variant | server CPU per token, median | tokens/s, median |")
    print("|---|---:|---:|")
    for name, runs in results.items():
        cost = statistics.median(r[0] for r in runs)
        rps = statistics.median(r[1] for r in runs)
        print(f"| {name} | {cost:.1f} µs | {rps:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
