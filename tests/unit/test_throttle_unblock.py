"""An admin's unblock in a worker's memory: the change feed's ``throttle`` rows reach
:meth:`Throttle.unblocked` through the ``Directory``; a read of the shared marks that began
before the unblock cannot bring the block back; a block raised after it counts again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio

from realmgate.server.core.realms import Directory
from realmgate.server.core.throttle import (
    Throttle,
    ThrottlePolicy,
    client_key,
    source_key,
    source_tag,
)
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.records import Change
from tests.unit.test_throttle import Clock, MemoryCounters, fail

POLICY = ThrottlePolicy(source_free=1, source_cap=600, client_free=1, client_cap=600, base=600)


def test_a_source_block_is_tagged_with_the_tenant_that_failed() -> None:
    counters = MemoryCounters()
    throttle = Throttle(counters, POLICY, Clock())
    src = source_key("198.51.100.1")
    fail(throttle, src, 2, tenant="acme", client="app")
    assert set(counters.marks) == {src, client_key("acme", "app"), source_tag("acme", src)}
    assert counters.marks[source_tag("acme", src)] == counters.marks[src]


def test_unblocked_drops_the_block_from_memory() -> None:
    clock = Clock()
    throttle = Throttle(MemoryCounters(), POLICY, clock)
    src, other = source_key("198.51.100.1"), source_key("198.51.100.2")
    fail(throttle, src, 2)
    assert throttle.retry_after(other, "acme", "app") is not None  # the client's block
    throttle.unblocked("acme", "app")
    assert throttle.retry_after(other, "acme", "app") is None
    assert throttle.retry_after(src, "acme", "app") is not None  # the source's own block
    throttle.unblocked("acme", src)
    assert throttle.retry_after(src, "acme", "app") is None


class SlowRead(MemoryCounters):
    """A read of the shared marks that returns what the store held before an unblock."""

    def __init__(self, stale: Mapping[str, float]) -> None:
        super().__init__()
        self.stale = dict(stale)
        self.during: Throttle | None = None

    def marks_since(self, since: float, now: float) -> dict[str, float]:
        if self.during is not None:  # the unblock arrives while this read is under way
            self.during.unblocked("acme", "app")
            self.during = None
        return dict(self.stale)


def test_a_read_begun_before_the_unblock_cannot_restore_the_block() -> None:
    clock = Clock()
    key = client_key("acme", "app")
    counters = SlowRead({key: clock.now + 600, source_tag("acme", "src:x"): clock.now + 600})
    throttle = Throttle(counters, POLICY, clock)
    counters.during = throttle
    anyio.run(throttle.sync)
    assert throttle.retry_after("src:y", "acme", "app") is None
    clock.now += 1  # a later read that finds a block again (raised after the unblock) counts
    anyio.run(throttle.sync)
    assert throttle.retry_after("src:y", "acme", "app") is not None
    assert throttle.retry_after("src:x", "acme", "other") is None  # a tag is no block


def test_the_change_feed_tells_the_throttle(tmp_path: Path) -> None:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    try:
        directory = Directory(rt.store, rt.vault, rt.settings)
        throttle = Throttle(MemoryCounters(), POLICY, Clock())
        seen: list[tuple[str, str]] = []
        directory.on_unblock = lambda t, k: (seen.append((t, k)), throttle.unblocked(t, k))[0]
        fail(throttle, "src:a", 2)
        directory.apply_changes([Change(7, "acme", "throttle", "app")])
        assert seen == [("acme", "app")]
        assert throttle.retry_after("src:b", "acme", "app") is None
        assert directory.last_change_id == 7
    finally:
        rt.close()
