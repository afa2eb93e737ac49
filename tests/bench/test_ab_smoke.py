"""``python -m bench.ab`` (the A/B of trees that notes report): a one-round run of this tree
with the remembered-request cache on and off gives a table with a figure for each. No timing
assertions."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from bench.ab import parse_variant

from tests.bench.test_bench_smoke import number, run_module

ROOT = Path(__file__).resolve().parents[2]


def test_variants_name_a_tree_and_the_cache_mode() -> None:
    assert parse_variant(f"new={ROOT}:nomemo").memo is False
    assert parse_variant(f"old={ROOT}").tree == ROOT
    for bad in ("nothing", f"={ROOT}", f"x={ROOT}:fast"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_variant(bad)


@pytest.mark.bench
@pytest.mark.timeout(300)
def test_one_round_reports_each_variant() -> None:
    assert shutil.which("wrk"), "the benchmark needs wrk: apt-get install -y wrk"
    out = run_module(
        "bench.ab",
        "--rounds",
        "1",
        "--duration",
        "1",
        "--warmup",
        "1",
        f"on={ROOT}",
        f"off={ROOT}:nomemo",
        timeout=240,
    )
    rows = {
        cells[0]: cells[1:]
        for cells in (
            [c.strip() for c in line.strip("|").split("|")]
            for line in out.splitlines()
            if line.startswith("| o")
        )
    }
    assert set(rows) == {"on", "off"}, out
    for cost, rps in rows.values():
        assert number(cost) > 0 and number(rps) > 0
