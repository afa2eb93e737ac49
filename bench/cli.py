"""``python -m bench``: realmgate against node-oidc-provider and bare Starlette, with wrk.

Every target is started as its users run it, on this machine's cores, and driven by ``wrk``
on 127.0.0.1. Targets are interleaved (their order rotates every repetition) and each
repetition gives one ratio realmgate / peer per scenario; the report gives the medians.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import procs, report, seed, wrk
from bench.many import FULL_SCALE, add_many_arguments
from bench.targets import (
    PG_ADMIN_URL,
    Target,
    build_targets,
    first_token,
    pg_database,
    token_requests,
)


@dataclass
class Measurement:
    rep: int
    target: str
    scenario: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


@dataclass
class TargetRun:
    rep: int
    target: str
    first_token_s: float
    rss: dict[str, float]


@dataclass
class Results:
    started: str
    machine: dict[str, str]
    options: dict[str, object]
    measurements: list[Measurement] = field(default_factory=list)
    target_runs: list[TargetRun] = field(default_factory=list)
    soak: list[dict[str, float]] = field(default_factory=list)
    soak_info: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    node = procs.node_binary()
    node_version = ""
    if node:
        import subprocess

        node_version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node_version,
        "wrk": shutil.which("wrk") or "",
    }


# --- running ---------------------------------------------------------------------------------
def run_target(
    target: Target, rep: int, args: argparse.Namespace, results: Results, log: Callable[[str], None]
) -> None:
    server = target.make_server()
    server.start()
    try:
        ready = server.wait_until(lambda: target.first_request(server.port))
        log(f"  {target.name}: first token after {ready:.2f} s")

        def record(scenario: str, connections: int, r: wrk.WrkResult) -> None:
            results.measurements.append(
                Measurement(
                    rep,
                    target.name,
                    scenario,
                    connections,
                    r.rps,
                    r.p50_ms,
                    r.p99_ms,
                    r.errors,
                    r.requests,
                )
            )
            log(
                f"  {target.name:22} {scenario:18} {r.rps:9.0f} req/s  p50 {r.p50_ms:7.2f} ms"
                f"  p99 {r.p99_ms:7.2f} ms  errors {r.errors}"
            )

        for sc in target.scenarios():
            url = f"http://127.0.0.1:{server.port}{sc.url_path}"
            if sc.warm_up is not None:
                for name, measured in sc.warm_up(url):
                    record(name, sc.connections, measured)
            elif args.warmup > 0:
                wrk.run(url, sc.script, sc.connections, args.warmup, threads=args.threads)
            r = wrk.run(url, sc.script, sc.connections, args.duration, threads=args.threads)
            record(sc.name, sc.connections, r)
        rss = server.rss()
        results.target_runs.append(TargetRun(rep, target.name, ready, rss))
        log(
            f"  {target.name}: RSS per worker max {rss['worker_max']:.0f} MB, "
            f"total {rss['total']:.0f} MB ({int(rss['n_workers'])} workers)"
        )
    finally:
        server.stop()


# --- soak ----------------------------------------------------------------------------------
def soak(
    args: argparse.Namespace, work: Path, results: Results, log: Callable[[str], None]
) -> None:
    """Two realmgate nodes on one PostgreSQL database at ``--soak-load`` of their capacity."""
    scripts = work / "scripts"
    scripts.mkdir(exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    with pg_database(f"realmgate_bench_soak_{uuid.uuid4().hex[:8]}") as url:
        data_dir = work / "soak"
        realms = seed.seed_realms(data_dir, url, args.clients_per_realm)
        creds = realms[args.soak_alg]
        ports = [18281, 18282]
        nodes = [
            procs.realmgate_server(
                f"node{i + 1}", p, data_dir, args.soak_workers, url, logs / f"soak-node{i + 1}.log"
            )
            for i, p in enumerate(ports)
        ]
        conns = args.soak_connections
        try:
            for n in nodes:
                n.start()
                n.wait_until(lambda n=n: first_token(creds[0].path, creds[0].body)(n.port))
            full = wrk.write_script(scripts / "soak-full.lua", token_requests(creds))
            cap_runs = wrk.run_parallel(
                [(f"http://127.0.0.1:{p}{creds[0].path}", full, conns) for p in ports],
                args.soak_calibrate,
            )
            capacity = sum(r.rps for r in cap_runs)
            target = capacity * args.soak_load
            per_conn_interval = 1000.0 * conns * len(ports) / target
            base_latency = statistics.median(r.p50_ms for r in cap_runs) * args.soak_load
            delay = max(0.0, per_conn_interval - base_latency)
            # One calibration step: subtract the observed per-request overhead.
            paced = wrk.write_script(scripts / "soak-paced.lua", token_requests(creds), delay)
            probe = wrk.run_parallel(
                [(f"http://127.0.0.1:{p}{creds[0].path}", paced, conns) for p in ports],
                args.soak_calibrate,
            )
            achieved = sum(r.rps for r in probe)
            if achieved > 0:
                overhead = 1000.0 * conns * len(ports) / achieved - delay
                delay = max(0.0, per_conn_interval - overhead)
                paced = wrk.write_script(scripts / "soak-paced.lua", token_requests(creds), delay)
            log(
                f"soak: capacity {capacity:.0f} req/s on 2 nodes; target {target:.0f} req/s "
                f"({args.soak_load:.0%}), per-connection delay {delay:.1f} ms"
            )
            results.soak_info = {
                "capacity_rps": capacity,
                "target_rps": target,
                "duration_s": args.soak_duration,
                "load": args.soak_load,
                "workers_per_node": args.soak_workers,
            }
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < args.soak_duration:
                seg = min(
                    args.soak_segment, max(1.0, args.soak_duration - (time.perf_counter() - t0))
                )
                rs = wrk.run_parallel(
                    [(f"http://127.0.0.1:{p}{creds[0].path}", paced, conns) for p in ports], seg
                )
                rss = [n.rss() for n in nodes]
                row = {
                    "t_s": time.perf_counter() - t0,
                    "rps": sum(r.rps for r in rs),
                    "p50_ms": max(r.p50_ms for r in rs),
                    "p99_ms": max(r.p99_ms for r in rs),
                    "errors": float(sum(r.errors for r in rs)),
                    "requests": float(sum(r.requests for r in rs)),
                    "rss_node1_mb": rss[0]["total"],
                    "rss_node2_mb": rss[1]["total"],
                    "rss_worker_max_mb": max(x["worker_max"] for x in rss),
                }
                results.soak.append(row)
                log(
                    f"  soak t={row['t_s']:5.0f}s {row['rps']:7.0f} req/s p99 {row['p99_ms']:.1f} "
                    f"ms errors {int(row['errors'])} RSS {row['rss_node1_mb']:.0f}/"
                    f"{row['rss_node2_mb']:.0f} MB"
                )
        finally:
            for n in nodes:
                n.stop()


# --- main ----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (seconds): 1 repetition, short runs, small databases",
    )
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured wrk run")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of wrk before each run")
    p.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="worker processes of every server (default: the number of cores)",
    )
    p.add_argument(
        "--clients-per-realm",
        type=int,
        default=64,
        help="clients the token requests are spread over in the single-tenant runs",
    )
    p.add_argument(
        "--node",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the node-oidc-provider peer (needs npm ci in bench/node)",
    )
    p.add_argument(
        "--pg",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also run on PostgreSQL ({PG_ADMIN_URL}; env REALMGATE_BENCH_PG)",
    )
    p.add_argument(
        "--many",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the many-tenants scenario",
    )
    p.add_argument(
        "--granian",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also serve the SQLite realms on granian (the HTTP server not chosen), for the "
        "uvicorn vs granian table (default: when granian is installed)",
    )
    p.add_argument(
        "--nomemo",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run realmgate with the remembered-request cache off "
        "(REALMGATE_TOKEN_REQUEST_CACHE_SIZE=0), on each database",
    )
    p.add_argument(
        "--dpop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the DPoP scenario (RFC 9449): ES256 token requests with a fresh proof each, on "
        "realmgate and node-oidc-provider (bench/dpop.py)",
    )
    p.add_argument(
        "--only-dpop",
        action="store_true",
        help="only the DPoP scenario and its plain ES256 counterpart (token-es256), on "
        "realmgate (SQLite, and PostgreSQL unless --no-pg) and node-oidc-provider; writes "
        "dpop.md/.json/.png (--update-docs: its own section of docs/benchmarks.md)",
    )
    add_many_arguments(p)
    p.add_argument(
        "--soak",
        action="store_true",
        help="run the soak instead: two nodes on PostgreSQL at --soak-load of capacity",
    )
    p.add_argument("--soak-duration", type=float, default=300.0)
    p.add_argument(
        "--soak-segment",
        type=float,
        default=30.0,
        help="seconds per soak sample (errors, p99, RSS)",
    )
    p.add_argument("--soak-load", type=float, default=0.7)
    p.add_argument("--soak-workers", type=int, default=1, help="workers per soak node")
    p.add_argument("--soak-connections", type=int, default=16, help="connections per soak node")
    p.add_argument("--soak-calibrate", type=float, default=10.0)
    p.add_argument("--soak-alg", choices=["RS256", "ES256"], default="RS256")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("bench/results"),
        help="directory for report.md, report.png and results.json",
    )
    p.add_argument(
        "--update-docs",
        action="store_true",
        help="copy the report into docs/benchmarks.md (and the plot next to it)",
    )
    args = p.parse_args(argv)
    if args.granian is None:
        args.granian = procs.granian_available()
    elif args.granian and not procs.granian_available():
        p.error("--granian: granian is not installed (pip install granian, or the dev extra)")
    if args.only_dpop:
        args.dpop = True
        args.many = args.nomemo = args.granian = False
    if args.full_scale:
        args.tenants, args.clients_per_tenant, args.spread = FULL_SCALE
    if args.smoke:
        args.repetitions = 1
        args.duration = min(args.duration, 2.0)
        args.warmup = 0.0
        args.clients_per_realm = min(args.clients_per_realm, 4)
        args.tenants = min(args.tenants, 50)
        args.clients_per_tenant = min(args.clients_per_tenant, 2)
        args.soak_duration = min(args.soak_duration, 4.0)
        args.soak_segment = min(args.soak_segment, 2.0)
        args.soak_calibrate = min(args.soak_calibrate, 2.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk.wrk_binary()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    opts = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results = Results(started, machine(), opts)

    def log(msg: str) -> None:
        print(msg, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="realmgate-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        if args.soak:
            soak(args, work, results, log)
        else:
            targets = build_targets(args, work, stack, log)
            for rep in range(args.repetitions):
                k = rep % len(targets)
                order = targets[k:] + targets[:k]
                log(f"repetition {rep + 1}/{args.repetitions}: {', '.join(t.name for t in order)}")
                for t in order:
                    run_target(t, rep, args, results, log)
        for f in (work / "logs").glob("*.log"):
            text = f.read_text(errors="replace")
            if "Traceback" in text or "ERROR" in text:
                results.notes.append(f"{f.name}: {text.strip().splitlines()[-1][:200]}")
    # --only-dpop has a report (and a docs section) of its own: it never replaces the full one
    name = "soak" if args.soak else "dpop" if args.only_dpop else "report"
    (args.out / f"{name}.json").write_text(
        json.dumps(asdict(results), indent=2, default=str) + "\n"
    )
    md = report.markdown(results, png=f"{name}.png")
    (args.out / f"{name}.md").write_text(md)
    report.plot(results, args.out / f"{name}.png")
    log(f"wrote {args.out / (name + '.md')} and {args.out / (name + '.png')}")
    if args.update_docs:
        report.update_docs(md, args.out / f"{name}.png", name)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
