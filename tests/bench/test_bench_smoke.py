"""The benchmark harness runs end to end (`python -m bench --smoke`) and writes a report with
numbers. No timing assertions: CI machines are too noisy for that; docs/benchmarks.md has the
real figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_module(*args: str, timeout: float) -> str:
    """``python -m`` ``args`` from the repository root; its standard output (it must succeed)."""
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def section(report: str, heading: str) -> list[list[str]]:
    """The cells of the table rows under ``### heading`` (up to the next heading)."""
    assert f"### {heading}" in report, report
    text = report.split(f"### {heading}", 1)[1].split("\n### ", 1)[0]
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ][1:]  # the header row


def number(cell: str) -> float:
    """The leading number of a cell such as ``1,234``, ``1.95`` or ``1.95 (1.90 to 2.01)``."""
    match = re.match(r"[\d,.]+", cell)
    assert match, cell
    return float(match[0].replace(",", ""))


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_smoke_run_writes_a_report_with_numbers(tmp_path: Path) -> None:
    assert shutil.which("wrk"), "the benchmark needs wrk: apt-get install -y wrk"
    out = tmp_path / "results"
    run_module(
        "bench",
        "--smoke",
        "--no-node",
        "--no-pg",
        "--granian",
        "--nomemo",
        "--out",
        str(out),
        timeout=540,
    )

    report = (out / "report.md").read_text()
    assert (out / "report.png").stat().st_size > 1000
    assert "### Targets" in report
    # Every measured row carries real numbers.
    rows = section(report, "Throughput and latency")
    assert len(rows) >= 16, report  # 5 + 5 (granian) + 4 (cache off) + 2 many + 3 bare
    for cells in rows:
        assert number(cells[2]) > 0, cells  # req/s
        assert number(cells[4]) > 0, cells  # p99 ms

    # uvicorn against granian, the same scenarios: token RS256/ES256 at 16 and 64, the GET
    server = section(report, "HTTP server: uvicorn (chosen) vs granian")
    assert [r[0] for r in server] == [
        "get-c64",
        "token-es256-c16",
        "token-es256-c64",
        "token-rs256-c16",
        "token-rs256-c64",
    ], report
    for cells in server:
        assert all(number(c) > 0 for c in cells[1:]), cells
    # the cache off beside on: no node here, so the ratio of the two realmgate runs only
    memo = section(report, "Remembered-request cache on and off")
    assert [(r[0], r[1]) for r in memo] == [
        (f"token-{alg}-c{c}", "SQLite") for alg in ("es256", "rs256") for c in (16, 64)
    ], report
    for cells in memo:
        assert number(cells[6]) > 0, cells

    results = json.loads((out / "report.json").read_text())
    targets = {m["target"] for m in results["measurements"]}
    assert targets == {
        "realmgate-sqlite",
        "realmgate-sqlite-nomemo",
        "realmgate-granian",
        "realmgate-many-sqlite",
        "starlette",
    }
    assert all(m["requests"] > 0 for m in results["measurements"])
    assert all(r["rss"]["worker_max"] > 0 for r in results["target_runs"])
    assert all(r["first_token_s"] > 0 for r in results["target_runs"])


@pytest.mark.bench
@pytest.mark.timeout(300)
def test_memory_profile_prints_each_part_with_numbers() -> None:
    out = run_module("bench.memory", "--realms", "1000", timeout=240)
    assert float(re.search(r"total before any request +([\d.]+) MB", out)[1]) > 20  # type: ignore[index]
    assert float(re.search(r"P-256 signing key: ([\d.]+) KB", out)[1]) > 0  # type: ignore[index]
    per_realm = re.search(r"remembered grant: ([-\d.]+) KB", out)
    assert per_realm is not None and float(per_realm[1]) > 0, out
    assert re.search(r"floor with 1,000 realms .*: [\d.]+ MB; measured: [\d.]+ MB", out), out
