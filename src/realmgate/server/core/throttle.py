"""Throttling of failed client authentication, and a rate limit on token issuance.

Failed authentications are counted per source address (IPv6 by /64) and per (tenant,
clientId) in a sliding window (``storage/sliding.py``). Past a number of free failures each
further failure blocks the key with exponential back-off up to a cap; a blocked key is answered
429 with ``Retry-After`` before any credential is looked at, so a blocked attempt is not
counted either.

A client's block (from the failures of all sources together) does not apply to a *known good
source* of that client: one that authenticated it within ``known_source_ttl``. An attacker
without the secret cannot become one, so the client block still stops guessing from many
addresses, while the client's own machines keep getting tokens. A source's own block applies
to everyone at that address.

The counters, the blocks and the known good sources live in a shared store (the database, or
Redis: :class:`FailureCounters`). The request path reads only this worker's memory: a failure
is counted in a worker thread, a success only noted in memory, and :meth:`Throttle.run`
exchanges the rest with the store in the background (the known good sources this worker saw,
the blocks and known good sources that other workers and nodes wrote).

An admin may unblock a client, a source or everything of a tenant (:func:`unblock`): the marks
and failure counts go from the shared store, and a ``throttle`` row in the change feed makes
every worker of every node drop them from memory (:meth:`Throttle.unblocked`). A source's block
is global; a *tag* mark (``srcof:<tenant> <source>``) records the tenant whose failures started
it, so a tenant's admins see and clear the blocks their own clients caused, no others.

The issuance rate limit is a token bucket per client and node (``token_rate_limit`` per second,
``token_rate_burst`` at once).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import anyio
import anyio.to_thread

log = logging.getLogger("realmgate.audit")
MAX_TRACKED = 100_000
GOOD = "good:"  # prefix of the marks of known good sources
SOURCE_OF = "srcof:"  # prefix of the tags: which tenant's failures blocked a source
CLIENT = "client:"
SOURCE = "src:"
# How long an unblock keeps a read of the shared marks that began before it from restoring
# the block it removed (see Throttle.sync).
UNBLOCK_MEMORY = 120.0
# Seconds of overlap between two reads of the shared marks: a mark stamped by a writer whose
# clock is behind, or committed after the read began, is still read the next time.
SYNC_OVERLAP = 10.0


class FailureCounters(Protocol):
    """Shared state: the SQL store, or ``realmgate.server.redis_counters.RedisCounters``.

    A *mark* is a key with an end time: a block (``src:...``, ``client:...``) or a known good
    source (``good:...``). Every operation is atomic against concurrent writers.
    """

    def count_auth_failure(self, key: str, now: float, window: int) -> int:
        """Count a failure; return the key's failures in the sliding window ending at now."""
        ...

    def raise_marks(self, marks: Mapping[str, float], now: float) -> None:
        """Make each mark end at its time unless it ends later already (never lowers)."""
        ...

    def marks_since(self, since: float, now: float) -> dict[str, float]:
        """The marks raised at or after ``since`` (writers' clocks) still in force at ``now``."""
        ...

    def marks_with_prefix(self, prefix: str, now: float, limit: int) -> dict[str, float]:
        """At most ``limit`` marks whose key starts with ``prefix`` still in force at ``now``."""
        ...

    def clear_marks(self, keys: Sequence[str]) -> None:
        """End the marks of ``keys`` and forget their failures (an admin's unblock)."""
        ...


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window: int = 300
    source_free: int = 10
    source_cap: float = 300.0
    client_free: int = 20
    client_cap: float = 10.0
    base: float = 1.0
    known_source_ttl: float = 86_400.0

    def delay(self, failures: int, free: int, cap: float) -> float:
        if failures <= free:
            return 0.0
        return float(min(cap, self.base * 2 ** min(failures - free - 1, 30)))

    @property
    def known_source_refresh(self) -> float:
        """How often a known good source's mark is written again while it keeps succeeding."""
        return min(3600.0, self.known_source_ttl / 4)


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
    return f"{CLIENT}{tenant}:{client_id[:128]}"


def source_tag(tenant: str, source: str) -> str:
    """The mark that ties the block of ``source`` (a :func:`source_key`) to ``tenant``."""
    return f"{SOURCE_OF}{tenant} {source}"


Known = tuple[str, str, str]  # tenant, client id, source key
K = TypeVar("K")


def good_key(tenant: str, client_id: str, source: str) -> str:
    """The shared mark of ``source`` (a :func:`source_key`) as a known good source of the
    client. Shortcodes hold no ``:`` and client ids no space (``wire.names``)."""
    return f"{GOOD}{tenant}:{client_id[:128]} {source}"


def _known_from(key: str) -> Known:
    tenant, _, rest = key[len(GOOD) :].partition(":")
    client_id, _, source = rest.partition(" ")
    return tenant, client_id, source


