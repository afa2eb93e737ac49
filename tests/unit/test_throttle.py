"""The authentication throttle and the issuance rate limit, with injected clocks."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.client_auth import ClientAuthenticator
from realmgate.server.core.grants import ClientCredentialsGrant, RawTokenRequest, TokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.core.throttle import (
    RateLimiter,
    Throttle,
    ThrottlePolicy,
    client_key,
    good_key,
    source_key,
)
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.errors import InvalidClient, TooManyRequests
from realmgate.wire.forms import parse_form


class MemoryCounters:
    """The FailureCounters contract in memory (no window: the stores' windows are tested in
    tests/storage/test_throttle_counters.py), recording the calls made to it."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.marks: dict[str, float] = {}
        self.stamps: dict[str, float] = {}
        self.calls: list[str] = []

    def count_auth_failure(self, key: str, now: float, window: int) -> int:
        self.calls.append("count")
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    def raise_marks(self, marks: Mapping[str, float], now: float) -> None:
        self.calls.append("raise")
        for key, until in marks.items():
            if until > self.marks.get(key, 0.0):
                self.marks[key], self.stamps[key] = until, now

    def marks_since(self, since: float, now: float) -> dict[str, float]:
        self.calls.append("since")
        return {k: u for k, u in self.marks.items() if self.stamps[k] >= since and u > now}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(
    throttle: Throttle, src: str, n: int = 1, tenant: str = "acme", client: str = "app"
) -> None:
    async def run() -> None:
        for _ in range(n):
            await throttle.failed(src, tenant, client)

    anyio.run(run)


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

    fail(throttle, attacker, 3)
    assert throttle.retry_after(attacker, "acme", "other") is None
    fail(throttle, attacker)
    assert throttle.retry_after(attacker, "acme", "other") == 2  # 1 s block, rounded up
    assert throttle.retry_after(victim, "acme", "app") is None  # the client is not blocked yet
    # failures from many addresses: the client's own (short) limit
    fail(throttle, source_key("198.51.100.3"), 3)
    wait = throttle.retry_after(victim, "acme", "app")
    assert wait is not None
    assert wait <= policy.client_cap + 1
    assert counters.marks[client_key("acme", "app")] <= clock.now + policy.client_cap
    clock.now += policy.client_cap + 1
    assert throttle.retry_after(victim, "acme", "app") is None


def test_source_block_grows_to_its_cap() -> None:
    clock = Clock()
    throttle = Throttle(MemoryCounters(), ThrottlePolicy(source_free=0, source_cap=60), clock)
    src = source_key("192.0.2.9")

    async def run() -> None:
        for i in range(12):
            await throttle.failed(src, "t", f"c{i}")

    anyio.run(run)
    assert throttle.retry_after(src, "t", "x") == 61


def test_a_known_good_source_is_exempt_from_the_client_block_only() -> None:
    """Failures from many addresses block the client for every address but the ones that
    authenticated it recently; a known good source's own failures still block it."""
    clock = Clock()
    policy = ThrottlePolicy(source_free=3, source_cap=600, client_free=5, client_cap=600, base=600)
    throttle = Throttle(MemoryCounters(), policy, clock)
    legit, newcomer = source_key("192.0.2.1"), source_key("192.0.2.2")
    throttle.succeeded(legit, "acme", "app")
    attackers = [source_key(f"198.51.100.{i}") for i in range(1, 7)]
    for src in attackers:
        fail(throttle, src)
    assert throttle.retry_after(newcomer, "acme", "app") == 601  # the client is blocked
    assert all(throttle.retry_after(src, "acme", "app") == 601 for src in attackers)
    assert throttle.retry_after(legit, "acme", "app") is None
    assert throttle.retry_after(legit, "acme", "other") is None
    assert throttle.retry_after(legit, "other", "app") is None
    fail(throttle, legit, 4)  # wrong secrets from the good source itself: its own block
    assert throttle.retry_after(legit, "acme", "app") is not None


