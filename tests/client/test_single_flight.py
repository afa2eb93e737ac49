"""Single flight: N concurrent callers cause exactly one token request per renewal.

The token endpoint is held (gate) until every caller has planned its move, which the
fake clock observes: each caller reads it once while planning, and the leader once more
when it sends the request (``+ 1`` below). No timing assertions.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from realmgate.client import AccessToken, TokenProvider, TokenRequestError

from .fakes import (
    TOKEN_PREFIX,
    FakeClock,
    Router,
    Sleeper,
    TokenEndpoint,
    async_provider,
    oauth_error,
)

THREADS = 50
TASKS = 200


def hold_until_clock_reads(clock: FakeClock, reads: int) -> Callable[[], None]:
    def gate() -> None:
        assert clock.wait_for_calls(reads)

    return gate


def run_threads(fn: Callable[[], object], n: int) -> list[object]:
    barrier = threading.Barrier(n)

    def call() -> object:
        barrier.wait(30)
        try:
            return fn()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


@pytest.mark.parametrize("phase", ["initial", "mandatory", "forced"])
def test_threads_share_one_request(
    make_provider: Callable[..., TokenProvider],
    endpoint: TokenEndpoint,
    clock: FakeClock,
    phase: str,
) -> None:
    provider = make_provider()
    if phase != "initial":
        provider.get_token()
        clock.advance(7200 - 10 if phase == "mandatory" else 0)
    before = endpoint.count
    endpoint.gate = hold_until_clock_reads(clock, clock.calls + THREADS + 1)
    call = provider.force_refresh if phase == "forced" else provider.get_token
    results = run_threads(call, THREADS)
    assert endpoint.count == before + 1
    assert {t.value for t in results} == {endpoint.issued[-1]}  # type: ignore[attr-defined]


def test_threads_in_advisory_window(
    make_provider: Callable[..., TokenProvider], endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    provider = make_provider()
    first = provider.get_token()
    clock.advance(7200 - 300)
    endpoint.gate = hold_until_clock_reads(clock, clock.calls + THREADS + 1)
    results = run_threads(provider.get_token, THREADS)
    assert endpoint.count == 2
    assert all(isinstance(t, AccessToken) for t in results)
    # The leader got the new token; the others kept using the old one meanwhile.
    assert sum(t is first for t in results) == THREADS - 1


def test_threads_share_one_failure(
    make_provider: Callable[..., TokenProvider], endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    provider = make_provider()
    endpoint.push(oauth_error(401, "invalid_client"))
    endpoint.gate = hold_until_clock_reads(clock, THREADS + 1)
    results = run_threads(provider.get_token, THREADS)
    assert endpoint.count == 1
    assert all(isinstance(r, TokenRequestError) for r in results)


def test_threads_coalesce_401_retries(
    router: Router, make_provider: Callable[..., TokenProvider], endpoint: TokenEndpoint
) -> None:
    from realmgate.client import BearerTokenAuth

    def api(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] != f"Bearer {TOKEN_PREFIX}1"
        return httpx.Response(200 if ok else 401)

    router.routes["https://api.test/thing"] = api
    provider = make_provider()
    with httpx.Client(transport=httpx.MockTransport(router), auth=BearerTokenAuth(provider)) as c:
        results = run_threads(lambda: c.get("https://api.test/thing").status_code, THREADS)
    assert results == [200] * THREADS
    assert endpoint.count == 2


# --------------------------------------------------------------------------- asyncio


@pytest.mark.parametrize("phase", ["initial", "mandatory", "forced"])
def test_tasks_share_one_request(clock: FakeClock, sleeper: Sleeper, phase: str) -> None:
    endpoint = TokenEndpoint()
    reads = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        while clock.calls < reads["n"]:
            await asyncio.sleep(0)
        return endpoint(request)

    async def main() -> list[AccessToken]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = async_provider(client, clock, sleeper)
            if phase != "initial":
                await provider.get_token()
                clock.advance(7200 - 10 if phase == "mandatory" else 0)
            reads["n"] = clock.calls + TASKS + 1
            call = provider.force_refresh if phase == "forced" else provider.get_token
            return await asyncio.gather(*(call() for _ in range(TASKS)))

    before = 0 if phase == "initial" else 1
    results = asyncio.run(main())
    assert endpoint.count == before + 1
    assert {t.value for t in results} == {endpoint.issued[-1]}


def test_tasks_share_one_failure(clock: FakeClock, sleeper: Sleeper) -> None:
    endpoint = TokenEndpoint()
    endpoint.push(*[httpx.Response(503) for _ in range(4)])

    async def handler(request: httpx.Request) -> httpx.Response:
        while clock.calls < TASKS + 1:
            await asyncio.sleep(0)
        return endpoint(request)

    async def main() -> list[object]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = async_provider(client, clock, sleeper)
            failed = await asyncio.gather(
                *(provider.get_token() for _ in range(TASKS)), return_exceptions=True
            )
            recovered = await provider.get_token()
            return [*failed, recovered]

    *failed, recovered = asyncio.run(main())
    assert all(type(r).__name__ == "TokenEndpointUnavailableError" for r in failed)
    assert endpoint.count == 4 + 1  # one flight of 4 attempts, then the recovery
    assert sleeper.sleeps == [0.5, 1.0, 2.0]
    assert isinstance(recovered, AccessToken)


def test_cancelled_leader_does_not_strand_followers(clock: FakeClock, sleeper: Sleeper) -> None:
    endpoint = TokenEndpoint()

    async def main() -> list[AccessToken | BaseException]:
        gate = asyncio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            await gate.wait()
            return endpoint(request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = async_provider(client, clock, sleeper)
            leader = asyncio.create_task(provider.get_token())
            followers = [asyncio.create_task(provider.get_token()) for _ in range(10)]
            while clock.calls < 12:  # 11 plans and the leader's request
                await asyncio.sleep(0)
            leader.cancel()
            await asyncio.sleep(0)
            gate.set()
            return await asyncio.gather(leader, *followers, return_exceptions=True)

    first, *others = asyncio.run(main())
    assert isinstance(first, asyncio.CancelledError)
    assert all(isinstance(r, AccessToken) and r.value == f"{TOKEN_PREFIX}1" for r in others)
    assert endpoint.count == 1
