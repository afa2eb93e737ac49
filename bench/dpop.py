"""The DPoP scenario (RFC 9449): client credentials token requests that each carry a DPoP
proof of their own, against realmgate and node-oidc-provider in the same run.

wrk cannot sign, and a proof is good for one request only (its ``jti`` is remembered by both
servers), so the proofs are made before each wrk run, in Python, and the run's Lua script
(:func:`write_script`) reads them from a file and sends each once: wrk's threads take every
``threads``-th line. How many a run needs is measured first (:func:`make_warm_up`): a
calibration run of at least one second with a generous batch (doubled while the batch runs
out) gives the rate, and the measured run gets ``rate x duration x 2`` fresh proofs. A
proof is made at most seconds before it is sent, well inside realmgate's
``dpop_proof_max_age`` (60 s) and node-oidc-provider's 300 s.

Every client has its own ES256 key (as real clients do, so neither server sees one key over
and over); requests rotate over the clients.
"""

from __future__ import annotations

import http.client
import json
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from bench import wrk
from realmgate.jose.dpop import DPOP_TYP, public_jwk_of
from realmgate.jose.signer import b64url, signer_for

if TYPE_CHECKING:
    from bench.cli import Results

PROOF_ALG = "ES256"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Proofs for the calibration run, per second of it; doubled while they run out.
CALIBRATION_PER_S = 4_000
CALIBRATION_TRIES = 4
# Proofs made for the measured run: the calibrated rate x duration x MARGIN (the rate after
# the warm-up is higher than during it).
MARGIN = 2.0
MIN_PROOFS = 5_000
SCENARIO_PREFIX = "dpop-"


