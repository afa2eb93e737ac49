"""The realm and client caches' loader: one load per key at a time (single flight), misses
loaded together in batches, expired entries served while they reload, evictions during a load,
failures. The loads run in worker threads, held by the test until it releases them."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from realmgate.server.core.admin import Admin
from realmgate.server.core.cache import MISSING, BatchLoader, Loaded, TtlLru
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.records import Change


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldLoads:
    """``load_many`` for a BatchLoader: records each batch and blocks until released."""

    def __init__(self, fail: set[str] | None = None, broken: set[str] | None = None):
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.fail = fail or set()  # the whole batch raises
        self.broken = broken or set()  # this key alone is an error
        self.version = 1

    def __call__(self, keys: list[str]) -> Loaded[str, str]:
        self.batches.append(list(keys))
        assert self.release.wait(10)
        if self.fail & set(keys):
            raise ConnectionError("database away")
        out: dict[str, str | Exception] = {}
        for k in keys:
            if k in self.broken:
                out[k] = LookupError(f"{k} cannot load")
            elif not k.startswith("unknown"):
                out[k] = f"{k}@v{self.version}"
        return out


def loader(loads: HeldLoads, clock: Clock, **kw: Any) -> BatchLoader[str, str]:
    return BatchLoader(TtlLru(100, 300.0, clock), loads, **kw)


async def until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0.001)


def run(test: Callable[[], Awaitable[None]]) -> None:
    anyio.run(test)


def test_concurrent_lookups_of_one_key_share_one_load() -> None:
    loads, clock = HeldLoads(), Clock()
    cache = loader(loads, clock)
    results: list[str | None] = []

    async def lookup() -> None:
        results.append(await cache.get("acme"))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(lookup)
            await until(lambda: len(loads.batches) == 1)
            await anyio.sleep(0.01)  # the other lookups are waiting, not loading
            loads.release.set()
        assert loads.batches == [["acme"]]
        assert results == ["acme@v1"] * 20
        assert await cache.get("acme") == "acme@v1"  # cached now
        assert loads.batches == [["acme"]]
        assert cache.loaded == 1

    run(main)


def test_misses_while_loads_run_are_loaded_together() -> None:
    loads, clock = HeldLoads(), Clock()
    cache = loader(loads, clock, concurrency=1, max_batch=3)
    results: dict[str, str | None] = {}

    async def lookup(key: str) -> None:
        results[key] = await cache.get(key)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lookup, "t0")
            await until(lambda: len(loads.batches) == 1)
            for i in range(1, 6):
                tg.start_soon(lookup, f"t{i}")
            await anyio.sleep(0.01)
            loads.release.set()
        assert loads.batches == [["t0"], ["t1", "t2", "t3"], ["t4", "t5"]]
        assert results == {f"t{i}": f"t{i}@v1" for i in range(6)}

    run(main)


def test_unknown_keys_are_cached_as_none() -> None:
    loads, clock = HeldLoads(), Clock()
    loads.release.set()
    cache = loader(loads, clock)

    async def main() -> None:
        assert await cache.get("unknown-1") is None
        assert await cache.get("unknown-1") is None
        assert loads.batches == [["unknown-1"]]
        assert cache.hits == 1

    run(main)


def test_an_expired_entry_is_served_while_one_lookup_reloads_it() -> None:
    loads, clock = HeldLoads(), Clock()
    loads.release.set()
    cache = loader(loads, clock)
    seen: list[str | None] = []

    async def lookup() -> None:
        seen.append(await cache.get("acme"))

    async def main() -> None:
        assert await cache.get("acme") == "acme@v1"
        clock.now += 301  # past the TTL (whatever its jitter)
        loads.release.clear()
        loads.version = 2
        async with anyio.create_task_group() as tg:
            tg.start_soon(lookup)  # reloads
            await until(lambda: len(loads.batches) == 2)
            for _ in range(5):  # meanwhile: the expired value, at once
                await lookup()
            assert seen == ["acme@v1"] * 5
            loads.release.set()
        assert seen[-1] == "acme@v2"
        assert len(loads.batches) == 2
        assert await cache.get("acme") == "acme@v2"

    run(main)


def test_entries_expire_within_the_ttl_and_are_reloaded() -> None:
    loads, clock = HeldLoads(), Clock()
    loads.release.set()
    cache = loader(loads, clock)

    async def main() -> None:
        await cache.get("acme")
        clock.now += 300 * 0.9 - 1  # before the earliest jittered expiry
        await cache.get("acme")
        assert len(loads.batches) == 1
        clock.now += 2 + 300 * 0.1  # after the latest
        await cache.get("acme")
        assert len(loads.batches) == 2

    run(main)


def test_a_change_during_a_load_is_not_overwritten_by_what_it_read() -> None:
    loads, clock = HeldLoads(), Clock()
    cache = loader(loads, clock)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cache.get, "acme")
            await until(lambda: len(loads.batches) == 1)
            cache.evict("acme")  # the change feed: what the load read may be old
            loads.release.set()
        loads.version = 2
        assert await cache.get("acme") == "acme@v2"
        assert len(loads.batches) == 2

    run(main)


def test_a_failed_batch_is_not_shared_each_lookup_tries_again() -> None:
    loads, clock = HeldLoads(fail={"acme"}), Clock()
    cache = loader(loads, clock)
    errors: list[Exception] = []

    async def lookup() -> None:
        try:
            await cache.get("acme")
        except ConnectionError as exc:
            errors.append(exc)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(lookup)
            await until(lambda: len(loads.batches) == 1)
            loads.release.set()
        assert len(errors) == 3
        assert len(loads.batches) == 3  # the first load, then one attempt per waiter
        loads.fail.clear()
        assert await cache.get("acme") == "acme@v1"

    run(main)


def test_a_key_that_cannot_load_fails_alone() -> None:
    loads, clock = HeldLoads(broken={"bad"}), Clock()
    cache = loader(loads, clock, concurrency=1)
    results: dict[str, object] = {}

    async def lookup(key: str) -> None:
        try:
            results[key] = await cache.get(key)
        except LookupError as exc:
            results[key] = exc

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lookup, "first")
            await until(lambda: len(loads.batches) == 1)
            tg.start_soon(lookup, "bad")
            tg.start_soon(lookup, "good")
            await anyio.sleep(0.01)
            loads.release.set()
        assert loads.batches == [["first"], ["bad", "good"]]
        assert results["first"] == "first@v1"
        assert results["good"] == "good@v1"
        assert isinstance(results["bad"], LookupError)
        with pytest.raises(LookupError):  # errors are not cached
            await cache.get("bad")
        assert len(loads.batches) == 3

    run(main)


def test_lru_bound_and_recency() -> None:
    clock = Clock()
    lru: TtlLru[str, int] = TtlLru(2, 300.0, clock)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # now the most recent
    lru.put("c", 3)
    assert len(lru) == 2
    assert lru.get("b") is MISSING  # the least recently used went
    assert lru.get("a") == 1
    assert lru.get("c") == 3


# --- the Directory on a real store -------------------------------------------------------------
@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path))
    yield rt
    rt.close()


def test_directory_loads_a_cold_burst_once_per_realm_and_client(runtime: Runtime) -> None:
    admin = Admin(runtime.store, runtime.vault, runtime.settings)
    tenants = [f"acme{i}" for i in range(5)]
    for t in tenants:
        admin.create_tenant(t, signing_alg="ES256")
        admin.create_client(t, "worker")
    directory = Directory(runtime.store, runtime.vault, runtime.settings)

    async def lookup(t: str) -> None:
        realm = await directory.realm(t)
        assert realm is not None and realm.shortcode == t
        client = await directory.client(realm.shortcode, "worker")
        assert client is not None and client.tenant == t

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                for t in tenants:
                    tg.start_soon(lookup, t)

    anyio.run(main)
    assert directory.loads == 10  # 5 realms, 5 clients, each once
    assert directory.cached() == (5, 5)
    assert directory.hits == 100 - 10


def test_directory_evicts_what_the_feed_reports_even_while_loading(runtime: Runtime) -> None:
    admin = Admin(runtime.store, runtime.vault, runtime.settings)
    admin.create_tenant("acme")
    directory = Directory(runtime.store, runtime.vault, runtime.settings)

    async def main() -> None:
        realm = await directory.realm("acme")
        assert realm is not None and await directory.client("acme", "nobody") is None
        directory.apply_changes([Change(id=1, tenant="acme", kind="tenant", key="acme")])
        assert directory.cached() == (0, 0)
        again = await directory.realm("acme")
        assert again is not None and again is not realm

    anyio.run(main)
