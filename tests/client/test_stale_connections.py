"""A keep-alive connection the server closes just as the next request goes out.

The SDK sends that request once more on a new connection when it is safe: a ``GET`` or a token
request, on a reused connection, closed before any response head came. A request the server
answered in part, a ``PATCH`` and a request on a new connection are not sent again. Each test
runs against :class:`KeepAliveServer`, a real socket server, and ends by checking that the SDK
closed every connection it opened (the server sees each one end) and that no socket was left
for the garbage collector.

``RetryPolicy(max_retries=0)`` keeps the token requests' own retries out of the way: a token
request that succeeds after a broken connection was resent by the connection layer.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from collections.abc import Iterator

import pytest

from realmgate.client import (
    ApiConnectionError,
    AsyncTenantApiClient,
    AsyncTokenProvider,
    RetryPolicy,
    TenantApiClient,
    TokenEndpointUnavailableError,
    TokenProvider,
)
from tests.client.fakes import CLIENT_ID, SECRET, TENANT, Sleeper
from tests.client.keepalive_server import (
    ANSWER,
    CLOSE,
    PARTIAL,
    RESET,
    SETTINGS_PATH,
    TOKEN_PATH,
    Action,
    KeepAliveServer,
)

RESENT = "resending once on a new connection"
BROKEN = [pytest.param(CLOSE, id="end-of-file"), pytest.param(RESET, id="reset")]


@pytest.fixture(autouse=True)
def no_socket_left_behind() -> Iterator[None]:
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


def resends(caplog: pytest.LogCaptureFixture) -> int:
    return sum(RESENT in r.getMessage() for r in caplog.records if r.name == "realmgate.client")


def provider(server: KeepAliveServer, sleeper: Sleeper) -> TokenProvider:
    return TokenProvider(
        sso_base_url=server.base_url,
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        retry=RetryPolicy(max_retries=0),
        sleep=sleeper.sleep,
    )


def async_provider(server: KeepAliveServer, sleeper: Sleeper) -> AsyncTokenProvider:
    return AsyncTokenProvider(
        sso_base_url=server.base_url,
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        retry=RetryPolicy(max_retries=0),
        sleep=sleeper.asleep,
    )


def connections(server: KeepAliveServer, path: str) -> list[int]:
    return [seen.connection for seen in server.requests(path)]


# --------------------------------------------------------------------------- resent once


@pytest.mark.parametrize("broken", BROKEN)
def test_a_token_request_on_a_connection_closed_before_the_answer_is_resent_once(
    broken: Action, sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")
    with KeepAliveServer(token=[ANSWER, broken]) as server:
        with provider(server, sleeper) as tokens:
            first = tokens.get_token()
            second = tokens.force_refresh()
        server.wait_closed()
    assert (first.value, second.value) == ("AT-1", "AT-3")  # AT-2 went down with connection 0
    assert connections(server, TOKEN_PATH) == [0, 0, 1]
    assert resends(caplog) == 1
    assert sleeper.sleeps == []  # no retry, no back-off


@pytest.mark.parametrize("broken", BROKEN)
def test_an_async_token_request_on_a_connection_closed_before_the_answer_is_resent_once(
    broken: Action, sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")

    async def scenario(server: KeepAliveServer) -> tuple[str, str]:
        async with async_provider(server, sleeper) as tokens:
            first = await tokens.get_token()
            second = await tokens.force_refresh()
        return first.value, second.value

    with KeepAliveServer(token=[ANSWER, broken]) as server:
        values = asyncio.run(scenario(server))
        server.wait_closed()
    assert values == ("AT-1", "AT-3")
    assert connections(server, TOKEN_PATH) == [0, 0, 1]
    assert resends(caplog) == 1
    assert sleeper.sleeps == []


@pytest.mark.parametrize("broken", BROKEN)
def test_a_settings_get_on_a_connection_closed_before_the_answer_is_resent_once(
    broken: Action, sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")
    with KeepAliveServer(settings=[ANSWER, broken]) as server:
        api = TenantApiClient(server.base_url, provider(server, sleeper), close_provider=True)
        with api:
            assert api.get_settings().shortcode == "acme"
            assert api.get_settings().shortcode == "acme"
        server.wait_closed()
    first, second, resent = connections(server, SETTINGS_PATH)
    assert first == second != resent
    assert resends(caplog) == 1


@pytest.mark.parametrize("broken", BROKEN)
def test_an_async_settings_get_on_a_connection_closed_before_the_answer_is_resent_once(
    broken: Action, sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")

    async def scenario(server: KeepAliveServer) -> list[str]:
        tokens = async_provider(server, sleeper)
        async with AsyncTenantApiClient(server.base_url, tokens, close_provider=True) as api:
            return [(await api.get_settings()).shortcode for _ in range(2)]

    with KeepAliveServer(settings=[ANSWER, broken]) as server:
        assert asyncio.run(scenario(server)) == ["acme", "acme"]
        server.wait_closed()
    first, second, resent = connections(server, SETTINGS_PATH)
    assert first == second != resent
    assert resends(caplog) == 1


# --------------------------------------------------------------------------- not resent


def test_a_token_request_answered_in_part_is_not_resent(
    sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")
    with KeepAliveServer(token=[ANSWER, PARTIAL]) as server:
        with provider(server, sleeper) as tokens:
            tokens.get_token()
            with pytest.raises(TokenEndpointUnavailableError) as failure:
                tokens.force_refresh()
        server.wait_closed()
    assert "RemoteProtocolError" in str(failure.value)
    assert connections(server, TOKEN_PATH) == [0, 0]
    assert resends(caplog) == 0


def test_a_settings_get_answered_in_part_is_not_resent(
    sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")
    with KeepAliveServer(settings=[ANSWER, PARTIAL]) as server:
        api = TenantApiClient(server.base_url, provider(server, sleeper), close_provider=True)
        with api:
            api.get_settings()
            with pytest.raises(ApiConnectionError, match="RemoteProtocolError"):
                api.get_settings()
        server.wait_closed()
    assert len(server.requests(SETTINGS_PATH)) == 2
    assert resends(caplog) == 0


@pytest.mark.parametrize("broken", BROKEN)
def test_a_settings_patch_on_a_connection_closed_before_the_answer_is_not_resent(
    broken: Action, sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")
    with KeepAliveServer(settings=[ANSWER, broken]) as server:
        api = TenantApiClient(server.base_url, provider(server, sleeper), close_provider=True)
        with api:
            api.get_settings()
            with pytest.raises(ApiConnectionError):
                api.update_settings(name="Renamed")
        server.wait_closed()
    assert [s.method for s in server.requests(SETTINGS_PATH)] == ["GET", "PATCH"]
    assert resends(caplog) == 0


@pytest.mark.parametrize("broken", BROKEN)
def test_a_new_connection_closed_before_the_answer_is_not_resent(
    broken: Action, sleeper: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "realmgate.client")
    with KeepAliveServer(settings=[broken]) as server:
        api = TenantApiClient(server.base_url, provider(server, sleeper), close_provider=True)
        with api, pytest.raises(ApiConnectionError):
            api.get_settings()
        server.wait_closed()
    assert len(server.requests(SETTINGS_PATH)) == 1
    assert resends(caplog) == 0