class ProofMaker:
    """DPoP proofs of one ES256 key: the protected header (``typ``, ``alg``, the public
    ``jwk``) encoded once; each proof is one JSON payload and one signature."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None):
        self.key = private_key or ec.generate_private_key(ec.SECP256R1())
        header = {"typ": DPOP_TYP, "alg": PROOF_ALG, "jwk": public_jwk_of(self.key)}
        self._header = b64url(json.dumps(header, separators=(",", ":")).encode())
        self._sign = signer_for(PROOF_ALG, self.key)

    def __repr__(self) -> str:
        return "ProofMaker(ES256)"

    def proof(self, method: str, htu: str, iat: int, jti: str | None = None) -> str:
        claims = {"jti": jti or secrets.token_urlsafe(16), "htm": method, "htu": htu, "iat": iat}
        signing_input = (
            self._header + b"." + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        return (signing_input + b"." + b64url(self._sign(signing_input))).decode("ascii")


def write_proofs(path: Path, makers: Sequence[ProofMaker], htu: str, count: int) -> Path:
    """``count`` lines ``<client index> <proof>`` for ``POST htu``, the clients in turn."""
    with path.open("w") as f:
        for i in range(count):
            k = i % len(makers)
            f.write(f"{k} {makers[k].proof('POST', htu, int(time.time()))}\n")
    return path


def _lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(
    path: Path, proofs: Path, token_path: str, bodies: Sequence[str], threads: int
) -> Path:
    """A wrk script whose requests are ``POST token_path`` with the body of the line's client
    and its proof in a ``DPoP`` header, each line of ``proofs`` sent once (by one thread);
    once a thread's lines run out it starts over, and the servers refuse those replays
    (they count as errors)."""
    lines = [
        f"local proofs_file = {_lua_str(str(proofs))}",
        f"local token_path = {_lua_str(token_path)}",
        f"local nthreads = {threads}",
        "local bodies = {" + ", ".join(_lua_str(b) for b in bodies) + "}",
        "local counter = 0",
        "setup = function(thread) counter = counter + 1; thread:set('tid', counter) end",
        "local reqs = {}",
        "local n = 0",
        "local pos = 0",
        "init = function(args)",
        "  local headers = {",
        *(f"    [{_lua_str(k)}] = {_lua_str(v)}," for k, v in FORM.items()),
        "  }",
        "  local i = 0",
        "  local mine = (tid or 1) - 1",
        "  for line in io.lines(proofs_file) do",
        "    if i % nthreads == mine then",
        "      local sp = line:find(' ', 1, true)",
        "      headers['DPoP'] = line:sub(sp + 1)",
        "      n = n + 1",
        "      reqs[n] = wrk.format('POST', token_path, headers,"
        " bodies[tonumber(line:sub(1, sp - 1)) + 1])",
        "    end",
        "    i = i + 1",
        "  end",
        "end",
        "request = function()",
        "  pos = pos + 1",
        "  if pos > n then pos = 1 end",
        "  return reqs[pos]",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk_threads(threads: int, connections: int) -> int:
    """The thread count :func:`bench.wrk.run` gives wrk."""
    return max(1, min(threads, connections))


@dataclass
class DpopTarget:
    """What one server's DPoP scenario needs: the token URL (path and ``htu``) and a form
    body per client (without proof), one key per client."""

    token_path: str
    htu: str
    bodies: list[str]
    makers: list[ProofMaker]


def make_target(token_path: str, htu: str, bodies: list[str]) -> DpopTarget:
    return DpopTarget(token_path, htu, bodies, [ProofMaker() for _ in bodies])


def check_binding(url: str, target: DpopTarget) -> None:
    """One token request with a proof must get a DPoP-bound token (``token_type`` DPoP), or
    the scenario would measure a server that ignores the proof."""
    parts = urlsplit(url)
    maker = target.makers[0]
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(
            "POST",
            target.token_path,
            target.bodies[0],
            {**FORM, "DPoP": maker.proof("POST", target.htu, int(time.time()))},
        )
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
    finally:
        conn.close()
    token_type = ""
    if status == 200:
        token_type = str(json.loads(body).get("token_type", ""))
    if token_type.lower() != "dpop":
        detail = body[:200].decode(errors="replace") if status != 200 else token_type
        raise RuntimeError(f"no DPoP-bound token from {url}: {status} {detail}")


def make_warm_up(
    target: DpopTarget,
    proofs: Path,
    connections: int,
    threads: int,
    duration: float,
    calibration_s: float,
    log: Callable[[str], None],
) -> Callable[[str], list[tuple[str, wrk.WrkResult]]]:
    """The scenario's warm-up: a calibration run (at least 1 s, also the warm-up) with
    proofs to spare, then a fresh batch for the measured run of ``duration`` seconds."""
    script = proofs.with_suffix(".lua")

    def warm_up(url: str) -> list[tuple[str, wrk.WrkResult]]:
        check_binding(url, target)
        seconds = max(1.0, calibration_s)
        count = int(CALIBRATION_PER_S * seconds)
        rate = 0.0
        for _ in range(CALIBRATION_TRIES):
            write_proofs(proofs, target.makers, target.htu, count)
            r = wrk.run(url, script, connections, seconds, threads=threads)
            rate = r.requests / max(r.duration_s, 1e-3)
            if r.requests < count:
                break
            count *= 2  # the batch ran out: the rate is higher than measured
        needed = max(MIN_PROOFS, int(rate * duration * MARGIN))
        t0 = time.perf_counter()
        write_proofs(proofs, target.makers, target.htu, needed)
        log(
            f"    {proofs.stem}: calibrated at {rate:,.0f} req/s; {needed:,} proofs made in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        return []

    return warm_up


# --- the report ------------------------------------------------------------------------------
def _median(results: Results, target: str, scenario: str) -> float | None:
    values = [m.rps for m in results.measurements if m.target == target and m.scenario == scenario]
    return statistics.median(values) if values else None


def report_table(results: Results) -> list[str]:
    """realmgate / node-oidc-provider on the DPoP scenarios, per database, and what DPoP
    costs each server (DPoP / Bearer, the same signing algorithm and connections)."""
    from bench.report import NODE, PG, RG, fmt_ratio, ratios

    scenarios = sorted(
        {m.scenario for m in results.measurements if m.scenario.startswith(SCENARIO_PREFIX)}
    )
    if not scenarios:
        return []
    lines = [
        "",
        "### DPoP token requests (RFC 9449)",
        "",
        "Client credentials token requests with a DPoP proof each (ES256, one key per client, "
        "every proof sent once): proof checked, its `jti` recorded against replay, the token "
        "bound to the key (`cnf.jkt`, `token_type` DPoP). realmgate / node-oidc-provider per "
        "repetition; DPoP / Bearer is each server's DPoP rate over its plain token rate "
        "(`token-es256-cN`) in the same repetition.",
        "",
        "| scenario | realmgate | req/s | node req/s | realmgate / node: median (range) "
        "| realmgate DPoP / Bearer | node DPoP / Bearer |",
        "|---|---|---:|---:|---|---|---|",
    ]
    for sc in scenarios:
        bearer = "token-" + sc.removeprefix(SCENARIO_PREFIX)
        node_cost = ratios(results, (NODE, sc, "rps"), (NODE, bearer, "rps"))
        for name in (RG, PG):
            own = _median(results, name, sc)
            if own is None:
                continue
            vs_node = ratios(results, (name, sc, "rps"), (NODE, sc, "rps"))
            cost = ratios(results, (name, sc, "rps"), (name, bearer, "rps"))
            node = _median(results, NODE, sc)
            lines.append(
                f"| {sc} | {name} | {own:,.0f} | {'—' if node is None else f'{node:,.0f}'} | "
                f"{fmt_ratio(vs_node) if vs_node else '—'} | "
                f"{fmt_ratio(cost) if cost else '—'} | "
                f"{fmt_ratio(node_cost) if node_cost else '—'} |"
            )
    return lines
