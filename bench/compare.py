"""Two tables of the report: the HTTP server chosen against the alternative (uvicorn vs granian,
the same application and database), and the ratios against node-oidc-provider with the
remembered-request cache off next to those with it on, against issue 14's targets."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from bench.report import NODE, PG, RG, fmt_ratio, met, ratios

if TYPE_CHECKING:
    from bench.cli import Results

GRANIAN = "realmgate-granian"
RG_NOMEMO = "realmgate-sqlite-nomemo"
PG_NOMEMO = "realmgate-pg-nomemo"
# Issue 14: with the remembered-request cache off, tokens/s against node-oidc-provider.
MEMO_OFF_TARGETS = {"es256": 2.0, "rs256": 1.4}


def _scenarios(results: Results, target: str) -> list[str]:
    return sorted({m.scenario for m in results.measurements if m.target == target})


def _median(results: Results, target: str, scenario: str, metric: str) -> float | None:
    values = [
        getattr(m, metric)
        for m in results.measurements
        if m.target == target and m.scenario == scenario
    ]
    return statistics.median(values) if values else None


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def server_table(results: Results) -> list[str]:
    """realmgate-sqlite (uvicorn) / realmgate-granian per scenario both ran."""
    both = [s for s in _scenarios(results, GRANIAN) if s in _scenarios(results, RG)]
    if not both:
        return []
    lines = [
        "",
        "### HTTP server: uvicorn (chosen) vs granian",
        "",
        f"`{RG}` is `realmgate serve` (uvicorn with realmgate's httptools protocol, workers "
        f"pinned one per core); `{GRANIAN}` is the same application (`asgi.app_from_env`) on "
        "granian's ASGI interface (`--loop uvloop`, as many workers, no pinning), on the same "
        "SQLite database. Ratio: uvicorn / granian per repetition.",
        "",
        "| scenario | uvicorn req/s | granian req/s | uvicorn / granian: median (range) | "
        "uvicorn p99 ms | granian p99 ms |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for sc in both:
        values = ratios(results, (RG, sc, "rps"), (GRANIAN, sc, "rps"))
        lines.append(
            f"| {sc} | {_num(_median(results, RG, sc, 'rps'), ',.0f')} | "
            f"{_num(_median(results, GRANIAN, sc, 'rps'), ',.0f')} | "
            f"{fmt_ratio(values) if values else '—'} | "
            f"{_num(_median(results, RG, sc, 'p99_ms'), '.2f')} | "
            f"{_num(_median(results, GRANIAN, sc, 'p99_ms'), '.2f')} |"
        )
    return lines


def memo_table(results: Results) -> list[str]:
    """Per database and token scenario: realmgate / node with the cache on and off, the
    target with it off, and cache off / cache on."""
    pairs = [
        (db, on, off)
        for db, on, off in (("SQLite", RG, RG_NOMEMO), ("PostgreSQL", PG, PG_NOMEMO))
        if _scenarios(results, off)
    ]
    if not pairs:
        return []
    lines = [
        "",
        "### Remembered-request cache on and off",
        "",
        "realmgate with the remembered-request cache (`token_request_cache_size`, on by default) "
        "and without it (`REALMGATE_TOKEN_REQUEST_CACHE_SIZE=0`: every request is parsed, its "
        "secret checked and its scope and audience decided by the policy, whose answer is kept "
        "per realm snapshot, client snapshot, requested scope and resources), each against "
        "node-oidc-provider in the "
        "same repetition. Issue 14's targets with the cache off (the met column says whether "
        "they hold): "
        + ", ".join(f"{alg.upper()} >= {bar:g}" for alg, bar in MEMO_OFF_TARGETS.items())
        + ".",
        "",
        "| scenario | database | vs node, cache on | vs node, cache off | target, cache off "
        "| met | cache off / cache on |",
        "|---|---|---|---|---|---|---|",
    ]
    for db, on, off in pairs:
        for sc in _scenarios(results, off):
            alg = sc.split("-")[1]
            bar = MEMO_OFF_TARGETS.get(alg)
            with_memo = ratios(results, (on, sc, "rps"), (NODE, sc, "rps"))
            without = ratios(results, (off, sc, "rps"), (NODE, sc, "rps"))
            effect = ratios(results, (off, sc, "rps"), (on, sc, "rps"))
            ok = "—"
            if without and bar is not None:
                ok = met(statistics.median(without) >= bar)
            lines.append(
                f"| {sc} | {db} | {fmt_ratio(with_memo) if with_memo else '—'} | "
                f"{fmt_ratio(without) if without else '—'} | "
                f"{'—' if bar is None else f'>= {bar:g}'} | {ok} | "
                f"{fmt_ratio(effect) if effect else '—'} |"
            )
    return lines
