"""The servers under test and their scenarios (what ``python -m bench`` runs; see bench/cli.py).

Servers run one at a time (started, measured, stopped), so targets of one database share it:
``realmgate-granian`` and ``realmgate-sqlite-nomemo`` serve the realms seeded for
``realmgate-sqlite``, ``realmgate-pg-nomemo`` the database of ``realmgate-pg``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import dpop, procs, seed, wrk
from bench.many import many_scenario

PG_ADMIN_URL = os.environ.get("REALMGATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PORTS = {
    "realmgate-sqlite": 18080,
    "realmgate-pg": 18081,
    "realmgate-many-sqlite": 18082,
    "realmgate-many-pg": 18083,
    "realmgate-granian": 18084,
    "realmgate-sqlite-nomemo": 18085,
    "realmgate-pg-nomemo": 18086,
    "node-oidc-provider": 18090,
    "starlette": 18091,
}
NODE_SECRET = "bench-node-secret-" + "0123456789abcdef" * 2
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# The remembered-request cache off (server/core/grant_memo.py): every request is checked in full.
NOMEMO_ENV = {"REALMGATE_TOKEN_REQUEST_CACHE_SIZE": "0"}


# --- PostgreSQL databases of our own ---------------------------------------------------------
@contextlib.contextmanager
def pg_database(name: str) -> Iterator[str]:
    import psycopg

    admin_url = PG_ADMIN_URL
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the plan ------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str  # e.g. token-rs256-c16
    connections: int
    script: Path
    url_path: str
    # Instead of --warmup seconds of the script: a warm-up of the scenario's own, which may
    # measure runs of its own, (scenario name, result) (see bench/many.py).
    warm_up: Callable[[str], list[tuple[str, wrk.WrkResult]]] | None = None


@dataclass
class Target:
    name: str
    make_server: Callable[[], procs.Server]
    first_request: Callable[[int], bool]  # a real request: a token (or 200) means ready
    scenarios: Callable[[], list[Scenario]]


def token_requests(
    creds: list[seed.Credential],
) -> list[tuple[str, str, dict[str, str], str | None]]:
    return [("POST", c.path, FORM, c.body) for c in creds]


def first_token(path: str, body: str) -> Callable[[int], bool]:
    def probe(port: int) -> bool:
        status, data = procs.post_form(port, path, body)
        return status == 200 and b"access_token" in data

    return probe


# (name, port, data dir, workers, database URL, log) -> the server
ServerFactory = Callable[..., procs.Server]


def nomemo_server(
    name: str, port: int, data_dir: Path, workers: int, database_url: str | None, log: Path
) -> procs.Server:
    return procs.realmgate_server(name, port, data_dir, workers, database_url, log, NOMEMO_ENV)


def build_targets(
    args: argparse.Namespace,
    work: Path,
    stack: contextlib.ExitStack,
    log: Callable[[str], None],
) -> list[Target]:
    conns = args.connections
    targets: list[Target] = []
    scripts = work / "scripts"
    scripts.mkdir()
    logs = work / "logs"
    logs.mkdir()

    def token_scenarios(prefix: str, realms: dict[str, list[seed.Credential]]) -> list[Scenario]:
        out = []
        for alg in ("ES256",) if args.only_dpop else ("RS256", "ES256"):
            script = wrk.write_script(scripts / f"{prefix}-{alg}.lua", token_requests(realms[alg]))
            out += [
                Scenario(f"token-{alg.lower()}-c{c}", c, script, realms[alg][0].path) for c in conns
            ]
        return out

    def realmgate_target(
        name: str,
        data_dir: Path,
        db_url: str | None,
        realms: dict[str, list[seed.Credential]],
        server: ServerFactory = procs.realmgate_server,
        get: bool = True,
    ) -> Target:
        """The token scenarios on ``realms`` (seeded in ``data_dir``/``db_url``), and with
        ``get`` the tenant API GET."""
        port = PORTS[name]
        token_sc = token_scenarios(name, realms)
        get_script = scripts / f"{name}-get.lua"
        admin = realms["ES256"][0]
        # DPoP on realmgate's own server only: under granian the issuer (the htu) is not the
        # listener's address, and the HTTP server comparison has no DPoP scenario
        if get and args.dpop and server is procs.realmgate_server:
            es256 = realms["ES256"]
            htu = f"http://127.0.0.1:{port}{es256[0].path}"  # issuer_base_url unset: the listener
            target = dpop.make_target(es256[0].path, htu, [c.body for c in es256])
            token_sc += dpop_scenarios(args, name, target, scripts, log)

        def scenarios() -> list[Scenario]:
            if not get or args.only_dpop:
                return token_sc
            # A fresh token from this very server (the issuer includes its port).
            _status, data = procs.post_form(port, admin.path, admin.body)
            token = json.loads(data)["access_token"]
            wrk.write_script(
                get_script,
                [
                    (
                        "GET",
                        "/v2/tenants/current/settings",
                        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                        None,
                    )
                ],
            )
            return [
                *token_sc,
                Scenario(
                    f"get-c{max(conns)}", max(conns), get_script, "/v2/tenants/current/settings"
                ),
            ]

        return Target(
            name,
            lambda: server(name, port, data_dir, args.workers, db_url, logs / f"{name}.log"),
            first_token(admin.path, admin.body),
            scenarios,
        )

    def many_target(name: str, db_url: str | None) -> Target:
        data_dir = work / name
        port = PORTS[name]
        creds, scenarios = many_scenario(args, name, data_dir, db_url, scripts, log)
        return Target(
            name,
            lambda: procs.realmgate_server(
                name, port, data_dir, args.workers, db_url, logs / f"{name}.log"
            ),
            first_token(creds[0].path, creds[0].body),
            scenarios,
        )

    def one_database(db: str, db_url: str | None) -> None:
        """realmgate on one database: with the remembered-request cache (the default), without
        it (``--nomemo``) and, on SQLite, on granian (``--granian``); one seed for all."""
        name = f"realmgate-{db}"
        data_dir = work / name
        realms = seed.seed_realms(data_dir, db_url, args.clients_per_realm)
        targets.append(realmgate_target(name, data_dir, db_url, realms))
        if args.nomemo:
            targets.append(
                realmgate_target(f"{name}-nomemo", data_dir, db_url, realms, nomemo_server, False)
            )
        if db == "sqlite" and args.granian:
            targets.append(
                realmgate_target(
                    "realmgate-granian", data_dir, db_url, realms, procs.granian_server
                )
            )

    one_database("sqlite", None)
    if args.many:
        targets.append(many_target("realmgate-many-sqlite", None))
    if args.pg:
        suffix = os.urandom(4).hex()
        one_database("pg", stack.enter_context(pg_database(f"realmgate_bench_{suffix}")))
        if args.many:
            url_many = stack.enter_context(pg_database(f"realmgate_bench_many_{suffix}"))
            targets.append(many_target("realmgate-many-pg", url_many))

    if not args.only_dpop:
        targets.append(starlette_target(args, scripts, logs))
    if args.node:
        targets.append(node_target(args, work, scripts, logs, log))
    return targets


def dpop_scenarios(
    args: argparse.Namespace,
    name: str,
    target: dpop.DpopTarget,
    scripts: Path,
    log: Callable[[str], None],
) -> list[Scenario]:
    """``dpop-es256-cN``: token requests with a fresh DPoP proof each (bench/dpop.py)."""
    out = []
    for c in args.connections:
        threads = dpop.wrk_threads(args.threads, c)
        proofs = scripts / f"{name}-dpop-c{c}.proofs"
        script = dpop.write_script(
            proofs.with_suffix(".lua"), proofs, target.token_path, target.bodies, threads
        )
        warm_up = dpop.make_warm_up(
            target, proofs, c, args.threads, args.duration, args.warmup, log
        )
        out.append(Scenario(f"dpop-es256-c{c}", c, script, target.token_path, warm_up))
    return out


def starlette_target(args: argparse.Namespace, scripts: Path, logs: Path) -> Target:
    """Bare Starlette: the Python HTTP ceiling (a form POST, and a GET)."""
    conns = args.connections
    bare_post = wrk.write_script(
        scripts / "bare-post.lua",
        [
            (
                "POST",
                "/token",
                FORM,
                f"grant_type=client_credentials&client_id=client-{i}&client_secret={NODE_SECRET}",
            )
            for i in range(args.clients_per_realm)
        ],
    )
    bare_get = wrk.write_script(
        scripts / "bare-get.lua",
        [
            (
                "GET",
                "/settings",
                {"Authorization": "Bearer " + "x" * 700, "Content-Type": "application/json"},
                None,
            )
        ],
    )
    return Target(
        "starlette",
        lambda: procs.bare_server(PORTS["starlette"], args.workers, logs / "starlette.log"),
        lambda port: procs.get(port, "/settings")[0] == 200,
        lambda: [
            *(Scenario(f"post-c{c}", c, bare_post, "/token") for c in conns),
            Scenario(f"get-c{max(conns)}", max(conns), bare_get, "/settings"),
        ],
    )


def node_target(
    args: argparse.Namespace, work: Path, scripts: Path, logs: Path, log: Callable[[str], None]
) -> Target:
    """node-oidc-provider (bench/node/server.js), RS256 or ES256 chosen by the ``resource``;
    with ``--dpop`` also the DPoP scenarios (its ``features.dPoP``)."""
    if not procs.node_available():
        raise SystemExit(
            "the node peer is not installed: (cd bench/node && npm ci), or pass --no-node"
        )
    conns = args.connections
    node_creds = {
        alg: [seed.Credential("", f"bench-{i}", NODE_SECRET) for i in range(args.clients_per_realm)]
        for alg in ("RS256", "ES256")
    }
    node_scripts = {}
    for alg in ("RS256", "ES256"):
        resource = f"https://{alg.lower()}.bench.example"
        node_scripts[alg] = wrk.write_script(
            scripts / f"node-{alg}.lua",
            [("POST", "/token", FORM, f"{c.body}&resource={resource}") for c in node_creds[alg]],
        )
    keys = work / "node-jwks.json"
    first = f"{node_creds['ES256'][0].body}&resource=https://es256.bench.example"
    algs = ("ES256",) if args.only_dpop else ("RS256", "ES256")
    scenarios = [
        Scenario(f"token-{alg.lower()}-c{c}", c, node_scripts[alg], "/token")
        for alg in algs
        for c in conns
    ]
    if args.dpop:
        bodies = [f"{c.body}&resource=https://es256.bench.example" for c in node_creds["ES256"]]
        port = PORTS["node-oidc-provider"]
        target = dpop.make_target("/token", f"http://127.0.0.1:{port}/token", bodies)
        scenarios += dpop_scenarios(args, "node", target, scripts, log)
    return Target(
        "node-oidc-provider",
        lambda: procs.node_server(
            PORTS["node-oidc-provider"],
            args.workers,
            args.clients_per_realm,
            NODE_SECRET,
            keys,
            logs / "node.log",
        ),
        first_token("/token", first),
        lambda: scenarios,
    )