def _bounded_put(table: OrderedDict[K, float], key: K, until: float) -> None:
    table[key] = max(until, table.get(key, 0.0))
    table.move_to_end(key)
    while len(table) > MAX_TRACKED:
        table.popitem(last=False)


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
        self._good: OrderedDict[Known, float] = OrderedDict()  # known good source -> end
        self._unpublished: dict[str, float] = {}  # good_key -> end, not yet in the store
        self._ttl = self.policy.known_source_ttl
        self._refresh = self.policy.known_source_refresh
        self._synced_to = 0.0  # the next read of the shared marks starts here
        self._unblocked_at: dict[str, float] = {}  # key -> when an admin's unblock arrived
        self.refused = 0  # requests answered 429 because a key was blocked
        self.blocks = 0  # blocks started

    # the request path: memory only ------------------------------------------------
    def retry_after(self, source: str, tenant: str, client_id: str) -> int | None:
        """Seconds to wait when the source, or the client for a source that is not one of its
        known good ones, is blocked (memory only, no I/O)."""
        if not self._blocked:
            return None
        now = self.clock()
        worst = self._remaining(source, now)
        client_wait = self._remaining(client_key(tenant, client_id), now)
        if client_wait > worst and not self._known((tenant, client_id[:128], source), now):
            worst = client_wait
        if worst > 0:
            self.refused += 1
            return int(worst) + 1
        return None

    def succeeded(self, source: str, tenant: str, client_id: str) -> None:
        """Note that ``source`` authenticated the client (memory only; :meth:`sync` writes it)."""
        key = (tenant, client_id[:128], source)
        now = self.clock()
        if self._good.get(key, 0.0) >= now + self._ttl or self._ttl <= 0:
            return
        # written again only every known_source_refresh, so it must last that much longer
        until = now + self._ttl + self._refresh
        _bounded_put(self._good, key, until)
        if len(self._unpublished) < MAX_TRACKED:
            self._unpublished[good_key(*key)] = until

    def _remaining(self, key: str, now: float) -> float:
        until = self._blocked.get(key)
        if until is None:
            return 0.0
        if until <= now:
            del self._blocked[key]
            return 0.0
        return until - now

    def _known(self, key: Known, now: float) -> bool:
        until = self._good.get(key)
        if until is None:
            return False
        if until <= now:
            del self._good[key]
            return False
        return True

    def _block(self, key: str, until: float) -> None:
        _bounded_put(self._blocked, key, until)

    # failures: counted in a worker thread -------------------------------------------
    def _count(self, source: str, tenant: str, client_id: str) -> dict[str, float]:
        now = self.clock()
        p = self.policy
        blocks = {}
        for key, free, cap in (
            (source, p.source_free, p.source_cap),
            (client_key(tenant, client_id), p.client_free, p.client_cap),
        ):
            failures = self.counters.count_auth_failure(key, now, p.window)
            delay = p.delay(failures, free, cap)
            if delay:
                blocks[key] = now + delay
        if blocks:
            marks = dict(blocks)
            if source in blocks:
                marks[source_tag(tenant, source)] = blocks[source]
            self.counters.raise_marks(marks, now)
        return blocks

    async def failed(self, source: str, tenant: str, client_id: str) -> None:
        """Count a failed authentication (in a worker thread: it writes shared counters)."""
        try:
            blocks = await anyio.to_thread.run_sync(self._count, source, tenant, client_id)
        except Exception:  # the counters' store is away: fail open, keep answering 401
            log.warning("auth throttle: cannot count a failure", exc_info=True)
            return
        for key, until in blocks.items():
            self.blocks += 1
            self._block(key, until)
            log.warning(
                "auth throttle: %s blocked for %.0f s",
                key,
                until - self.clock(),
                extra={"event": "auth.throttled", "key": key, "tenant": tenant},
            )

    # the exchange with the shared store, in the background ----------------------------
    def _exchange(self, publish: dict[str, float], since: float, now: float) -> dict[str, float]:
        if publish:
            self.counters.raise_marks(publish, now)
        return self.counters.marks_since(since, now)

    async def sync(self) -> None:
        """Write the known good sources seen here; read the marks the others wrote."""
        publish, self._unpublished = self._unpublished, {}
        now = self.clock()
        self._forget_unblocks(now)
        try:
            marks = await anyio.to_thread.run_sync(self._exchange, publish, self._synced_to, now)
        except Exception:  # the store is away: keep what we have, try again next time
            log.warning("auth throttle: cannot read the shared blocks", exc_info=True)
            for key, until in publish.items():
                if len(self._unpublished) < MAX_TRACKED:
                    self._unpublished[key] = max(until, self._unpublished.get(key, 0.0))
            return
        self._synced_to = now - SYNC_OVERLAP
        for key, until in marks.items():
            if key.startswith(GOOD):
                _bounded_put(self._good, _known_from(key), until)
            elif key.startswith(SOURCE_OF):
                continue  # tags are for the admin API, not for the request path
            elif self._unblocked_at.get(key, -1.0) < now:
                self._block(key, until)
            # else: this read may have begun before the unblock took the mark away

    def unblocked(self, tenant: str, key: str) -> None:
        """An admin unblocked ``key`` of ``tenant`` (a client id, or a :func:`source_key`):
        called by the change-feed reader, on every worker of every node."""
        full = key if key.startswith(SOURCE) else client_key(tenant, key)
        self._blocked.pop(full, None)
        self._unblocked_at[full] = self.clock()
        log.info(
            "auth throttle: %s unblocked",
            full,
            extra={"event": "auth.unblocked", "key": full, "tenant": tenant},
        )

    def _forget_unblocks(self, now: float) -> None:
        if self._unblocked_at:
            old = [k for k, at in self._unblocked_at.items() if at < now - UNBLOCK_MEMORY]
            for key in old:
                del self._unblocked_at[key]

    async def run(self, interval: float) -> None:
        """:meth:`sync` now and then every ``interval`` seconds (a background task)."""
        while True:
            try:
                await self.sync()
            except Exception:  # never end the task (and with it the server's task group)
                log.warning("auth throttle: sync failed", exc_info=True)
            await anyio.sleep(interval)


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
