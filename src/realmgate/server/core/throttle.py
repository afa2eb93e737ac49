"""Throttling of failed client authentication, and a rate limit on token issuance.

Failed authentications are counted per source address (IPv6 by /64) and per (tenant,
clientId) in a sliding window. Past a number of free failures each further failure blocks the
key with exponential back-off up to a cap; a blocked key is answered 429 with ``Retry-After``
before any credential is looked at. Limits per source bite first and last long; the per-client
limit needs many more failures and is capped short, so an attacker cannot lock a legitimate
client out for long. Counters are shared by all nodes (the database, or Redis); the check on
the request path reads only this node's memory, so successful requests stay on the fast path.

The issuance rate limit is a token bucket per client and node (``token_rate_limit`` per second,
``token_rate_burst`` at once).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import anyio.to_thread

log = logging.getLogger("realmgate.audit")
MAX_TRACKED = 100_000


class FailureCounters(Protocol):
    """Shared counters: the SQL store, or ``realmgate.server.redis_counters.RedisCounters``."""

    def count_auth_failure(self, key: str, now: int, window: int) -> int: ...
    def set_blocked_until(self, key: str, until: float) -> None: ...
    def blocked_until(self, keys: list[str]) -> dict[str, float]: ...


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window: int = 300
    source_free: int = 10
    source_cap: float = 300.0
    client_free: int = 20
    client_cap: float = 10.0
    base: float = 1.0

    def delay(self, failures: int, free: int, cap: float) -> float:
        if failures <= free:
            return 0.0
        return float(min(cap, self.base * 2 ** min(failures - free - 1, 30)))


@functools.lru_cache(maxsize=4096)  # parsing an address costs more than the rest of the check
def source_key(address: str | None) -> str:
    """``src:<ip>``; IPv6 addresses by their /64, which one host can fill at will."""
    if not address:
        return "src:unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"src:{address[:64]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"src:{ip.ipv4_mapped}"
        return f"src:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"src:{ip}"


def client_key(tenant: str, client_id: str) -> str:
    return f"client:{tenant}:{client_id[:128]}"


class Throttle:
    def __init__(
        self,
        counters: FailureCounters,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.counters = counters
        self.policy = policy or ThrottlePolicy()
        self.clock = clock
        self._blocked: OrderedDict[str, float] = OrderedDict()
        self.refused = 0  # requests answered 429 because a key was blocked
        self.blocks = 0  # blocks started

    def retry_after(self, source: str, tenant: str, client_id: str) -> int | None:
        """Seconds to wait when the source or the client is blocked (memory only, no I/O)."""
        if not self._blocked:
            return None
        now = self.clock()
        worst = 0.0
        for key in (source, client_key(tenant, client_id)):
            until = self._blocked.get(key)
            if until is not None:
                if until <= now:
                    del self._blocked[key]
                else:
                    worst = max(worst, until - now)
        if worst > 0:
            self.refused += 1
            return int(worst) + 1
        return None

    def _block(self, key: str, until: float) -> None:
        self._blocked[key] = max(until, self._blocked.get(key, 0.0))
        self._blocked.move_to_end(key)
        while len(self._blocked) > MAX_TRACKED:
            self._blocked.popitem(last=False)

    def _count(self, source: str, tenant: str, client_id: str) -> list[tuple[str, float]]:
        now = self.clock()
        p = self.policy
        blocks = []
        for key, free, cap in (
            (source, p.source_free, p.source_cap),
            (client_key(tenant, client_id), p.client_free, p.client_cap),
        ):
            failures = self.counters.count_auth_failure(key, int(now), p.window)
            delay = p.delay(failures, free, cap)
            if delay:
                self.counters.set_blocked_until(key, now + delay)
                blocks.append((key, now + delay))
        return blocks

    async def failed(self, source: str, tenant: str, client_id: str) -> None:
        """Count a failed authentication (in a worker thread: it writes shared counters)."""
        try:
            blocks = await anyio.to_thread.run_sync(self._count, source, tenant, client_id)
        except Exception:  # the counters' store is away: fail open, keep answering 401
            log.warning("auth throttle: cannot count a failure", exc_info=True)
            return
        for key, until in blocks:
            self.blocks += 1
            self._block(key, until)
            log.warning(
                "auth throttle: %s blocked for %.0f s",
                key,
                until - self.clock(),
                extra={"event": "auth.throttled", "key": key, "tenant": tenant},
            )


class RateLimiter:
    """Token buckets per key: ``rate`` per second, at most ``burst`` at once (this node)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> int | None:
        """None when allowed; else the seconds to wait."""
        if self.rate <= 0:
            return None
        now = self.clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return int((1.0 - tokens) / self.rate) + 1
        self._buckets[key] = (tokens - 1.0, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > MAX_TRACKED:
            self._buckets.popitem(last=False)
        return None
