"""The Markdown report, the ratios against the targets of the issue, and the PNG plot."""

from __future__ import annotations

import re
import shutil
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.cli import Results

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
RG = "realmgate-sqlite"
PG = "realmgate-pg"
NODE = "node-oidc-provider"
BARE = "starlette"


@dataclass
class Check:
    label: str
    num: tuple[str, str, str]  # target, scenario, metric
    den: tuple[str, str, str]
    op: str  # ">=" or "<="
    bar: float


def checks(conns: list[int]) -> list[Check]:
    lo, hi = min(conns), max(conns)
    out: list[Check] = []
    for db, tgt in (("SQLite", RG), ("PostgreSQL", PG)):
        for c in conns:
            out.append(
                Check(
                    f"RS256 req/s vs node-oidc-provider RS256, {c} conn. ({db})",
                    (tgt, f"token-rs256-c{c}", "rps"),
                    (NODE, f"token-rs256-c{c}", "rps"),
                    ">=",
                    1.3,
                )
            )
        for c in conns:
            out.append(
                Check(
                    f"ES256 req/s vs node-oidc-provider ES256, {c} conn. ({db})",
                    (tgt, f"token-es256-c{c}", "rps"),
                    (NODE, f"token-es256-c{c}", "rps"),
                    ">=",
                    2.0,
                )
            )
        for c in conns:
            out.append(
                Check(
                    f"ES256 req/s vs bare Starlette POST, {c} conn. ({db})",
                    (tgt, f"token-es256-c{c}", "rps"),
                    (BARE, f"post-c{c}", "rps"),
                    ">=",
                    0.5,
                )
            )
        for alg in ("rs256", "es256"):
            out.append(
                Check(
                    f"{alg.upper()} p99 vs node p99, {lo} conn. ({db})",
                    (tgt, f"token-{alg}-c{lo}", "p99_ms"),
                    (NODE, f"token-{alg}-c{lo}", "p99_ms"),
                    "<=",
                    1.0,
                )
            )
        out.append(
            Check(
                f"tenant API GET req/s vs bare Starlette GET, {hi} conn. ({db})",
                (tgt, f"get-c{hi}", "rps"),
                (BARE, f"get-c{hi}", "rps"),
                ">=",
                0.6,
            )
        )
        many = "realmgate-many-sqlite" if tgt == RG else "realmgate-many-pg"
        out.append(
            Check(
                f"many tenants vs one tenant, ES256 {hi} conn. ({db})",
                (many, f"many-es256-c{hi}", "rps"),
                (tgt, f"token-es256-c{hi}", "rps"),
                ">=",
                0.85,
            )
        )
    return out


def _index(results: Results) -> dict[tuple[int, str, str], Any]:
    return {(m.rep, m.target, m.scenario): m for m in results.measurements}


def ratios(results: Results, num: tuple[str, str, str], den: tuple[str, str, str]) -> list[float]:
    """``num`` / ``den`` (target, scenario, metric) in each repetition that measured both."""
    idx = _index(results)
    values = []
    for r in sorted({m.rep for m in results.measurements}):
        a = idx.get((r, num[0], num[1]))
        b = idx.get((r, den[0], den[1]))
        if a is None or b is None:
            continue
        da, db = getattr(a, num[2]), getattr(b, den[2])
        if db > 0:
            values.append(da / db)
    return values


def ratio_rows(results: Results) -> list[tuple[Check, list[float]]]:
    conns = list(results.options.get("connections", [16, 64]))  # type: ignore[call-overload]
    rows = []
    for ch in checks(conns):
        values = ratios(results, ch.num, ch.den)
        if values:
            rows.append((ch, values))
    return rows


def fmt_ratio(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(values):.2f} to {max(values):.2f})"


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _many_part(o: dict[str, object]) -> str:
    """The many-tenants database of the header, when that scenario ran (``--many``)."""
    if not o.get("many", True):
        return ""
    return (
        f"; many-tenants database: {int(o['tenants']):,} tenants x "  # type: ignore[call-overload]
        f"{o['clients_per_tenant']} clients (requests spread over up to "
        f"{int(o['spread']):,} of them)"  # type: ignore[call-overload]
    )


