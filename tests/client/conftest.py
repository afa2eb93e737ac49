"""Fixtures for the client SDK tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from realmgate.client import TokenProvider

from .fakes import (
    CLIENT_ID,
    SECRET,
    SSO,
    TENANT,
    FakeClock,
    Router,
    Sleeper,
    TokenEndpoint,
    deterministic_retry,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def endpoint() -> TokenEndpoint:
    return TokenEndpoint()


@pytest.fixture
def router(endpoint: TokenEndpoint) -> Router:
    return Router(endpoint)


@pytest.fixture
def make_provider(
    router: Router, clock: FakeClock, sleeper: Sleeper
) -> Iterator[Callable[..., TokenProvider]]:
    clients: list[httpx.Client] = []

    def factory(**kwargs: Any) -> TokenProvider:
        client = httpx.Client(transport=httpx.MockTransport(router))
        clients.append(client)
        options: dict[str, Any] = {
            "sso_base_url": SSO,
            "tenant": TENANT,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "http_client": client,
            "clock": clock,
            "sleep": sleeper.sleep,
            "retry": deterministic_retry(),
        }
        options.update(kwargs)
        return TokenProvider(**options)

    yield factory
    for client in clients:
        client.close()
