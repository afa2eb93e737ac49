"""``GroupCommit``: concurrent DPoP replay records written in batches, each request answered
only after its own row was written."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from realmgate.server.core.dpop import GroupCommit, ReplayUnavailable


class SlowReplay:
    """A replay store that records every batch and holds the first one until released."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str, int]]] = []
        self.seen: set[tuple[str, str]] = set()
        self.release = threading.Event()
        self.fail = False

    def use_many(self, rows: Sequence[tuple[str, str, int]]) -> list[bool]:
        self.release.wait(timeout=30)
        if self.fail:
            raise OSError("database is down")
        self.batches.append(list(rows))
        out = []
        for tenant, key, _ in rows:
            out.append((tenant, key) not in self.seen)
            self.seen.add((tenant, key))
        return out


def test_requests_waiting_during_a_write_go_in_one_batch() -> None:
    async def run() -> None:
        replay = SlowReplay()
        commit = GroupCommit(replay)
        first = asyncio.ensure_future(commit.use("t", "k0", 1))
        await asyncio.sleep(0)  # the writer takes k0 and waits in its thread
        rest = [asyncio.ensure_future(commit.use("t", f"k{i}", 1)) for i in range(1, 20)]
        rest.append(asyncio.ensure_future(commit.use("t", "k1", 1)))  # a replay of k1
        await asyncio.sleep(0.05)
        assert not first.done()  # nobody is answered before its row is written
        replay.release.set()
        results = await asyncio.wait_for(asyncio.gather(first, *rest), timeout=30)
        assert results == [True] * 20 + [False]
        assert [len(b) for b in replay.batches] == [1, 20]
        assert commit.batches == 2

    asyncio.run(run())


def test_batches_are_bounded() -> None:
    async def run() -> None:
        replay = SlowReplay()
        commit = GroupCommit(replay, max_batch=8)
        calls = [asyncio.ensure_future(commit.use("t", f"k{i}", 1)) for i in range(20)]
        replay.release.set()
        assert await asyncio.wait_for(asyncio.gather(*calls), timeout=30) == [True] * 20
        assert [len(b) for b in replay.batches] == [8, 8, 4]

    asyncio.run(run())


def test_a_failed_write_fails_its_batch_and_the_next_batch_still_runs() -> None:
    async def run() -> None:
        replay = SlowReplay()
        replay.fail = True
        commit = GroupCommit(replay)
        call = asyncio.ensure_future(commit.use("t", "k", 1))
        replay.release.set()
        with pytest.raises(ReplayUnavailable):
            await asyncio.wait_for(call, timeout=30)
        replay.fail = False
        assert await asyncio.wait_for(commit.use("t", "k", 1), timeout=30) is True

    asyncio.run(run())


def test_a_cancelled_request_does_not_break_the_writer() -> None:
    async def run() -> None:
        replay = SlowReplay()
        commit = GroupCommit(replay)
        gone = asyncio.ensure_future(commit.use("t", "a", 1))
        await asyncio.sleep(0)
        gone.cancel()
        kept = asyncio.ensure_future(commit.use("t", "b", 1))
        replay.release.set()
        assert await asyncio.wait_for(kept, timeout=30) is True
        assert replay.seen == {("t", "a"), ("t", "b")}

    asyncio.run(run())
