"""The many-tenants scenario: the database, a cold run, then a warm-up that lets every worker
see every client, then the measured run.

Which worker answers a request depends on the connection wrk sent it on (the kernel hashes
each new connection to one worker's socket). The cold run (random clients, right after the start) is
measured and reported on its own. The warm-up then walks the spread clients in order, in
short wrk runs that reconnect each time (a new draw of connections to workers), until every
client has been asked ``passes_for(workers)`` times: a worker has then missed a given client
with a probability under 0.5 %. The measured run that follows is the steady state.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench import seed, wrk

if TYPE_CHECKING:
    from bench.targets import Scenario

# The figure: 100,000 tenants, 1,000,000 clients, requests spread over 10,000 clients.
FULL_SCALE = (100_000, 10, 10_000)

MISS_BOUND = 0.005  # chance that a worker has not seen a given client after the warm-up
SEGMENT_SECONDS = 2.0  # each wrk run of the warm-up (connections are redrawn between runs)
MAX_WARMUP_SECONDS = 300.0


def passes_for(workers: int) -> int:
    """Walks over the clients after which a worker has missed one with p < ``MISS_BOUND``."""
    if workers <= 1:
        return 1
    return math.ceil(math.log(MISS_BOUND) / math.log(1.0 - 1.0 / workers))


def write_walk_script(path: Path, creds: list[seed.Credential], start: int, threads: int) -> Path:
    """A wrk script whose ``threads`` threads walk ``creds`` in order, from ``start`` plus
    an offset of their own (thread k of T starts at k/T of the list)."""
    lines = ["local specs = {}"]
    for c in creds:
        lines.append(f'specs[#specs + 1] = {{"{c.path}", "{c.body}"}}')
    lines += [
        "local reqs = {}",
        "local n = #specs",
        "local i = 0",
        "local counter = 0",
        "setup = function(thread) counter = counter + 1; thread:set('tid', counter) end",
        "init = function(args)",
        "  local headers = {['Content-Type'] = 'application/x-www-form-urlencoded'}",
        "  for k, s in ipairs(specs) do reqs[k] = wrk.format('POST', s[1], headers, s[2]) end",
        f"  i = ({start} + math.floor(((tid or 1) - 1) * n / {max(1, threads)})) % n",
        "end",
        "request = function() i = i % n + 1; return reqs[i] end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def warm_up(
    url: str,
    creds: list[seed.Credential],
    script: Path,
    connections: int,
    workers: int,
    threads: int,
    log: Callable[[str], None],
) -> tuple[int, float]:
    """Walk the clients ``passes_for(workers)`` times; returns (requests, seconds)."""
    target = passes_for(workers) * len(creds)
    done, seconds = 0, 0.0
    while done < target and seconds < MAX_WARMUP_SECONDS:
        # each of wrk's threads advances through its own half: done / threads per thread
        walk = write_walk_script(script, creds, done // max(1, threads), threads)
        r = wrk.run(url, walk, connections, SEGMENT_SECONDS, threads=threads)
        if r.requests == 0:
            break
        done += r.requests
        seconds += r.duration_s
    log(
        f"  warm-up: {done:,} requests ({done / max(1, len(creds)):.1f} walks over "
        f"{len(creds):,} clients) in {seconds:.0f} s"
    )
    return done, seconds


def add_many_arguments(p: argparse.ArgumentParser) -> None:
    tenants, per_tenant, spread = FULL_SCALE
    p.add_argument("--tenants", type=int, default=tenants, help="many-tenants database")
    p.add_argument("--clients-per-tenant", type=int, default=per_tenant)
    p.add_argument(
        "--full-scale",
        action="store_true",
        help="the issue's figures, 100,000 tenants / 1,000,000 clients / spread over 10,000 "
        "(the default; overrides --tenants, --clients-per-tenant and --spread)",
    )
    p.add_argument(
        "--spread",
        type=int,
        default=spread,
        help="distinct clients the many-tenants requests are spread over",
    )


def many_scenario(
    args: argparse.Namespace,
    name: str,
    data_dir: Path,
    db_url: str | None,
    scripts: Path,
    log: Callable[[str], None],
) -> tuple[list[seed.Credential], Callable[[], list[Scenario]]]:
    """Seed the database; the scenario: ``many-es256-cold-c64`` (the first ``--duration``
    seconds after the start, caches cold), the warm-up walk, then ``many-es256-c64``."""
    from bench.targets import FORM, Scenario

    log(f"seeding {name}: {args.tenants:,} tenants x {args.clients_per_tenant} clients")
    t0 = time.perf_counter()
    creds = seed.seed_many(data_dir, db_url, args.tenants, args.clients_per_tenant, args.spread)
    log(
        f"  seeded in {time.perf_counter() - t0:.1f} s; requests spread over "
        f"{len(creds):,} clients of {len({c.tenant for c in creds}):,} tenants"
    )
    script = wrk.write_script(
        scripts / f"{name}.lua", [("POST", c.path, FORM, c.body) for c in creds]
    )
    connections = max(args.connections)

    def prepare(url: str) -> list[tuple[str, wrk.WrkResult]]:
        cold = wrk.run(url, script, connections, args.duration, threads=args.threads)
        warm_up(
            url, creds, scripts / f"{name}-walk.lua", connections, args.workers, args.threads, log
        )
        return [(f"many-es256-cold-c{connections}", cold)]

    def scenarios() -> list[Scenario]:
        return [Scenario(f"many-es256-c{connections}", connections, script, creds[0].path, prepare)]

    return creds, scenarios
