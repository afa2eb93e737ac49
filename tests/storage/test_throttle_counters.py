"""The throttle's shared state behaves alike in the database (SQLite, PostgreSQL) and in the
real Redis: sliding windows, marks that never go down (also under concurrent writers, each
write one atomic statement or script) and that every reader sees."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from realmgate.server.core.throttle import FailureCounters, good_key, source_key
from realmgate.server.redis_counters import RedisCounters
from realmgate.server.storage.sql import SqlStore

REDIS_URL = "redis://127.0.0.1:6379/15"
W = 64  # the window in these tests: 64 s, so that the weights are exact binary fractions


@pytest.fixture(params=["store", "redis"])
def counters(request: pytest.FixtureRequest, store: SqlStore) -> Iterator[FailureCounters]:
    if request.param == "store":
        yield store
        return
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis is required for the tests at {REDIS_URL}: {exc}") from exc
    c = RedisCounters(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    yield c
    c.close()


def fail(counters: FailureCounters, key: str, at: float, times: int = 1) -> int:
    count = 0
    for _ in range(times):
        count = counters.count_auth_failure(key, at, W)
    return count


def test_failures_count_up_per_key(counters: FailureCounters) -> None:
    assert counters.count_auth_failure("src:a", 100, 60) == 1
    assert counters.count_auth_failure("src:a", 101, 60) == 2
    assert counters.count_auth_failure("src:b", 101, 60) == 1


def test_the_window_slides_a_failure_fades_out_instead_of_resetting(
    counters: FailureCounters,
) -> None:
    """Ten failures at t=32 (bucket [0, 64)). A fixed window that starts at the first failure
    forgets all ten at t=96; the sliding window still weighs the previous bucket by its
    overlap with (now - 64, now]."""
    assert fail(counters, "src:a", 32, 10) == 10
    assert fail(counters, "src:a", 96) == 1 + 5  # the previous bucket half in the window
    assert fail(counters, "src:a", 112) == 2 + 2  # 10 x 0.25, rounded down
    assert fail(counters, "src:a", 127.5) == 3  # 10 x 1/128
    assert fail(counters, "src:a", 128) == 1 + 3  # the bucket [64, 128) is now the previous
    assert fail(counters, "src:a", 320) == 1  # two buckets later nothing is left


def test_a_burst_across_a_bucket_boundary_counts_whole(counters: FailureCounters) -> None:
    assert fail(counters, "src:a", 63.75, 10) == 10
    # + 10 x 63.75/64, almost all of it: the boundary gives an attacker no fresh count
    assert fail(counters, "src:a", 64.25, 10) == 10 + 9


def test_concurrent_failures_are_all_counted(counters: FailureCounters) -> None:
    n_threads, each = 8, 25
    run_together(n_threads, lambda _: fail(counters, "client:t:c", 10.0, each))
    assert fail(counters, "client:t:c", 10.0) == n_threads * each + 1


def test_marks_never_go_down_and_are_read_from_when_they_were_raised(
    counters: FailureCounters,
) -> None:
    counters.raise_marks({"src:a": 2e9, "client:t:c": 1000.0}, now=100.0)
    counters.raise_marks({"src:a": 1e9}, now=200.0)  # lower: ignored, not stamped again
    assert counters.marks_since(0, now=0) == {"src:a": 2e9, "client:t:c": 1000.0}
    assert counters.marks_since(150, now=0) == {}
    assert counters.marks_since(100, now=1000.0) == {"src:a": 2e9}  # the ended one is gone
    counters.raise_marks({"client:t:c": 3000.0}, now=300.0)
    assert counters.marks_since(250, now=1000.0) == {"client:t:c": 3000.0}


def test_concurrent_raises_never_lower_a_mark(counters: FailureCounters) -> None:
    """Eight writers raise one mark step by step while a reader watches it: with a read, then
    a write, one writer's lower value lands after another's higher one."""
    n_threads, steps = 8, 60
    seen: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(counters.marks_since(0, now=0).get("src:race", 0.0))

    def raise_steps(i: int) -> None:
        for step in range(steps):
            counters.raise_marks({"src:race": 1e9 + step * n_threads + i}, now=1.0)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_together(n_threads, raise_steps)
    finally:
        done.set()
        watcher.join()
    top = 1e9 + steps * n_threads - 1
    assert counters.marks_since(0, now=0)["src:race"] == top
    assert all(a <= b for a, b in itertools.pairwise(seen)), "a mark went down"


def test_the_mark_of_a_known_good_source_fits(counters: FailureCounters) -> None:
    """The longest key: a 63-character tenant, a 128-character client id, a 64-character source."""
    key = good_key("t" * 63, "c" * 128, source_key("x" * 200))
    assert len(key) > 256
    counters.raise_marks({key: 5000.0}, now=1.0)
    assert counters.marks_since(0, now=0) == {key: 5000.0}


def run_together(n: int, work: Callable[[int], object]) -> None:
    """Run ``work(i)`` in ``n`` threads started at once; re-raise the first error."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
