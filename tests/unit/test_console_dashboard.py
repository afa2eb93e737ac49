"""The dashboard's chart data: the hour's window, the busiest tenants, the axis maxima."""

from __future__ import annotations

from realmgate.server.console.dashboard import MINUTES, TOP, _nice, build_chart, summarize
from realmgate.server.storage.records import TrafficRow


def test_summarize_keeps_the_window_and_orders_by_tokens() -> None:
    first = 1000
    rows = [
        TrafficRow(first - 1, "old", 50, 0),  # before the window
        TrafficRow(first + MINUTES, "future", 50, 0),  # after it
        TrafficRow(first, "a", 10, 1),
        TrafficRow(first + 59, "a", 5, 0),
        TrafficRow(first + 3, "b", 30, 4),
    ]
    tenants, failures = summarize(rows, first)
    assert [t.tenant for t in tenants] == ["b", "a"]
    assert (tenants[1].tokens, tenants[1].failures) == (15, 1)
    assert tenants[1].per_minute[0] == 10 and tenants[1].per_minute[59] == 5
    assert len(failures) == MINUTES and failures[0] == 1 and failures[3] == 4 and sum(failures) == 5


def test_chart_draws_the_top_tenants_only() -> None:
    rows = [TrafficRow(0, f"t{i}", 60 * (i + 1), i) for i in range(TOP + 3)]
    chart = build_chart(*summarize(rows, 0))
    assert [name for name, _, _ in chart.lines] == [f"t{i}" for i in range(7, 7 - TOP, -1)]
    assert chart.token_max >= 8  # tokens/s of the busiest minute: 480 / 60
    assert chart.failure_max >= 7
    assert len(chart.bars) == MINUTES
    for _, points, _ in chart.lines:
        ys = [float(p.split(",")[1]) for p in points.split()]
        assert len(ys) == MINUTES and all(chart.top_y <= y <= chart.top_bottom for y in ys)


def test_empty_hour() -> None:
    chart = build_chart(*summarize([], 0))
    assert chart.lines == [] and chart.token_max == 1.0 and chart.failure_max == 1
    assert "no tenant" in chart.label


def test_nice_maxima() -> None:
    assert _nice(0) == 1.0
    assert _nice(0.05) == 0.1
    assert _nice(3) >= 3 and _nice(7.5) >= 7.5 and _nice(480) >= 480
    assert _nice(1234) >= 1234
