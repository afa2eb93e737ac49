"""The DPoP scenario of the benchmark (bench/dpop.py): its proofs pass realmgate's own proof
check, wrk sends each proof once (its threads split the file), the report's DPoP table, and
a smoke run against realmgate and node-oidc-provider that reports a ratio. No timing
assertions."""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bench import cli, dpop, procs, wrk
from realmgate.jose.dpop import check_proof, jwk_thumbprint, public_jwk_of
from tests.bench.test_bench_smoke import number, run_module, section
from tests.bench.test_report_tables import results

HTU = "http://127.0.0.1:18080/realms/bench-es256/protocol/openid-connect/token"


def test_proofs_pass_realmgates_check_and_name_their_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    maker = dpop.ProofMaker(key)
    proofs = [maker.proof("POST", HTU, 1_800_000_000) for _ in range(50)]
    checked = [
        check_proof(p, method="POST", url=HTU, now=1_800_000_001, max_age=60) for p in proofs
    ]
    assert {c.jkt for c in checked} == {jwk_thumbprint(public_jwk_of(key))}
    assert len({c.jti for c in checked}) == 50  # one-time proofs
    assert all((c.htm, c.htu, c.iat) == ("POST", HTU, 1_800_000_000) for c in checked)
    assert all(c.ath is None and c.nonce is None for c in checked)
    header = json.loads(base64.urlsafe_b64decode(proofs[0].split(".")[0] + "=="))
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"}  # the public key only


def test_proof_file_rotates_over_the_clients_keys(tmp_path: Path) -> None:
    makers = [dpop.ProofMaker() for _ in range(3)]
    path = dpop.write_proofs(tmp_path / "p.proofs", makers, HTU, 7)
    lines = path.read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["0", "1", "2", "0", "1", "2", "0"]
    thumbprints = [jwk_thumbprint(public_jwk_of(m.key)) for m in makers]
    for line in lines:
        k, proof = line.split(" ", 1)
        checked = check_proof(proof, method="POST", url=HTU, now=time.time())
        assert checked.jkt == thumbprints[int(k)]


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        with self.lock:
            self.seen.append((self.headers.get("DPoP", ""), body))
        out = b'{"token_type":"DPoP"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk drops its connections at the end of the run


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen, "protocol_version": "HTTP/1.1"})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def run_script(tmp_path: Path, port: int, count: int) -> list[str]:
    """wrk (2 threads, 4 connections, 1 s) with ``count`` proofs; the proof file's lines."""
    assert shutil.which("wrk"), "the benchmark needs wrk: apt-get install -y wrk"
    makers = [dpop.ProofMaker() for _ in range(2)]
    proofs = dpop.write_proofs(tmp_path / "r.proofs", makers, HTU, count)
    bodies = ["client_id=a&client_secret=x", "client_id=b&client_secret=y"]
    script = dpop.write_script(tmp_path / "r.lua", proofs, "/token", bodies, dpop.wrk_threads(2, 4))
    wrk.run(f"http://127.0.0.1:{port}/token", script, 4, 1.0, threads=2)
    return proofs.read_text().splitlines()


@pytest.mark.bench
@pytest.mark.timeout(120)
def test_wrk_sends_every_proof_at_most_once(
    tmp_path: Path, recorder: tuple[int, list[tuple[str, str]]]
) -> None:
    port, seen = recorder
    lines = run_script(tmp_path, port, 30_000)  # more than 1 s of this Python server
    split = [line.split(" ", 1) for line in lines]
    client_of = {proof: int(k) for k, proof in split}
    line_of = {proof: i for i, (_, proof) in enumerate(split)}
    sent = [proof for proof, _ in seen]
    assert 10 < len(sent) < len(lines), len(sent)  # the file did not run out
    assert len(set(sent)) == len(sent), "a proof was sent twice"
    assert set(sent) <= set(client_of)
    bodies = ["client_id=a&client_secret=x", "client_id=b&client_secret=y"]
    for proof, body in seen:
        assert body == bodies[client_of[proof]]  # the line's own client: body and key together
    # both threads sent: thread 1 the even lines, thread 2 the odd ones
    assert {line_of[p] % 2 for p in sent} == {0, 1}


