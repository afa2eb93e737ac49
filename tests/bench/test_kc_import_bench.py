"""``python -m bench.kc_import`` runs end to end on both backends and reports its times (the real
run imports 10,000 clients; this smoke run a few). No timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench
def test_kc_import_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "kc-import.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.kc_import", "--clients", "20", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "clients/s" in proc.stdout
    result = json.loads(out.read_text())
    rows = {row["backend"]: row for row in result["results"]}
    assert set(rows) == {"sqlite", "postgres"}
    for row in rows.values():
        assert row["clients"] == 20
        assert row["outcome"] == "imported"
        assert row["import_s"] > 0 and row["dry_run_s"] > 0
