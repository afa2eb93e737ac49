"""``python -m bench.floor``: what each request costs the server in CPU, and the ceiling that
sets for any Python token endpoint on uvicorn.

Every server runs as ONE worker process and is driven by ``wrk`` (16 connections). For each
it reports requests/s, the CPU the server's processes used per request (``/proc``), and the
CPU wrk used per request (``getrusage`` of the child). Servers: a bare ``asyncio.Protocol`` on
httptools and uvloop that gives the same answer without ASGI (what uvicorn's per-request ASGI
machinery costs is the difference to the next), a raw ASGI app on uvicorn (no framework: the
floor of an ASGI app), bare Starlette, realmgate (ES256 and RS256), realmgate with signatures
replaced by constants (``bench/floor_apps.py``; its difference to the real server is what
signing costs under load), and node-oidc-provider (one worker) when installed.

The ceiling: a Python ES256 endpoint costs at least the bare protocol plus the signature, so
its best possible rate against a peer is (peer server + wrk CPU per request) / (bare protocol +
ES256 signature + wrk CPU per request). The report prints it next to what realmgate reaches.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import procs, seed, wrk

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PORT = 18300
NODE_SECRET = "bench-node-secret-" + "0123456789abcdef" * 2


@dataclass
class Cost:
    name: str
    rps: float
    server_us: float
    wrk_us: float


def measure(server: procs.Server, script: Path, path: str, duration: float) -> Cost:
    url = f"http://127.0.0.1:{server.port}{path}"
    wrk.run(url, script, 16, 2)  # warm-up
    assert server.proc is not None
    pids = procs.process_tree(server.proc.pid)
    cpu0, kids0 = procs.cpu_seconds(pids), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = wrk.run(url, script, 16, duration)
    cpu1, kids1 = procs.cpu_seconds(pids), resource.getrusage(resource.RUSAGE_CHILDREN)
    n = max(1, result.requests)
    wrk_s = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    return Cost(server.name, result.rps, (cpu1 - cpu0) / n * 1e6, wrk_s / n * 1e6)


def _uvicorn(name: str, target: str, factory: bool, env: dict[str, str], log: Path) -> procs.Server:
    cmd = [str(procs.VENV_BIN / "uvicorn"), target, "--port", str(PORT), "--log-level", "warning"]
    cmd += ["--no-access-log", *(["--factory"] if factory else [])]
    return procs.Server(name, cmd, PORT, env, log=log)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--node", action=argparse.BooleanOptionalAction, default=True)
    args = p.parse_args(argv)
    costs: dict[str, Cost] = {}
    with tempfile.TemporaryDirectory(prefix="realmgate-floor-") as tmp:
        work = Path(tmp)
        realms = seed.seed_realms(work / "data", None, 64)  # under the 500/s per-client limit
        rg_env = {
            "REALMGATE_DATA_DIR": str(work / "data"),
            "REALMGATE_ACCESS_LOG": "false",
            "REALMGATE_LOG_LEVEL": "warning",
            "REALMGATE_BOOTSTRAP_DEMO": "false",
            "PYTHONPATH": str(procs.ROOT),
        }
        scripts = {
            alg: wrk.write_script(
                work / f"{alg}.lua", [("POST", c.path, FORM, c.body) for c in realms[alg]]
            )
            for alg in ("ES256", "RS256")
        }
        bare = wrk.write_script(work / "bare.lua", [("POST", "/token", FORM, "a=b&c=d")])
        first = realms["ES256"][0]

        def rg_ready() -> bool:
            return procs.post_form(PORT, first.path, first.body)[0] == 200

        runs: list[tuple[procs.Server, object, list[tuple[str, Path, str]]]] = [
            (
                procs.Server(
                    "bare protocol",
                    [
                        str(procs.VENV_BIN / "python"),
                        "-c",
                        f"from bench.floor_apps import serve_bare; serve_bare({PORT})",
                    ],
                    PORT,
                    log=work / "bare-protocol.log",
                ),
                lambda: procs.post_form(PORT, "/token", "a=b")[0] == 200,
                [("bare protocol", bare, "/token")],
            ),
            (
                _uvicorn("raw ASGI", "bench.floor_apps:raw", False, {}, work / "raw.log"),
                lambda: procs.post_form(PORT, "/token", "a=b")[0] == 200,
                [("raw ASGI", bare, "/token")],
            ),
            (
                procs.bare_server(PORT, 1, work / "bare.log"),
                lambda: procs.post_form(PORT, "/token", "a=b")[0] == 200,
                [("bare Starlette", bare, "/token")],
            ),
            (
                procs.realmgate_server("realmgate", PORT, work / "data", 1, None, work / "rg.log"),
                rg_ready,
                [(f"realmgate {alg}", scripts[alg], "/") for alg in ("ES256", "RS256")],
            ),
            (
                _uvicorn(
                    "realmgate unsigned",
                    "bench.floor_apps:realmgate_unsigned",
                    True,
                    rg_env,
                    work / "rgu.log",
                ),
                rg_ready,
                [(f"realmgate {alg} unsigned", scripts[alg], "/") for alg in ("ES256", "RS256")],
            ),
        ]
        if args.node and procs.node_available():
            node_script = wrk.write_script(
                work / "node.lua",
                [
                    ("POST", "/token", FORM, f"{c.body}&resource=https://es256.bench.example")
                    for c in (seed.Credential("", f"bench-{i}", NODE_SECRET) for i in range(16))
                ],
            )
            node_first = seed.Credential("", "bench-0", NODE_SECRET).body
            node_first += "&resource=https://es256.bench.example"
            runs.append(
                (
                    procs.node_server(PORT, 1, 16, NODE_SECRET, work / "keys.json", work / "n.log"),
                    lambda: procs.post_form(PORT, "/token", node_first)[0] == 200,
                    [("node-oidc-provider ES256", node_script, "/token")],
                )
            )
        for server, ready, scenarios in runs:
            server.start()
            try:
                server.wait_until(ready)  # type: ignore[arg-type]
                for name, script, path in scenarios:
                    server.name = name
                    costs[name] = measure(server, script, path, args.duration)
                    c = costs[name]
                    print(
                        f"{name:<28} {c.rps:8.0f} req/s  server {c.server_us:6.1f} µs/req  "
                        f"wrk {c.wrk_us:5.1f} µs/req",
                        flush=True,
                    )
            finally:
                server.stop()
    report(costs)
    return 0


def report(costs: dict[str, Cost]) -> None:
    raw, bare = costs["raw ASGI"], costs["bare Starlette"]
    proto = costs["bare protocol"]
    print(
        f"uvicorn's ASGI cycle: {raw.server_us - proto.server_us:.1f} µs/req "
        "(raw ASGI minus the bare protocol, the same answer)"
    )
    es, es_u = costs["realmgate ES256"], costs["realmgate ES256 unsigned"]
    sign = es.server_us - es_u.server_us
    # realmgate answers token requests without ASGI (server/http/direct.py): its floor is the
    # bare protocol's, not the raw ASGI app's.
    floor = proto.server_us + sign + es.wrk_us
    print(f"\nES256 signature under load: {sign:.1f} µs (realmgate minus its unsigned twin)")
    print(f"floor of an ES256 endpoint through ASGI on uvicorn: {raw.server_us + sign:.1f} µs/req")
    print(
        f"floor of any Python ES256 endpoint on uvloop and httptools: "
        f"{proto.server_us + sign:.1f} µs/req"
    )
    ceiling_bare = (bare.server_us + bare.wrk_us) / floor
    reached_bare = (bare.server_us + bare.wrk_us) / (es.server_us + es.wrk_us)
    print(f"vs bare Starlette POST: ceiling {ceiling_bare:.2f}, realmgate {reached_bare:.2f}")
    node = costs.get("node-oidc-provider ES256")
    if node is not None:
        ceiling = (node.server_us + node.wrk_us) / floor
        reached = (node.server_us + node.wrk_us) / (es.server_us + es.wrk_us)
        print(f"vs node-oidc-provider ES256: ceiling {ceiling:.2f}, realmgate {reached:.2f}")
    rs, rs_u = costs["realmgate RS256"], costs["realmgate RS256 unsigned"]
    print(f"RS256 signature under load: {rs.server_us - rs_u.server_us:.1f} µs")


if __name__ == "__main__":
    sys.exit(main())
