"""BearerTokenAuth with httpx.Client and httpx.AsyncClient: header, one 401 retry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from realmgate.client import BearerTokenAuth, TokenProvider

from .fakes import TOKEN_PREFIX, FakeClock, Router, Sleeper, TokenEndpoint, async_provider

URL = "https://api.test/things"


class Api:
    """Answers 401 to the first ``rejections`` requests, 200 afterwards; records them."""

    def __init__(self, rejections: int) -> None:
        self.rejections = rejections
        self.seen: list[tuple[str | None, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.headers.get("Authorization"), request.content))
        if len(self.seen) <= self.rejections:
            challenge = 'Bearer realm="api", error="invalid_token"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, json={"ok": True})


@pytest.mark.parametrize(("rejections", "status", "calls"), [(0, 200, 1), (1, 200, 2), (2, 401, 2)])
def test_sync_client(
    router: Router,
    endpoint: TokenEndpoint,
    make_provider: Callable[..., TokenProvider],
    rejections: int,
    status: int,
    calls: int,
) -> None:
    api = Api(rejections)
    router.routes[URL] = api
    auth = BearerTokenAuth(make_provider())
    with httpx.Client(transport=httpx.MockTransport(router), auth=auth) as client:
        response = client.post(URL, content=b"payload")
    assert response.status_code == status
    assert len(api.seen) == calls
    expected = [f"Bearer {TOKEN_PREFIX}{n}" for n in range(1, calls + 1)]
    assert [header for header, _ in api.seen] == expected
    assert all(body == b"payload" for _, body in api.seen)
    assert endpoint.count == calls


def test_streaming_body_is_replayed(
    router: Router, make_provider: Callable[..., TokenProvider]
) -> None:
    api = Api(1)
    router.routes[URL] = api

    def body() -> object:
        yield b"chunk-1,"
        yield b"chunk-2"

    auth = BearerTokenAuth(make_provider())
    with httpx.Client(transport=httpx.MockTransport(router), auth=auth) as client:
        response = client.post(URL, content=body())  # type: ignore[arg-type]
    assert response.status_code == 200
    assert [b for _, b in api.seen] == [b"chunk-1,chunk-2"] * 2


@pytest.mark.parametrize("sync_provider", [False, True])
@pytest.mark.parametrize(("rejections", "status"), [(1, 200), (2, 401)])
def test_async_client(
    router: Router,
    endpoint: TokenEndpoint,
    clock: FakeClock,
    sleeper: Sleeper,
    make_provider: Callable[..., TokenProvider],
    sync_provider: bool,
    rejections: int,
    status: int,
) -> None:
    api = Api(rejections)
    router.routes[URL] = api

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.MockTransport(router)) as client:
            provider = make_provider() if sync_provider else async_provider(client, clock, sleeper)
            return await client.put(URL, json={"a": 1}, auth=BearerTokenAuth(provider))

    assert asyncio.run(main()).status_code == status
    assert [h for h, _ in api.seen] == [f"Bearer {TOKEN_PREFIX}1", f"Bearer {TOKEN_PREFIX}2"]
    assert api.seen[0][1] == api.seen[1][1] == b'{"a":1}'
    assert endpoint.count == 2


def test_async_provider_in_sync_client_is_refused(clock: FakeClock, sleeper: Sleeper) -> None:
    async def make() -> BearerTokenAuth:
        async with httpx.AsyncClient() as unused:
            return BearerTokenAuth(async_provider(unused, clock, sleeper))

    auth = asyncio.run(make())
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    with httpx.Client(transport=transport) as client, pytest.raises(TypeError, match="AsyncClient"):
        client.get(URL, auth=auth)
