"""The authentication throttle and the issuance rate limit, with injected clocks."""

from __future__ import annotations

import anyio
import pytest

from realmgate.server.core.throttle import (
    RateLimiter,
    Throttle,
    ThrottlePolicy,
    client_key,
    source_key,
)


class MemoryCounters:
    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, int]] = {}
        self.blocks: dict[str, float] = {}

    def count_auth_failure(self, key: str, now: int, window: int) -> int:
        count, start = self.counts.get(key, (0, now))
        if start <= now - window:
            count, start = 0, now
        self.counts[key] = (count + 1, start)
        return count + 1

    def set_blocked_until(self, key: str, until: float) -> None:
        self.blocks[key] = max(until, self.blocks.get(key, 0.0))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delay_is_free_then_exponential_then_capped() -> None:
    p = ThrottlePolicy(base=1.0)
    assert [p.delay(n, 3, 10.0) for n in range(1, 9)] == [0, 0, 0, 1, 2, 4, 8, 10]


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "src:203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "src:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "src:2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "src:192.0.2.1"),
        (None, "src:unknown"),
        ("not-an-ip", "src:not-an-ip"),
    ],
)
def test_source_keys(address: str | None, key: str) -> None:
    assert source_key(address) == key


def test_source_blocks_first_and_the_client_block_is_short() -> None:
    clock = Clock()
    counters = MemoryCounters()
    policy = ThrottlePolicy(source_free=3, source_cap=300, client_free=6, client_cap=10)
    throttle = Throttle(counters, policy, clock)
    attacker, victim = source_key("198.51.100.1"), source_key("198.51.100.2")

    async def fail(n: int, src: str) -> None:
        for _ in range(n):
            await throttle.failed(src, "acme", "app")

    anyio.run(fail, 3, attacker)
    assert throttle.retry_after(attacker, "acme", "other") is None
    anyio.run(fail, 1, attacker)
    assert throttle.retry_after(attacker, "acme", "other") == 2  # 1 s block, rounded up
    assert throttle.retry_after(victim, "acme", "app") is None  # the client is not blocked yet
    # failures from many addresses: the client's own (short) limit
    anyio.run(fail, 3, source_key("198.51.100.3"))
    wait = throttle.retry_after(victim, "acme", "app")
    assert wait is not None
    assert wait <= policy.client_cap + 1
    assert counters.blocks[client_key("acme", "app")] <= clock.now + policy.client_cap
    clock.now += policy.client_cap + 1
    assert throttle.retry_after(victim, "acme", "app") is None


def test_source_block_grows_to_its_cap() -> None:
    clock = Clock()
    throttle = Throttle(MemoryCounters(), ThrottlePolicy(source_free=0, source_cap=60), clock)
    src = source_key("192.0.2.9")

    async def fail(n: int) -> None:
        for _ in range(n):
            await throttle.failed(src, "t", f"c{_}")

    anyio.run(fail, 12)
    assert throttle.retry_after(src, "t", "x") == 61


def test_counter_store_failure_fails_open() -> None:
    class Broken(MemoryCounters):
        def count_auth_failure(self, key: str, now: int, window: int) -> int:
            raise OSError("down")

    throttle = Throttle(Broken(), ThrottlePolicy(source_free=0))
    anyio.run(throttle.failed, "src:x", "t", "c")
    assert throttle.retry_after("src:x", "t", "c") is None


def test_rate_limiter_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == 1
    assert limiter.take("b") is None  # buckets are per key
    clock.now += 0.5
    assert limiter.take("a") is None
    assert limiter.take("a") == 1
    assert RateLimiter(rate=0, burst=1).take("x") is None  # 0: unlimited
