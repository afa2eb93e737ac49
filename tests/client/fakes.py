"""Fakes for the client SDK tests: a token endpoint, a clock, a sleep."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from realmgate.client import AsyncTokenProvider, RetryPolicy

SSO = "https://sso.test"
TENANT = "acme"
CLIENT_ID = "svc-reporting"
SECRET = "cs-Sentinel-5ecret-Value-0123456789"
TOKEN_URL = f"{SSO}/realms/{TENANT}/protocol/openid-connect/token"
DISCOVERY_URL = f"{SSO}/realms/{TENANT}/.well-known/openid-configuration"
API = "https://api.test"
SETTINGS_URL = f"{API}/v2/tenants/current/settings"
TOKEN_PREFIX = "AT-Sentinel-"

Item = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """A monotonic clock that only moves when told; counts how often it is read."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.calls = 0
        self._cv = threading.Condition()

    def __call__(self) -> float:
        with self._cv:
            self.calls += 1
            self._cv.notify_all()
            return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wait_for_calls(self, n: int, timeout: float = 30.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self.calls >= n, timeout)


class Sleeper:
    """Records requested sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def token_response(value: str, expires_in: object = 7200, **extra: Any) -> httpx.Response:
    body = {
        "access_token": value,
        "expires_in": expires_in,
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "email profile",
        **extra,
    }
    return httpx.Response(200, json=body)


def oauth_error(status: int, error: str, description: str = "", **headers: str) -> httpx.Response:
    body = {"error": error, "error_description": description or f"{error} happened"}
    return httpx.Response(status, json=body, headers=headers)


class TokenEndpoint:
    """A scripted token endpoint: answers queued items in order, then fresh tokens.

    ``gate`` (if set) is called before answering, e.g. to block until other callers queued.
    """

    def __init__(self, lifetime: float = 7200) -> None:
        self.lifetime = lifetime
        self.requests: list[httpx.Request] = []
        self.script: deque[Item] = deque()
        self.issued: list[str] = []
        self.gate: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def push(self, *items: Item) -> None:
        self.script.extend(items)

    def issue(self) -> httpx.Response:
        with self._lock:
            value = f"{TOKEN_PREFIX}{len(self.issued) + 1}"
            self.issued.append(value)
        return token_response(value, self.lifetime)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            item = self.script.popleft() if self.script else None
        if self.gate is not None:
            self.gate()
        if item is None:
            return self.issue()
        if isinstance(item, Exception):
            raise item
        if callable(item):
            return item(request)
        return item

    @property
    def count(self) -> int:
        return len(self.requests)


class Router:
    """Dispatches MockTransport requests by URL to the token endpoint or other handlers."""

    def __init__(self, token: TokenEndpoint) -> None:
        self.token = token
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {TOKEN_URL: token}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url.copy_with(query=None))
        handler = self.routes.get(url)
        if handler is None:
            return httpx.Response(404, json={"error": "not_found"})
        return handler(request)


def deterministic_retry(**kwargs: Any) -> RetryPolicy:
    """Jitter that always picks the upper bound, so sleeps are predictable."""
    return RetryPolicy(jitter=lambda cap: cap, **kwargs)


def async_provider(
    client: httpx.AsyncClient, clock: FakeClock, sleeper: Sleeper, **kwargs: Any
) -> AsyncTokenProvider:
    """An async provider sending with ``client`` (which the caller closes)."""
    options: dict[str, Any] = {
        "sso_base_url": SSO,
        "tenant": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "clock": clock,
        "sleep": sleeper.asleep,
        "retry": deterministic_retry(),
        "http_client": client,
    }
    options.update(kwargs)
    return AsyncTokenProvider(**options)
