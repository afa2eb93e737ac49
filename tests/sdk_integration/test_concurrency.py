"""Many concurrent callers through one provider make exactly one token request per renewal,
counted by the real server (``/metrics``), across several renewals.

The server issues 7200 s tokens; the provider's injected monotonic clock decides when they need
renewing. Each round moves that clock, then releases all callers at once through a barrier:

* round 0: no token yet (mandatory): everyone waits for the first token;
* round 1: the token has expired (mandatory);
* round 2: 30 s left, inside the 60 s mandatory window;
* round 3: 300 s left, inside the 600 s advisory window: one caller renews, the others keep
  using the current token.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from realmgate.client import (
    AsyncTenantApiClient,
    AsyncTokenProvider,
    TenantApiClient,
    TenantSettings,
    TokenProvider,
)
from tests.sdk_integration.support import LIFETIME, ManualClock, token_requests
from tests.servers import Credentials, Server

THREADS = 50
TASKS = 200
ADVANCES = (0.0, LIFETIME, LIFETIME - 30, LIFETIME - 300)
"""How far the clock moves before each round (from the previous token's issue time)."""


def test_threads_make_one_token_request_per_renewal(server: Server, tenant: Credentials) -> None:
    clock = ManualClock()
    provider = TokenProvider(
        sso_base_url=server.base_url,
        tenant=tenant.tenant,
        client_id=tenant.client_id,
        client_secret=tenant.client_secret,
        clock=clock,
    )
    api = TenantApiClient(server.base_url, provider, close_provider=True)
    tokens: list[str] = []
    with api, ThreadPoolExecutor(max_workers=THREADS) as pool:
        for advance in ADVANCES:
            clock.advance(advance)
            barrier = threading.Barrier(THREADS)

            def call(barrier: threading.Barrier = barrier) -> TenantSettings:
                barrier.wait(timeout=60)
                return api.get_settings()

            before = token_requests(server)
            results = [f.result() for f in [pool.submit(call) for _ in range(THREADS)]]
            assert token_requests(server) - before == 1
            assert {r.shortcode for r in results} == {tenant.tenant}
            tokens.append(provider.get_token().value)
    assert len(set(tokens)) == len(ADVANCES)  # every round renewed


def test_asyncio_tasks_make_one_token_request_per_renewal(
    server: Server, tenant: Credentials
) -> None:
    clock = ManualClock()

    async def scenario() -> list[str]:
        tokens: list[str] = []
        # Enough connections for every task at once, so none waits for the pool.
        limits = httpx.Limits(max_connections=TASKS, max_keepalive_connections=TASKS)
        async with (
            httpx.AsyncClient(limits=limits, timeout=60) as http,
            AsyncTokenProvider(
                sso_base_url=server.base_url,
                tenant=tenant.tenant,
                client_id=tenant.client_id,
                client_secret=tenant.client_secret,
                clock=clock,
            ) as provider,
        ):
            api = AsyncTenantApiClient(server.base_url, provider, http_client=http)
            for advance in ADVANCES:
                clock.advance(advance)
                barrier = asyncio.Barrier(TASKS)

                async def call(barrier: asyncio.Barrier = barrier) -> TenantSettings:
                    await barrier.wait()
                    return await api.get_settings()

                before = await asyncio.to_thread(token_requests, server)
                # A task group, not gather: if one call fails, the others are cancelled and
                # awaited before the client closes (gather would leave them running on a
                # closed client, and their sockets to the garbage collector).
                async with asyncio.TaskGroup() as group:
                    calls = [group.create_task(call()) for _ in range(TASKS)]
                results = [c.result() for c in calls]
                assert await asyncio.to_thread(token_requests, server) - before == 1
                assert {r.shortcode for r in results} == {tenant.tenant}
                tokens.append((await provider.get_token()).value)
        return tokens

    tokens = asyncio.run(scenario())
    assert len(set(tokens)) == len(ADVANCES)