def test_a_source_stays_known_good_for_the_ttl_after_its_last_success() -> None:
    clock = Clock()
    policy = ThrottlePolicy(client_free=0, client_cap=1e6, base=1e6, known_source_ttl=400)
    throttle = Throttle(MemoryCounters(), policy, clock)
    legit = source_key("2001:db8:1:2::7")
    throttle.succeeded(legit, "acme", "app")
    fail(throttle, source_key("198.51.100.1"))
    clock.now += 400
    assert throttle.retry_after(source_key("2001:db8:1:2::99"), "acme", "app") is None  # same /64
    clock.now += policy.known_source_refresh + 1  # it was written to last that much longer
    assert throttle.retry_after(legit, "acme", "app") is not None


def test_a_known_source_ttl_of_zero_turns_the_exemption_off() -> None:
    counters = MemoryCounters()
    policy = ThrottlePolicy(client_free=0, client_cap=600, base=600, known_source_ttl=0)
    throttle = Throttle(counters, policy, Clock())
    throttle.succeeded(source_key("192.0.2.1"), "acme", "app")
    fail(throttle, source_key("198.51.100.1"))
    assert throttle.retry_after(source_key("192.0.2.1"), "acme", "app") == 601
    before = len(counters.calls)
    anyio.run(throttle.sync)
    assert counters.calls[before:] == ["since"]  # nothing to write


def test_successes_are_noted_in_memory_and_written_by_the_background_sync() -> None:
    clock = Clock()
    counters = MemoryCounters()
    policy = ThrottlePolicy(known_source_ttl=400)
    throttle = Throttle(counters, policy, clock)
    legit = source_key("192.0.2.1")
    for _ in range(100):
        assert throttle.retry_after(legit, "acme", "app") is None
        throttle.succeeded(legit, "acme", "app")
    assert counters.calls == []  # the request path does no I/O
    anyio.run(throttle.sync)
    assert counters.calls == ["raise", "since"]
    key = good_key("acme", "app", legit)
    assert counters.marks[key] == clock.now + 400 + policy.known_source_refresh
    throttle.succeeded(legit, "acme", "app")
    anyio.run(throttle.sync)
    assert counters.calls[2:] == ["since"]  # nothing new to write
    clock.now += policy.known_source_refresh + 1
    throttle.succeeded(legit, "acme", "app")
    anyio.run(throttle.sync)
    assert counters.calls[3:] == ["raise", "since"]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


def test_blocks_and_known_good_sources_reach_the_other_workers(runtime: Runtime) -> None:
    """Two workers (or nodes) on one database: what one writes, the other applies after its
    next background sync, on the request path from memory."""
    policy = ThrottlePolicy(source_free=3, source_cap=600, client_free=5, client_cap=600, base=600)
    a, b = Throttle(runtime.store, policy), Throttle(runtime.store, policy)
    legit, attacker, newcomer = (source_key(f"192.0.2.{i}") for i in (1, 2, 3))
    a.succeeded(legit, "acme", "app")
    anyio.run(a.sync)
    fail(a, attacker, 4)  # blocks the attacker's address
    for i in range(1, 3):  # and, with these, the client
        fail(a, source_key(f"198.51.100.{i}"))
    assert a.retry_after(newcomer, "acme", "app") is not None
    assert b.retry_after(attacker, "acme", "other") is None  # b has not synced yet
    anyio.run(b.sync)
    assert b.retry_after(attacker, "acme", "other") is not None
    assert b.retry_after(newcomer, "acme", "app") is not None
    assert b.retry_after(legit, "acme", "app") is None


def test_a_store_outage_in_the_sync_keeps_what_it_could_not_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(MemoryCounters):
        down = True

        def raise_marks(self, marks: Mapping[str, float], now: float) -> None:
            if self.down:
                raise OSError("down")
            super().raise_marks(marks, now)

    counters = Flaky()
    throttle = Throttle(counters, ThrottlePolicy(), Clock())
    throttle.succeeded(source_key("192.0.2.1"), "acme", "app")
    with caplog.at_level(logging.WARNING, "realmgate.audit"):
        anyio.run(throttle.sync)
    assert "cannot read the shared blocks" in caplog.text
    counters.down = False
    anyio.run(throttle.sync)
    assert list(counters.marks) == [good_key("acme", "app", "src:192.0.2.1")]


