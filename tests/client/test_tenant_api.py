"""TenantApiClient / AsyncTenantApiClient: typed settings, merge patches, JSend errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from realmgate.client import (
    ApiAuthError,
    ApiConnectionError,
    ApiFailError,
    ApiResponseError,
    ApiServerError,
    AsyncTenantApiClient,
    ConfigurationError,
    TenantApiClient,
    TenantSettings,
    TokenProvider,
)
from realmgate.client._jsend import parse_bearer_challenge

from .fakes import (
    API,
    CLIENT_ID,
    SECRET,
    SETTINGS_URL,
    SSO,
    TENANT,
    TOKEN_PREFIX,
    FakeClock,
    Router,
    Sleeper,
    TokenEndpoint,
    async_provider,
)

SETTINGS: dict[str, Any] = {
    "shortcode": "acme",
    "name": "ACME",
    "locale": "de-AT",
    "timezone": "Europe/Vienna",
    "defaultTranscriptionLanguage": "de",
    "transcriptionLanguages": ["de", "en"],
    "duplicateCheck": False,
    "maxActiveWebhooksPerUser": 5,
    "accessTokenLifespan": 7200,
    "sessionMaxLifespan": 36000,
    "createdAt": "2024-01-02T03:04:05Z",
    "updatedAt": "2024-06-01T00:00:00+00:00",
}


def success(data: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"status": "success", "data": data})


class SettingsApi:
    """A fake settings endpoint applying merge patches; ``answers`` override responses."""

    def __init__(self) -> None:
        self.settings = dict(SETTINGS)
        self.requests: list[httpx.Request] = []
        self.answers: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            return self.answers.pop(0)
        if not request.headers.get("Authorization", "").startswith(f"Bearer {TOKEN_PREFIX}"):
            return httpx.Response(401, headers={"WWW-Authenticate": "Bearer"})
        if request.method == "PATCH":
            self.settings.update(json.loads(request.content))
        return success({**self.settings, "brandNewField": {"x": 1}})


@pytest.fixture
def api(router: Router) -> SettingsApi:
    fake = SettingsApi()
    router.routes[SETTINGS_URL] = fake
    return fake


@pytest.fixture
def client(
    router: Router, make_provider: Callable[..., TokenProvider]
) -> Iterator[Callable[[], TenantApiClient]]:
    clients: list[httpx.Client] = []

    def factory() -> TenantApiClient:
        clients.append(httpx.Client(transport=httpx.MockTransport(router)))
        return TenantApiClient(API + "/", make_provider(), http_client=clients[-1])

    yield factory
    for http in clients:
        http.close()


def test_get_settings(api: SettingsApi, client: Callable[[], TenantApiClient]) -> None:
    settings = client().get_settings()
    assert settings == TenantSettings(
        shortcode="acme",
        name="ACME",
        locale="de-AT",
        timezone="Europe/Vienna",
        default_transcription_language="de",
        transcription_languages=("de", "en"),
        duplicate_check=False,
        max_active_webhooks_per_user=5,
        access_token_lifespan=7200,
        session_max_lifespan=36000,
        created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        updated_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    assert settings.extra == {"brandNewField": {"x": 1}}
    request = api.requests[0]
    assert (request.method, str(request.url)) == ("GET", SETTINGS_URL)
    assert request.headers["Authorization"] == f"Bearer {TOKEN_PREFIX}1"
    with pytest.raises(AttributeError):
        settings.name = "x"  # type: ignore[misc]


def test_update_settings(api: SettingsApi, client: Callable[[], TenantApiClient]) -> None:
    c = client()
    result = c.update_settings(
        {"maxActiveWebhooksPerUser": 9},
        duplicate_check=True,
        default_transcription_language=None,
        transcription_languages=("en",),
    )
    request = api.requests[0]
    assert request.method == "PATCH"
    assert request.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(request.content) == {
        "maxActiveWebhooksPerUser": 9,
        "duplicateCheck": True,
        "defaultTranscriptionLanguage": None,
        "transcriptionLanguages": ["en"],
    }
    assert result.duplicate_check is True
    assert result.default_transcription_language is None
    assert result.max_active_webhooks_per_user == 9


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"shortcode": "x"}, ValueError),
        ({"createdAt": "x"}, ValueError),
        ({"access_token_lifespan": 1}, ValueError),
        ({"colour": "red"}, ValueError),
        ({"duplicate_check": "yes"}, TypeError),
        ({"max_active_webhooks_per_user": True}, TypeError),
        ({"transcription_languages": "de"}, TypeError),
        ({"name": None}, TypeError),
    ],
)
def test_invalid_changes_are_refused_locally(
    api: SettingsApi,
    client: Callable[[], TenantApiClient],
    changes: dict[str, object],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        client().update_settings(changes)
    assert api.requests == []


def test_jsend_fail(api: SettingsApi, client: Callable[[], TenantApiClient]) -> None:
    api.answers.append(
        httpx.Response(
            422,
            json={
                "status": "fail",
                "data": {"locale": "unknown locale"},
                "message": "Validation failed",
            },
        )
    )
    with pytest.raises(ApiFailError) as info:
        client().update_settings(locale="xx")
    assert info.value.status_code == 422
    assert info.value.data == {"locale": "unknown locale"}
    assert info.value.message == "Validation failed"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"status": "error", "message": "database down", "code": 7}),
        httpx.Response(503, text="Service Unavailable"),
    ],
)
def test_server_errors(
    api: SettingsApi, client: Callable[[], TenantApiClient], response: httpx.Response
) -> None:
    api.answers.append(response)
    with pytest.raises(ApiServerError) as info:
        client().get_settings()
    assert info.value.status_code == response.status_code


def test_401_is_retried_once_then_raised(
    api: SettingsApi, endpoint: TokenEndpoint, client: Callable[[], TenantApiClient]
) -> None:
    challenge = 'Bearer realm="api", error="invalid_token", error_description="expired"'
    rejected = httpx.Response(
        401,
        headers={"WWW-Authenticate": challenge},
        json={"status": "fail", "data": {}, "message": "Unauthorized"},
    )
    api.answers.extend([rejected, rejected])
    with pytest.raises(ApiAuthError) as info:
        client().get_settings()
    assert info.value.status_code == 401
    assert info.value.error == "invalid_token"
    assert info.value.error_description == "expired"
    assert len(api.requests) == 2
    assert endpoint.count == 2


def test_403_is_not_retried(
    api: SettingsApi, endpoint: TokenEndpoint, client: Callable[[], TenantApiClient]
) -> None:
    challenge = 'Bearer error="insufficient_scope", scope="tenant:admin"'
    api.answers.append(httpx.Response(403, headers={"WWW-Authenticate": challenge}))
    with pytest.raises(ApiAuthError) as info:
        client().get_settings()
    assert info.value.error == "insufficient_scope"
    assert info.value.message == "access denied"
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html/>"),
        httpx.Response(200, json={"status": "fail", "data": {}}),
        success({**SETTINGS, "duplicateCheck": "no"}),
        success({k: v for k, v in SETTINGS.items() if k != "name"}),
        success({**SETTINGS, "createdAt": "yesterday"}),
        success({**SETTINGS, "maxActiveWebhooksPerUser": 1.5}),
        success({**SETTINGS, "transcriptionLanguages": [1]}),
        success(["not", "an", "object"]),
        httpx.Response(304),
    ],
)
def test_malformed_responses(
    api: SettingsApi, client: Callable[[], TenantApiClient], response: httpx.Response
) -> None:
    api.answers.append(response)
    with pytest.raises(ApiResponseError):
        client().get_settings()


def test_connection_error(router: Router, make_provider: Callable[..., TokenProvider]) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    router.routes[SETTINGS_URL] = broken
    with (
        httpx.Client(transport=httpx.MockTransport(router)) as http,
        pytest.raises(ApiConnectionError) as info,
    ):
        TenantApiClient(API, make_provider(), http_client=http).get_settings()
    assert info.value.status_code is None
    assert SETTINGS_URL in str(info.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, {}),
        ("Basic realm=x", {}),
        ("Bearer", {}),
        (
            'Bearer realm="a, b", error="invalid_token", error_description="say \\"hi\\""',
            {"realm": "a, b", "error": "invalid_token", "error_description": 'say "hi"'},
        ),
        ('Basic realm="x", Bearer error=invalid_token', {"error": "invalid_token"}),
        ('bearer ERROR="insufficient_scope"', {"error": "insufficient_scope"}),
    ],
)
def test_parse_bearer_challenge(header: str | None, expected: dict[str, str]) -> None:
    assert parse_bearer_challenge(header) == expected


def test_from_env(router: Router, api: SettingsApi, endpoint: TokenEndpoint) -> None:
    env = {
        "REALMGATE_SSO_URL": SSO,
        "REALMGATE_TENANT": TENANT,
        "REALMGATE_CLIENT_ID": CLIENT_ID,
        "REALMGATE_CLIENT_SECRET": SECRET,
    }
    with pytest.raises(ConfigurationError, match="REALMGATE_API_URL"):
        TenantApiClient.from_env(env)
    env["REALMGATE_API_URL"] = API
    with (
        httpx.Client(transport=httpx.MockTransport(router)) as http,
        TenantApiClient.from_env(env, http_client=http) as c,
    ):
        assert c.get_settings().shortcode == "acme"
    assert endpoint.count == 1


def test_async_client(router: Router, api: SettingsApi, clock: FakeClock, sleeper: Sleeper) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(router)) as http:
            provider = async_provider(http, clock, sleeper)
            async with AsyncTenantApiClient(API, provider, http_client=http) as c:
                assert (await c.get_settings()).name == "ACME"
                updated = await c.update_settings(name="ACME Corp")
                assert updated.name == "ACME Corp"
                api.answers.append(
                    httpx.Response(
                        400, json={"status": "fail", "data": {"name": "too long"}, "message": "no"}
                    )
                )
                with pytest.raises(ApiFailError) as info:
                    await c.update_settings(name="x" * 500)
                assert info.value.data == {"name": "too long"}

    asyncio.run(main())
    assert [r.method for r in api.requests] == ["GET", "PATCH", "PATCH"]
