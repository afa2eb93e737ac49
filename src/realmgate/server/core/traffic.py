"""Tokens issued and failed client authentications per tenant and minute, for the console's
dashboard.

Each worker counts in memory (:class:`TrafficRecorder`, on its event-loop thread only: no
lock, one dict increment per token) and :func:`flush_traffic` adds the counts to the
database every ``traffic_flush_interval`` seconds, so the dashboard, which reads the
database, shows every worker of every node.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import TrafficRow

log = logging.getLogger("realmgate.traffic")

# Distinct tenants counted per drain per worker; the rest are summed under OTHER, so a flood
# of requests naming made-up tenants cannot grow memory or the table.
MAX_TENANTS_PER_MINUTE = 1000
OTHER = "(other)"
# Rows older than this are deleted by the maintenance task.
KEEP_SECONDS = 2 * 86_400


class TrafficRecorder:
    """Per-tenant counters of one worker since the last drain. Not thread-safe by design: call
    :meth:`record` and :meth:`drain` from the event loop's thread only.

    The token path pays one dict lookup and one increment (no clock read): the counts are
    given the minute of the :meth:`drain` that collects them, which :func:`flush_traffic`
    does every ``traffic_flush_interval`` seconds (10 by default), so a count lands at most
    that late in the chart."""

    __slots__ = ("_clock", "_counts")

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        # tenant -> [tokens, failures] since the last drain
        self._counts: dict[str, list[int]] = {}

    def record(self, tenant: str, ok: bool) -> None:
        """A token issued (``ok``) or a failed client authentication of ``tenant``."""
        counts = self._counts.get(tenant)
        if counts is None:
            if len(self._counts) >= MAX_TENANTS_PER_MINUTE:
                tenant = OTHER
                counts = self._counts.get(OTHER)
            if counts is None:
                counts = self._counts[tenant] = [0, 0]
        counts[0 if ok else 1] += 1

    def drain(self) -> list[TrafficRow]:
        """The counts since the last drain, as rows of the current minute (and forget them)."""
        counts, self._counts = self._counts, {}
        minute = int(self._clock()) // 60
        return [
            TrafficRow(minute=minute, tenant=tenant, tokens=c[0], failures=c[1])
            for tenant, c in counts.items()
        ]

    def __len__(self) -> int:
        return len(self._counts)


async def flush_traffic(recorder: TrafficRecorder, store: Store, interval: float) -> None:
    """Run for the worker's life: every ``interval`` seconds, add the drained counts to the
    database. A failed write is logged and its counts dropped (a chart, not an account)."""
    while True:
        await anyio.sleep(interval)
        await flush_once(recorder, store)


async def flush_once(recorder: TrafficRecorder, store: Store) -> int:
    """Drain and write once (also at shutdown); returns the rows written."""
    rows = recorder.drain()
    if not rows:
        return 0
    try:
        await anyio.to_thread.run_sync(store.add_traffic, rows)
    except Exception:
        log.warning("could not write %d traffic rows; dropped", len(rows), exc_info=True)
        return 0
    return len(rows)


def prune_before(now: float) -> int:
    """The first minute kept by the maintenance task's ``store.prune_traffic``."""
    return (int(now) - KEEP_SECONDS) // 60


__all__ = [
    "KEEP_SECONDS",
    "MAX_TENANTS_PER_MINUTE",
    "OTHER",
    "TrafficRecorder",
    "flush_once",
    "flush_traffic",
    "prune_before",
]
