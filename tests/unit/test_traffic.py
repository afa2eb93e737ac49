"""The traffic recorder (core/traffic.py): per-(minute, tenant) counts, the tenant cap, drain,
and the flush loop writing to a real SQLite store; and the token endpoint counting."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import pytest

from realmgate.server.core.traffic import (
    MAX_TENANTS_PER_MINUTE,
    OTHER,
    TrafficRecorder,
    flush_once,
    flush_traffic,
    prune_before,
)
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.records import TrafficRow


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_runtime(Settings(data_dir=tmp_path / "data"))
    try:
        yield runtime
    finally:
        runtime.close()


def test_counts_per_tenant_given_the_minute_of_the_drain() -> None:
    clock = Clock(6000.0)  # minute 100
    rec = TrafficRecorder(clock)
    rec.record("a", True)
    rec.record("a", True)
    rec.record("a", False)
    rec.record("b", False)
    assert len(rec) == 2
    clock.now = 6059.9
    assert sorted(rec.drain(), key=lambda r: r.tenant) == [
        TrafficRow(100, "a", 2, 1),
        TrafficRow(100, "b", 0, 1),
    ]
    assert rec.drain() == []
    assert len(rec) == 0
    rec.record("a", True)
    clock.now = 6060.0  # minute 101
    assert rec.drain() == [TrafficRow(101, "a", 1, 0)]


def test_tenants_beyond_the_cap_are_other() -> None:
    clock = Clock(0.0)
    rec = TrafficRecorder(clock)
    for i in range(MAX_TENANTS_PER_MINUTE + 50):
        rec.record(f"t{i}", i % 2 == 0)
    rec.record("t0", True)  # a tenant counted before the cap keeps its own row
    rows = {r.tenant: r for r in rec.drain()}
    assert len(rows) == MAX_TENANTS_PER_MINUTE + 1
    assert rows["t0"].tokens == 2
    assert rows[OTHER].tokens + rows[OTHER].failures == 50
    assert f"t{MAX_TENANTS_PER_MINUTE}" not in rows
    # the next drain starts afresh
    clock.now = 60.0
    rec.record("new", True)
    assert [r.tenant for r in rec.drain()] == ["new"]


def test_flush_writes_and_adds(rt: Runtime) -> None:
    clock = Clock(6000.0)
    rec = TrafficRecorder(clock)
    rec.record("a", True)
    rec.record("a", False)

    async def main() -> None:
        assert await flush_once(rec, rt.store) == 1
        assert await flush_once(rec, rt.store) == 0
        rec.record("a", True)
        with anyio.move_on_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(flush_traffic, rec, rt.store, 0.01)
                while rt.store.traffic_since(0) != [TrafficRow(100, "a", 2, 1)]:
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()

    anyio.run(main)
    assert rt.store.traffic_since(0) == [TrafficRow(100, "a", 2, 1)]
    assert len(rec) == 0


def test_a_failed_write_is_dropped_not_raised() -> None:
    class Broken:
        def add_traffic(self, rows: Sequence[TrafficRow]) -> None:
            raise RuntimeError("database down")

    rec = TrafficRecorder(Clock(0.0))
    rec.record("a", True)
    written = anyio.run(flush_once, rec, Broken())  # type: ignore[arg-type]
    assert written == 0
    assert len(rec) == 0


def test_prune_before_keeps_two_days() -> None:
    now = 10_000_000.0
    assert prune_before(now) == (10_000_000 - 2 * 86_400) // 60
