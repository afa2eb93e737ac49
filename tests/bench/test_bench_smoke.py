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


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_smoke_run_writes_a_report_with_numbers(tmp_path: Path) -> None:
    assert shutil.which("wrk"), "the benchmark needs wrk: apt-get install -y wrk"
    out = tmp_path / "results"
    run_module("bench", "--smoke", "--no-node", "--no-pg", "--out", str(out), timeout=540)

    report = (out / "report.md").read_text()
    assert (out / "report.png").stat().st_size > 1000
    assert "### Targets" in report
    # Every measured row carries real numbers.
    rows = [line for line in report.splitlines() if re.match(r"\| (token|get|post|many)-", line)]
    assert len(rows) >= 7, report
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[2].replace(",", "")) > 0, line  # req/s
        assert float(cells[4]) > 0, line  # p99 ms

    results = json.loads((out / "report.json").read_text())
    targets = {m["target"] for m in results["measurements"]}
    assert {"realmgate-sqlite", "realmgate-many-sqlite", "starlette"} <= targets
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