@pytest.mark.bench
@pytest.mark.timeout(120)
def test_a_short_proof_file_is_replayed_and_the_server_sees_it(
    tmp_path: Path, recorder: tuple[int, list[tuple[str, str]]]
) -> None:
    """What the sizing prevents: once a thread's proofs run out, it starts over (replays,
    which the servers refuse and wrk counts as errors)."""
    port, seen = recorder
    run_script(tmp_path, port, 10)
    sent = [proof for proof, _ in seen]
    assert len(sent) > 10
    assert len(set(sent)) == 10


def test_report_table_gives_the_ratio_and_each_servers_dpop_cost() -> None:
    r = results(
        {
            ("node-oidc-provider", "token-es256-c16"): (1000, 1000),
            ("node-oidc-provider", "dpop-es256-c16"): (500, 400),
            ("realmgate-sqlite", "token-es256-c16"): (3000, 3000),
            ("realmgate-sqlite", "dpop-es256-c16"): (1000, 1200),
        }
    )
    lines = dpop.report_table(r)
    assert "### DPoP token requests (RFC 9449)" in lines
    row = next(line for line in lines if line.startswith("| dpop-es256-c16 | realmgate-sqlite"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # realmgate / node per repetition: 2.0 and 3.0; DPoP / Bearer: 0.33, 0.4; node 0.5, 0.4
    assert cells[2:] == ["1,100", "450", "2.50 (2.00 to 3.00)", "0.37 (0.33 to 0.40)",
                         "0.45 (0.40 to 0.50)"]  # fmt: skip
    assert dpop.report_table(results({("realmgate-sqlite", "token-es256-c16"): (1, 1)})) == []


def test_only_dpop_runs_the_dpop_scenario_and_its_bearer_counterpart() -> None:
    args = cli.parse_args(["--only-dpop", "--smoke"])
    assert args.dpop and not args.many and not args.nomemo and not args.granian
    assert not cli.parse_args(["--no-dpop"]).dpop


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_smoke_run_reports_the_dpop_ratio_against_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shutil.which("wrk"), "the benchmark needs wrk: apt-get install -y wrk"
    # the smoke run spreads requests over 4 clients only: without the per-client issuance
    # limit, every non-2xx answer of a DPoP run is a refused proof
    monkeypatch.setenv("REALMGATE_TOKEN_RATE_LIMIT", "0")
    assert procs.node_available(), "the node peer is not installed: (cd bench/node && npm ci)"
    out = tmp_path / "results"
    run_module("bench", "--smoke", "--only-dpop", "--no-pg", "--out", str(out), timeout=540)
    # a report of its own: dpop.md, dpop.json (never report.md, the full run's)
    assert not (out / "report.md").exists()
    report = (out / "dpop.md").read_text()
    table = section(report, "DPoP token requests (RFC 9449)")
    assert [(r[0], r[1]) for r in table] == [
        ("dpop-es256-c16", "realmgate-sqlite"),
        ("dpop-es256-c64", "realmgate-sqlite"),
    ], report
    for cells in table:
        assert number(cells[2]) > 0 and number(cells[3]) > 0, cells  # req/s of both
        assert number(cells[4]) > 0, cells  # realmgate / node
        assert number(cells[5]) > 0 and number(cells[6]) > 0, cells  # DPoP / Bearer
    measured = json.loads((out / "dpop.json").read_text())["measurements"]
    dpop_runs = [m for m in measured if m["scenario"].startswith("dpop-")]
    assert {m["target"] for m in dpop_runs} == {"realmgate-sqlite", "node-oidc-provider"}
    # every proof was accepted once: no replays (the proof supply was sized right), no errors
    errors = [(m["target"], m["scenario"], m["errors"], m["requests"]) for m in dpop_runs]
    assert all(m["errors"] == 0 and m["requests"] > 0 for m in dpop_runs), errors
    assert {m["scenario"] for m in measured} == {
        f"{kind}-es256-c{c}" for kind in ("token", "dpop") for c in (16, 64)
    }