def test_counter_store_failure_fails_open() -> None:
    class Broken(MemoryCounters):
        def count_auth_failure(self, key: str, now: float, window: int) -> int:
            raise OSError("down")

    throttle = Throttle(Broken(), ThrottlePolicy(source_free=0))
    anyio.run(throttle.failed, "src:x", "t", "c")
    assert throttle.retry_after("src:x", "t", "c") is None


# through the grant: fresh and remembered requests -------------------------------------
@pytest.fixture
def creds(runtime: Runtime) -> IssuedCredentials:
    return Admin(runtime.store, runtime.vault, runtime.settings).create_tenant("acme")


class CountingStore:
    """The real store, counting every call made through it."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


def grant_with(runtime: Runtime, throttle: Throttle, store: Any = None) -> ClientCredentialsGrant:
    directory = Directory(store or runtime.store, runtime.vault, runtime.settings)
    directory.start_at_head()
    return ClientCredentialsGrant(
        directory, authenticator=ClientAuthenticator(directory, None, throttle)
    )


def body(creds: IssuedCredentials, secret: str | None = None) -> bytes:
    return (
        f"grant_type=client_credentials&client_id={creds.client_id}"
        f"&client_secret={secret or creds.client_secret}"
    ).encode()


def test_the_client_block_spares_its_known_good_sources_on_every_path(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    policy = ThrottlePolicy(source_free=100, client_free=2, client_cap=600, base=600)
    grant = grant_with(runtime, Throttle(runtime.store, policy))
    good, bad = body(creds), body(creds, "x" * 43)

    async def run() -> None:
        for _ in range(2):  # a checked request, then a remembered one
            await grant.handle_body(RawTokenRequest("acme", good, None, "192.0.2.1"))
        for i in range(3):
            with pytest.raises(InvalidClient):
                await grant.handle_body(RawTokenRequest("acme", bad, None, f"198.51.100.{i}"))
        hits = grant.memo.hits
        await grant.handle_body(RawTokenRequest("acme", good, None, "192.0.2.1"))
        assert grant.memo.hits == hits + 1
        await grant.handle(TokenRequest("acme", parse_form(good), None, "192.0.2.1"))
        # the right secret from an address that never used it: still blocked, remembered or not
        with pytest.raises(TooManyRequests):
            await grant.handle_body(RawTokenRequest("acme", good, None, "192.0.2.2"))
        with pytest.raises(TooManyRequests):
            await grant.handle(TokenRequest("acme", parse_form(good), None, "192.0.2.2"))

    anyio.run(run)


def test_a_refused_attempt_is_not_counted(runtime: Runtime, creds: IssuedCredentials) -> None:
    counters = MemoryCounters()
    policy = ThrottlePolicy(source_free=1, source_cap=600, base=600)
    grant = grant_with(runtime, Throttle(counters, policy))
    bad = body(creds, "x" * 43)

    async def run() -> None:
        for _ in range(2):
            with pytest.raises(InvalidClient):
                await grant.handle_body(RawTokenRequest("acme", bad, None, "198.51.100.1"))
        for _ in range(5):
            with pytest.raises(TooManyRequests):
                await grant.handle_body(RawTokenRequest("acme", bad, None, "198.51.100.1"))

    anyio.run(run)
    assert counters.counts == {"src:198.51.100.1": 2, client_key("acme", creds.client_id): 2}


def test_the_warm_token_path_with_the_throttle_does_no_store_call(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    store = CountingStore(runtime.store)
    grant = grant_with(runtime, Throttle(store), store)

    async def run() -> None:
        await grant.handle_body(RawTokenRequest("acme", body(creds), None, "192.0.2.1"))
        cold = len(store.calls)
        for i in range(20):
            await grant.handle_body(RawTokenRequest("acme", body(creds), None, "192.0.2.1"))
            await grant.handle(TokenRequest("acme", parse_form(body(creds)), None, f"10.0.0.{i}"))
        assert store.calls[cold:] == []

    anyio.run(run)


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
