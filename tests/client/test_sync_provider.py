"""TokenProvider: renewal windows, retries, typed errors, discovery (httpx.MockTransport)."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from realmgate.client import (
    TokenEndpointUnavailableError,
    TokenError,
    TokenProvider,
    TokenRequestError,
    TokenResponseError,
)

from .fakes import (
    CLIENT_ID,
    DISCOVERY_URL,
    SECRET,
    SSO,
    TENANT,
    TOKEN_PREFIX,
    TOKEN_URL,
    FakeClock,
    Router,
    Sleeper,
    TokenEndpoint,
    oauth_error,
    token_response,
)

MakeProvider = Callable[..., TokenProvider]


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def test_first_call_fetches_then_caches(
    make_provider: MakeProvider, endpoint: TokenEndpoint
) -> None:
    provider = make_provider(scope="email profile")
    token = provider.get_token()
    assert token.value == f"{TOKEN_PREFIX}1"
    assert token.lifetime == 7200
    assert token.scope == "email profile"
    assert provider.get_token() is token
    assert endpoint.count == 1
    request = endpoint.requests[0]
    assert request.method == "POST"
    assert str(request.url) == TOKEN_URL
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    assert form(request) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
        "scope": ["email profile"],
    }


def test_client_secret_basic(make_provider: MakeProvider, endpoint: TokenEndpoint) -> None:
    make_provider(auth_method="client_secret_basic").get_token()
    request = endpoint.requests[0]
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert form(request) == {"grant_type": ["client_credentials"]}
    assert SECRET not in str(request.url)


def test_fresh_advisory_mandatory_windows(
    make_provider: MakeProvider, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    provider = make_provider()
    first = provider.get_token()
    # a token counts from a second before its request was sent (whole-second iat)
    clock.advance(7200 - 1 - 601)  # still fresh
    assert provider.get_token() is first
    assert endpoint.count == 1
    clock.advance(2)  # advisory window (last 600 s): the caller renews
    second = provider.get_token()
    assert second.value == f"{TOKEN_PREFIX}2"
    assert endpoint.count == 2
    clock.advance(7200 - 59)  # mandatory window (last 60 s) of the second token
    third = provider.get_token()
    assert third.value == f"{TOKEN_PREFIX}3"
    assert endpoint.count == 3


def test_advisory_failure_is_logged_not_raised(
    make_provider: MakeProvider,
    endpoint: TokenEndpoint,
    clock: FakeClock,
    sleeper: Sleeper,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = make_provider()
    first = provider.get_token()
    clock.advance(7200 - 300)
    endpoint.push(httpx.Response(503))
    with caplog.at_level(logging.WARNING, logger="realmgate.client"):
        assert provider.get_token() is first
    assert endpoint.count == 2  # a single attempt, no back-off sleeps in the advisory window
    assert sleeper.sleeps == []
    warnings = [r for r in caplog.records if r.name == "realmgate.client"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "advisory renewal" in warnings[0].getMessage()
    assert SECRET not in caplog.text
    # The next advisory attempt waits for the retry interval (5 s).
    clock.advance(4)
    assert provider.get_token() is first
    assert endpoint.count == 2
    clock.advance(1)
    assert provider.get_token().value == f"{TOKEN_PREFIX}2"
    assert endpoint.count == 3


def test_advisory_failure_honours_retry_after(
    make_provider: MakeProvider, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    provider = make_provider()
    first = provider.get_token()
    clock.advance(7200 - 300)
    endpoint.push(oauth_error(429, "slow_down", **{"Retry-After": "40"}))
    assert provider.get_token() is first
    clock.advance(39)
    assert provider.get_token() is first
    assert endpoint.count == 2
    clock.advance(1)
    assert provider.get_token() is not first


def test_mandatory_failure_raises_after_bounded_retries(
    make_provider: MakeProvider, endpoint: TokenEndpoint, clock: FakeClock, sleeper: Sleeper
) -> None:
    provider = make_provider()
    provider.get_token()
    clock.advance(7200 - 30)
    endpoint.push(*[httpx.Response(503) for _ in range(4)])
    with pytest.raises(TokenEndpointUnavailableError) as info:
        provider.get_token()
    assert endpoint.count == 1 + 4
    assert sleeper.sleeps == [0.5, 1.0, 2.0]
    assert info.value.attempts == 4
    assert info.value.status_code == 503
    # Recovery: once the endpoint answers again the next call succeeds.
    assert provider.get_token().value == f"{TOKEN_PREFIX}2"


def test_expired_token_with_endpoint_down_raises_and_recovers(
    make_provider: MakeProvider, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    provider = make_provider()
    provider.get_token()
    clock.advance(8000)
    endpoint.push(*[httpx.ConnectError("connection refused") for _ in range(4)])
    with pytest.raises(TokenEndpointUnavailableError) as info:
        provider.get_token()
    assert info.value.status_code is None
    assert "ConnectError: connection refused" in str(info.value)
    assert info.value.__cause__ is None
    endpoint.push(httpx.ReadTimeout("slow"), httpx.Response(502))
    assert provider.get_token().value == f"{TOKEN_PREFIX}2"


def test_retry_after_is_honoured_and_capped(
    make_provider: MakeProvider, endpoint: TokenEndpoint, sleeper: Sleeper
) -> None:
    endpoint.push(
        oauth_error(429, "slow_down", **{"Retry-After": "2"}),
        oauth_error(503, "temporarily_unavailable", **{"Retry-After": "3600"}),
        httpx.Response(500, text="oops"),
    )
    token = make_provider().get_token()
    assert token.value == f"{TOKEN_PREFIX}1"
    assert sleeper.sleeps == [2.0, 30.0, 2.0]
    assert endpoint.count == 4


@pytest.mark.parametrize(
    ("response", "status", "error"),
    [
        (oauth_error(401, "invalid_client", "Invalid client credentials"), 401, "invalid_client"),
        (oauth_error(400, "invalid_scope"), 400, "invalid_scope"),
        (oauth_error(404, "realm_not_found", "Realm does not exist"), 404, "realm_not_found"),
        (httpx.Response(403, text="<html>forbidden</html>"), 403, "http_error"),
    ],
)
def test_refusals_raise_at_once(
    make_provider: MakeProvider,
    endpoint: TokenEndpoint,
    sleeper: Sleeper,
    response: httpx.Response,
    status: int,
    error: str,
) -> None:
    endpoint.push(response)
    with pytest.raises(TokenRequestError) as info:
        make_provider().get_token()
    assert info.value.status_code == status
    assert info.value.error == error
    assert endpoint.count == 1
    assert sleeper.sleeps == []


def test_error_description_is_scrubbed(
    make_provider: MakeProvider, endpoint: TokenEndpoint
) -> None:
    endpoint.push(oauth_error(401, "invalid_client", f"secret {SECRET} is wrong"))
    with pytest.raises(TokenRequestError) as info:
        make_provider().get_token()
    assert SECRET not in str(info.value)
    assert info.value.error_description is not None
    assert SECRET not in info.value.error_description


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>login</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"token_type": "Bearer", "expires_in": 60}),
        token_response("AT-x", token_type="mac"),
        token_response("AT-x", expires_in=0),
        token_response("AT-x", expires_in=True),
        token_response("AT-x", expires_in="soon"),
        httpx.Response(302, headers={"Location": "https://elsewhere.test/"}),
    ],
)
def test_malformed_responses(
    make_provider: MakeProvider, endpoint: TokenEndpoint, response: httpx.Response
) -> None:
    endpoint.push(response)
    with pytest.raises(TokenResponseError):
        make_provider().get_token()
    assert endpoint.count == 1


def test_missing_expires_in_defaults_and_string_is_accepted(
    make_provider: MakeProvider, endpoint: TokenEndpoint
) -> None:
    endpoint.push(httpx.Response(200, json={"access_token": "AT-a", "token_type": "bearer"}))
    assert make_provider().get_token().lifetime == 300
    endpoint.push(token_response("AT-b", expires_in="120"))
    assert make_provider().get_token().lifetime == 120


def test_force_refresh_and_invalidate(make_provider: MakeProvider, endpoint: TokenEndpoint) -> None:
    provider = make_provider()
    first = provider.get_token()
    second = provider.force_refresh()
    assert second.value == f"{TOKEN_PREFIX}2"
    # A refresh for a token that was already replaced reuses the replacement.
    assert provider.force_refresh(stale=first) is second
    assert endpoint.count == 2
    provider.invalidate()
    assert provider.get_token().value == f"{TOKEN_PREFIX}3"
    assert endpoint.count == 3


def test_advisory_renewal_in_flight_does_not_block_others(
    make_provider: MakeProvider, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    provider = make_provider()
    first = provider.get_token()
    clock.advance(7200 - 300)
    entered, release = threading.Event(), threading.Event()

    def slow() -> None:
        entered.set()
        assert release.wait(30)

    endpoint.gate = slow
    results: list[object] = []
    leader = threading.Thread(target=lambda: results.append(provider.get_token()))
    leader.start()
    assert entered.wait(30)
    # While the leader renews, everybody else keeps the still-valid token without waiting.
    assert provider.get_token() is first
    release.set()
    leader.join(30)
    assert [t.value for t in results] == [f"{TOKEN_PREFIX}2"]  # type: ignore[attr-defined]
    assert endpoint.count == 2


def test_discovery(router: Router, endpoint: TokenEndpoint, make_provider: MakeProvider) -> None:
    discovered = f"{SSO}/custom/token"
    seen: list[httpx.Request] = []

    def discovery(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        doc = {"issuer": f"{SSO}/realms/{TENANT}", "token_endpoint": discovered, "jwks_uri": "x"}
        return httpx.Response(200, json=doc)

    router.routes[DISCOVERY_URL] = discovery
    router.routes[discovered] = endpoint
    provider = make_provider(discovery=True)
    assert provider.token_endpoint is None
    provider.get_token()
    provider.force_refresh()
    assert provider.token_endpoint == discovered
    assert len(seen) == 1
    assert seen[0].method == "GET"
    assert [str(r.url) for r in endpoint.requests] == [discovered, discovered]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(404, json={"error": "realm_not_found"}), TokenRequestError),
        (httpx.Response(200, json={"issuer": "x"}), TokenResponseError),
        (httpx.Response(200, json={"token_endpoint": "http://sso.test/t"}), TokenResponseError),
        (httpx.Response(200, json={"token_endpoint": "/relative"}), TokenResponseError),
    ],
)
def test_discovery_failures(
    router: Router, make_provider: MakeProvider, answer: httpx.Response, error: type[TokenError]
) -> None:
    router.routes[DISCOVERY_URL] = lambda request: answer
    with pytest.raises(error):
        make_provider(discovery=True).get_token()


def test_explicit_token_endpoint_and_from_env(
    router: Router, endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    router.routes["https://other.test/token"] = endpoint
    env = {
        "REALMGATE_SSO_URL": SSO,
        "REALMGATE_TENANT": TENANT,
        "REALMGATE_CLIENT_ID": CLIENT_ID,
        "REALMGATE_CLIENT_SECRET": SECRET,
        "REALMGATE_SCOPE": "email",
    }
    with httpx.Client(transport=httpx.MockTransport(router)) as client:
        provider = TokenProvider.from_env(env, http_client=client, clock=clock)
        provider.get_token()
        explicit = TokenProvider(
            sso_base_url=SSO,
            tenant=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            token_endpoint="https://other.test/token",
            http_client=client,
        )
        explicit.get_token()
    assert [str(r.url) for r in endpoint.requests] == [TOKEN_URL, "https://other.test/token"]
    assert form(endpoint.requests[0])["scope"] == ["email"]


def test_owned_client_is_closed() -> None:
    with TokenProvider(
        sso_base_url=SSO, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET
    ) as provider:
        client = provider._client
    assert client.is_closed
