"""The dashboard: tokens/s of the five busiest tenants and failed client authentications per
minute over the last hour (an inline SVG drawn here, from the traffic rows every worker of
every node writes), the tenants' counts, and what the throttle blocks now.

The chart uses classes and presentation attributes only (the CSP allows no inline style).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.web import ConsoleUser, env_of, ops_service, page, render, run
from realmgate.server.core.admin_blocks import list_blocks
from realmgate.server.storage.records import TrafficRow

MINUTES = 60
TOP = 5
W, H = 720, 320
LEFT, RIGHT = 56, 12
TOP_Y, TOP_H = 16, 170  # tokens/s panel
BOT_Y, BOT_H = 230, 60  # failures/min panel
MAX_TABLE = 200
BLOCKS_SHOWN = 50


@dataclass
class TenantTraffic:
    tenant: str
    tokens: int = 0
    failures: int = 0
    per_minute: list[int] = field(default_factory=lambda: [0] * MINUTES)


@dataclass(frozen=True)
class Chart:
    """What the template draws: coordinates already computed."""

    lines: list[tuple[str, str, int]]  # (tenant, "x,y x,y ...", series index)
    bars: list[tuple[float, float, float, int]]  # (x, y, height, failures) per minute
    token_max: float  # tokens/s at the top of the upper panel
    failure_max: int
    x_ticks: list[tuple[float, str]]
    label: str
    width: int = W
    height: int = H
    left: int = LEFT
    right: int = W - RIGHT
    top_y: int = TOP_Y
    top_bottom: int = TOP_Y + TOP_H
    bot_y: int = BOT_Y
    bot_bottom: int = BOT_Y + BOT_H


def summarize(rows: list[TrafficRow], first_minute: int) -> tuple[list[TenantTraffic], list[int]]:
    """Per tenant (busiest first) and the failures of every minute of the window."""
    tenants: dict[str, TenantTraffic] = {}
    failures = [0] * MINUTES
    for row in rows:
        i = row.minute - first_minute
        if not 0 <= i < MINUTES:
            continue
        t = tenants.setdefault(row.tenant, TenantTraffic(row.tenant))
        t.tokens += row.tokens
        t.failures += row.failures
        t.per_minute[i] += row.tokens
        failures[i] += row.failures
    ordered = sorted(tenants.values(), key=lambda t: (-t.tokens, -t.failures, t.tenant))
    return ordered, failures


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for mult in (1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        if step * mult >= value:
            return step * mult
    return value


def build_chart(tenants: list[TenantTraffic], failures: list[int]) -> Chart:
    top = [t for t in tenants if t.tokens > 0][:TOP]
    token_max = _nice(max((c / 60 for t in top for c in t.per_minute), default=0.0))
    failure_max = int(_nice(max(failures, default=0)))
    span = (W - RIGHT - LEFT) / (MINUTES - 1)
    lines = []
    for n, t in enumerate(top):
        points = " ".join(
            f"{LEFT + i * span:.1f},{TOP_Y + TOP_H - (c / 60) / token_max * TOP_H:.1f}"
            for i, c in enumerate(t.per_minute)
        )
        lines.append((t.tenant, points, n))
    bar_w = (W - RIGHT - LEFT) / MINUTES
    bars = []
    for i, f in enumerate(failures):
        h = f / failure_max * BOT_H if f else 0.0
        bars.append((LEFT + i * bar_w, BOT_Y + BOT_H - h, h, f))
    ticks = [
        (LEFT + i * span, f"-{MINUTES - 1 - i} min" if i < MINUTES - 1 else "now")
        for i in (0, 14, 29, 44, 59)
    ]
    total_failures = sum(failures)
    names = ", ".join(t.tenant for t in top) or "no tenant"
    label = (
        f"Tokens per second over the last hour for the busiest tenants ({names}); "
        f"{total_failures} failed authentications in the hour."
    )
    return Chart(lines, bars, token_max, failure_max, ticks, label)


@page("read")
async def dashboard(request: Request, user: ConsoleUser) -> Response:
    env = env_of(request)
    now = time.time()
    first = int(now) // 60 - (MINUTES - 1)
    rows = await run(env.store.traffic_since, first)
    tenants, failures = summarize(rows, first)
    ops = ops_service(request, user)
    blocks = await run(list_blocks, ops, now, BLOCKS_SHOWN + 1)
    tenant_count = await run(env.store.count_tenants)
    return render(
        request,
        "dashboard.html",
        {
            "title": "Dashboard",
            "chart": build_chart(tenants, failures),
            "tenants": tenants[:MAX_TABLE],
            "more_tenants": max(0, len(tenants) - MAX_TABLE),
            "tenant_count": tenant_count,
            "tokens_total": sum(t.tokens for t in tenants),
            "failures_total": sum(failures),
            "blocks": blocks[:BLOCKS_SHOWN],
            "more_blocks": len(blocks) > BLOCKS_SHOWN,
            "now": now,
        },
        user=user,
    )


routes: list[BaseRoute] = [Route("/", dashboard, methods=["GET"])]
