"""The machinery of the realm and client caches (see :mod:`realmgate.server.core.realms`).

:class:`TtlLru` is a bounded LRU map whose entries expire. :class:`BatchLoader` answers the
misses: one load per key at a time (concurrent lookups of a key wait for the load already
running: a cold start or an expiry is no stampede), and the keys missed meanwhile are loaded
together, in one query, in one trip to a worker thread. At most ``concurrency`` loads run at
once; under no contention a load is a batch of one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
TTL_JITTER = 0.1  # entries live ttl * (1 - U(0, TTL_JITTER)): loaded together, not expired together


class _Missing:
    pass


MISSING = _Missing()


class TtlLru(Generic[K, V]):
    """A bounded LRU map whose entries expire after about ``ttl`` seconds (a plain dict in
    recency order: smaller per entry than an OrderedDict). An expired entry stays until it is
    replaced or dropped, so that it can be served while it is being reloaded."""

    def __init__(self, maxsize: int, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._data: dict[K, tuple[float, V]] = {}
        self._maxsize = maxsize
        self._ttl = ttl
        self._clock = clock
        self._random = random.Random()  # noqa: S311 (jitter, not a secret)

    def lookup(self, key: K) -> tuple[V | _Missing, bool]:
        """(value or ``MISSING``, whether it is still fresh)."""
        hit = self._data.pop(key, None)
        if hit is None:
            return MISSING, False
        self._data[key] = hit  # now the most recent
        return hit[1], hit[0] >= self._clock()

    def get(self, key: K) -> V | _Missing:
        value, fresh = self.lookup(key)
        return value if fresh else MISSING

    def put(self, key: K, value: V) -> None:
        ttl = self._ttl * (1.0 - TTL_JITTER * self._random.random())
        self._data.pop(key, None)
        self._data[key] = (self._clock() + ttl, value)
        if len(self._data) > self._maxsize:
            del self._data[next(iter(self._data))]

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def drop_where(self, predicate: Callable[[K], bool]) -> None:
        for key in [k for k in self._data if predicate(k)]:
            del self._data[key]

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class _Flight(Generic[V]):
    """One key's load, queued or running; the lookups of the key wait for it."""

    __slots__ = ("done", "error", "evicted", "failed", "running", "value")

    def __init__(self) -> None:
        self.running = False
        self.done = False
        self.failed = False  # the whole batch failed (e.g. the database is away)
        self.evicted = False  # changed while it ran: what it read is not cached
        self.error: Exception | None = None  # this key failed (e.g. a key that cannot load)
        self.value: V | None = None


# What a batch load returns per key: the value, or the error of that key alone. Keys left out
# do not exist (cached as None).
Loaded = Mapping[K, V | Exception]


class BatchLoader(Generic[K, V]):
    """Cache misses of one kind, loaded once per key and in batches (see the module)."""

    def __init__(
        self,
        cache: TtlLru[K, V | None],
        load_many: Callable[[list[K]], Loaded[K, V]],
        *,
        concurrency: int = 2,
        max_batch: int = 64,
    ):
        self.cache = cache
        self._load_many = load_many
        self._concurrency = max(1, concurrency)
        self._max_batch = max(1, max_batch)
        self._flights: dict[K, _Flight[V]] = {}
        self._queue: dict[K, _Flight[V]] = {}  # not started yet, oldest first
        self._running = 0
        self._changed: anyio.Event | None = None  # set when a batch ends
        self.hits = 0  # lookups answered from memory (or by another lookup's load)
        self.loaded = 0  # keys loaded from the store
        self.batches = 0

    async def get(self, key: K) -> V | None:
        value, fresh = self.cache.lookup(key)
        if fresh:  # the hot path: no second coroutine
            self.hits += 1
            return value  # type: ignore[return-value]
        return (await self._missed(key, value))[0]

    async def fetch(self, key: K) -> tuple[V | None, bool]:
        """The value, and whether it was read from the store for this lookup (by its own load
        or by the load of the key it joined); False: answered from memory."""
        value, fresh = self.cache.lookup(key)
        if fresh:
            self.hits += 1
            return value, False  # type: ignore[return-value]
        return await self._missed(key, value)

    async def _missed(self, key: K, value: V | _Missing | None) -> tuple[V | None, bool]:
        flight = self._flights.get(key)
        if flight is not None and not isinstance(value, _Missing):
            self.hits += 1  # being reloaded: the expired value meanwhile
            return value, False
        return await self._wait(key, flight), True

    async def reread(self, key: K) -> V | None:
        """Load ``key`` whether it is cached or not, the way a miss does (queued, batched, one
        load per key at a time); lookups meanwhile are answered with the cached value."""
        return await self._wait(key, self._flights.get(key))

    async def _wait(self, key: K, flight: _Flight[V] | None) -> V | None:
        """Start a load of ``key`` (or join ``flight``, the one queued or running) and wait."""
        if flight is None:
            flight = self._flights[key] = self._queue[key] = _Flight()
        else:
            self.hits += 1
        while not flight.done:
            if not flight.running and self._running < self._concurrency:
                await self._run(key)
            else:
                if self._changed is None:
                    self._changed = anyio.Event()
                await self._changed.wait()
        if flight.error is not None:
            raise flight.error
        if flight.failed:  # not shared: this lookup tries once more and fails on its own
            return await self._load_alone(key)
        return flight.value

    async def _load_alone(self, key: K) -> V | None:
        loaded = await anyio.to_thread.run_sync(self._load_many, [key])
        self.loaded += 1
        value = loaded.get(key)
        if isinstance(value, Exception):
            raise value
        self.cache.put(key, value)
        return value

    async def _run(self, first: K) -> None:
        """Load ``first`` and the oldest other queued keys, up to ``max_batch``."""
        batch = {first: self._queue.pop(first)}
        while self._queue and len(batch) < self._max_batch:
            key = next(iter(self._queue))
            batch[key] = self._queue.pop(key)
        for flight in batch.values():
            flight.running = True
        self._running += 1
        self.batches += 1
        try:
            loaded = await anyio.to_thread.run_sync(self._load_many, list(batch))
        except BaseException:
            for key, flight in batch.items():
                flight.failed = True
                self.cache.pop(key)  # no expired value served past a failed reload
            raise
        else:
            self.loaded += len(batch)
            for key, flight in batch.items():
                value = loaded.get(key)
                if isinstance(value, Exception):
                    flight.error = value
                else:
                    flight.value = value
                    if not flight.evicted:
                        self.cache.put(key, value)
        finally:
            self._running -= 1
            for key, flight in batch.items():
                flight.done = True
                if self._flights.get(key) is flight:
                    del self._flights[key]
            changed, self._changed = self._changed, None
            if changed is not None:
                changed.set()

    def evict(self, key: K) -> None:
        """Drop ``key``; a load of it running now will not cache what it read (a queued one
        has not read yet: it will read the change)."""
        self.cache.pop(key)
        flight = self._flights.get(key)
        if flight is not None and flight.running:
            flight.evicted = True
            del self._flights[key]

    def evict_where(self, predicate: Callable[[K], bool]) -> None:
        self.cache.drop_where(predicate)
        for key in [k for k in self._flights if predicate(k)]:
            self.evict(key)

    def clear(self) -> None:
        self.cache.clear()
        self.evict_where(lambda _key: True)