def markdown(results: Results, png: str) -> str:
    m = results.machine
    o = results.options
    lines = [
        f"Run {results.started} on {m['nproc']} cores ({m['cpu']}, {m['memory']}), "
        f"Linux {m['kernel']}, Python {m['python']}, node {m['node'] or '—'}.",
        "",
    ]
    if results.soak:
        return _soak_markdown(results, lines, png)
    lines += [
        f"{o['repetitions']} repetition(s), interleaved (the order of the servers rotates); "
        f"{o['duration']} s measured after {o['warmup']} s of warm-up per run; "
        f"`wrk -t{o['threads']}`; every server with {o['workers']} workers; token requests "
        f"spread over {o['clients_per_realm']} clients{_many_part(o)}.",
        "Ratios are realmgate / peer per repetition; the table gives the median (and the range).",
        "",
        "### Targets",
        "",
        "| check | target | ratio: median (range) | met |",
        "|---|---|---|---|",
    ]
    for ch, values in ratio_rows(results):
        med = statistics.median(values)
        ok = med >= ch.bar if ch.op == ">=" else med <= ch.bar
        lines.append(f"| {ch.label} | {ch.op} {ch.bar:g} | {fmt_ratio(values)} | {met(ok)} |")
    runs: dict[str, list[Any]] = defaultdict(list)
    for tr in results.target_runs:
        runs[tr.target].append(tr)
    for name in (RG, PG):
        if runs.get(name):
            worst = max(tr.rss["worker_max"] for tr in runs[name])
            lines.append(
                f"| RSS per worker after the runs, MB ({name}) | < 100 | {worst:.0f} "
                f"(largest) | {met(worst < 100)} |"
            )
            start = statistics.median(tr.first_token_s for tr in runs[name])
            lines.append(
                f"| start to first token, s ({name}, {o['workers']} workers) | < 1.5 | "
                f"{start:.2f} (median) | {met(start < 1.5)} |"
            )
    from bench import compare, dpop  # they build on this module's ratios

    lines += compare.server_table(results)
    lines += compare.memo_table(results)
    lines += dpop.report_table(results)
    lines += [
        "",
        "### Throughput and latency (medians over the repetitions)",
        "",
        "| scenario | server | req/s | p50 ms | p99 ms | errors | requests |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for meas in results.measurements:
        groups[(meas.scenario, meas.target)].append(meas)
    for (scenario, target), ms in sorted(groups.items()):
        lines.append(
            f"| {scenario} | {target} | {statistics.median(x.rps for x in ms):,.0f} | "
            f"{statistics.median(x.p50_ms for x in ms):.2f} | "
            f"{statistics.median(x.p99_ms for x in ms):.2f} | {sum(x.errors for x in ms)} | "
            f"{sum(x.requests for x in ms):,} |"
        )
    lines += [
        "",
        "### Memory and start-up per server",
        "",
        "| server | RSS per worker, MB (largest) | RSS of all workers, MB | RSS with supervisor, MB"
        " | start to first token, s (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, trs in sorted(runs.items()):
        lines.append(
            f"| {name} | {max(t.rss['worker_max'] for t in trs):.0f} | "
            f"{max(t.rss['workers'] for t in trs):.0f} | {max(t.rss['total'] for t in trs):.0f} | "
            f"{statistics.median(t.first_token_s for t in trs):.2f} |"
        )
    if results.notes:
        lines += ["", "Server log notes:", ""] + [f"- {n}" for n in results.notes]
    lines += ["", f"![throughput and p99 latency per scenario]({png})", ""]
    return "\n".join(lines)


def _soak_markdown(results: Results, lines: list[str], png: str) -> str:
    info = results.soak_info
    rows = results.soak
    lines += [
        f"Soak: two realmgate nodes ({int(info['workers_per_node'])} worker(s) each) on one "
        f"PostgreSQL database, {results.options['soak_alg']} tokens, at {info['load']:.0%} of the "
        f"measured capacity ({info['capacity_rps']:,.0f} req/s → target "
        f"{info['target_rps']:,.0f} req/s) for {info['duration_s']:.0f} s.",
        "",
        f"Total: {sum(r['requests'] for r in rows):,.0f} requests, "
        f"{sum(r['errors'] for r in rows):.0f} errors, worst p99 "
        f"{max(r['p99_ms'] for r in rows):.1f} ms, RSS per node "
        f"{rows[0]['rss_node1_mb']:.0f}/{rows[0]['rss_node2_mb']:.0f} MB at the start and "
        f"{rows[-1]['rss_node1_mb']:.0f}/{rows[-1]['rss_node2_mb']:.0f} MB at the end.",
        "",
        "| t, s | req/s | p50 ms | p99 ms | errors | RSS node 1, MB | RSS node 2, MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['t_s']:.0f} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['errors']:.0f} | {r['rss_node1_mb']:.0f} | {r['rss_node2_mb']:.0f} |"
        )
    lines += ["", f"![soak: throughput, p99 and RSS over time]({png})", ""]
    return "\n".join(lines)


COLORS = {
    RG: "#1f77b4",
    PG: "#17becf",
    "realmgate-many-sqlite": "#9467bd",
    "realmgate-many-pg": "#c5b0d5",
    "realmgate-granian": "#ff7f0e",
    "realmgate-sqlite-nomemo": "#aec7e8",
    "realmgate-pg-nomemo": "#9edae5",
    NODE: "#2ca02c",
    BARE: "#7f7f7f",
}


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if results.soak:
        rows = results.soak
        t = [r["t_s"] for r in rows]
        fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
        axes[0].plot(t, [r["rps"] for r in rows], marker="o")
        axes[0].set_ylabel("req/s")
        axes[1].plot(t, [r["p99_ms"] for r in rows], marker="o", color="#d62728")
        axes[1].set_ylabel("p99 ms")
        axes[2].plot(t, [r["rss_node1_mb"] for r in rows], marker="o", label="node 1")
        axes[2].plot(t, [r["rss_node2_mb"] for r in rows], marker="o", label="node 2")
        axes[2].set_ylabel("RSS MB")
        axes[2].set_xlabel("seconds")
        axes[2].legend()
        fig.suptitle(f"realmgate soak, 2 nodes on PostgreSQL ({results.started})")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return

    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for m in results.measurements:
        groups[(m.scenario, m.target)].append(m)
    keys = sorted(groups)
    labels = [f"{s} · {t}" for s, t in keys]
    rps = [statistics.median(x.rps for x in groups[k]) for k in keys]
    p99 = [statistics.median(x.p99_ms for x in groups[k]) for k in keys]
    colors = [COLORS.get(t, "#bcbd22") for _, t in keys]
    height = max(4.0, 0.32 * len(keys) + 1.5)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, height), sharey=True)
    y = range(len(keys))
    ax1.barh(y, rps, color=colors)
    ax1.set_yticks(list(y), labels, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("requests/s (median)")
    ax2.barh(y, p99, color=colors)
    ax2.set_xlabel("p99 latency, ms (median)")
    for ax in (ax1, ax2):
        ax.grid(axis="x", alpha=0.3)
    m = results.machine
    fig.suptitle(
        f"realmgate benchmark {results.started}, {m['nproc']} cores, {m['cpu']}", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_docs(md: str, png: Path, name: str) -> None:
    """Replace the generated section of docs/benchmarks.md and copy the plot next to it."""
    target_png = DOCS.parent / f"benchmarks-{name}.png"
    shutil.copyfile(png, target_png)
    md = md.replace(f"]({png.name})", f"]({target_png.name})")
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = DOCS.read_text() if DOCS.exists() else f"# Benchmarks\n\n{start}\n{end}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    text = re.sub(
        re.escape(start) + r".*?" + re.escape(end),
        lambda _: f"{start}\n{md.strip()}\n{end}",
        text,
        flags=re.S,
    )
    DOCS.write_text(text)
