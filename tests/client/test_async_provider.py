"""AsyncTokenProvider: the same renewal and retry behaviour, driven by asyncio."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from realmgate.client import (
    AsyncTokenProvider,
    TokenEndpointUnavailableError,
    TokenRequestError,
)

from .fakes import (
    CLIENT_ID,
    SECRET,
    SSO,
    TENANT,
    TOKEN_PREFIX,
    FakeClock,
    Router,
    Sleeper,
    TokenEndpoint,
    async_provider,
    oauth_error,
)


def test_windows_retries_and_errors(
    router: Router,
    endpoint: TokenEndpoint,
    clock: FakeClock,
    sleeper: Sleeper,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(router)) as client:
            provider = async_provider(client, clock, sleeper)
            first = await provider.get_token()
            assert await provider.get_token() is first
            # Advisory window, endpoint failing: logged, old token kept, no sleeps.
            clock.advance(7200 - 300)
            endpoint.push(httpx.Response(503))
            with caplog.at_level(logging.WARNING, logger="realmgate.client"):
                assert await provider.get_token() is first
            assert "advisory renewal" in caplog.text
            assert sleeper.sleeps == []
            # Mandatory window: retries with back-off and Retry-After, then success.
            clock.advance(300 - 20)
            endpoint.push(
                oauth_error(429, "slow_down", **{"Retry-After": "2"}), httpx.ConnectError("down")
            )
            second = await provider.get_token()
            assert second.value == f"{TOKEN_PREFIX}2"
            assert sleeper.sleeps == [2.0, 1.0]
            # Mandatory failure raises.
            clock.advance(8000)
            endpoint.push(*[httpx.Response(500) for _ in range(4)])
            with pytest.raises(TokenEndpointUnavailableError):
                await provider.get_token()
            # Bad credentials: raised at once, not retried.
            endpoint.push(oauth_error(401, "invalid_client"))
            sleeps = len(sleeper.sleeps)
            with pytest.raises(TokenRequestError) as info:
                await provider.get_token()
            assert info.value.error == "invalid_client"
            assert len(sleeper.sleeps) == sleeps
            # Recovery, force_refresh and invalidate.
            third = await provider.get_token()
            fourth = await provider.force_refresh()
            assert await provider.force_refresh(stale=third) is fourth
            provider.invalidate()
            fifth = await provider.get_token()
            assert [third.value, fourth.value, fifth.value] == [
                f"{TOKEN_PREFIX}{n}" for n in (3, 4, 5)
            ]

    asyncio.run(main())
    assert SECRET not in caplog.text


def test_from_env_and_owned_client() -> None:
    env = {
        "REALMGATE_SSO_URL": SSO,
        "REALMGATE_TENANT": TENANT,
        "REALMGATE_CLIENT_ID": CLIENT_ID,
        "REALMGATE_CLIENT_SECRET": SECRET,
    }

    async def main() -> httpx.AsyncClient:
        async with AsyncTokenProvider.from_env(env) as provider:
            assert provider.config.client_id == CLIENT_ID
            assert provider.token_endpoint == provider.config.default_token_endpoint
            return provider._client

    assert asyncio.run(main()).is_closed
