"""Helpers for the SDK integration tests: the server's token counter, a controllable clock,
and a network boundary between the SDK and the real server that a test can break or script.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import Server

LIFETIME = 7200.0
"""The server's default access token lifespan (what ``expires_in`` says)."""

Script = Callable[[httpx.Request], httpx.Response]


def unique_shortcode() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


def token_requests(server: Server, outcome: str = "success") -> float:
    """``realmgate_token_requests_total{grant_type="client_credentials",outcome=...}``."""
    response = server.metrics()
    assert response.status_code == 200, response.text
    wanted = {"grant_type": "client_credentials", "outcome": outcome}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "realmgate_token_requests_total" and sample.labels == wanted:
                return float(sample.value)
    return 0.0  # a label set that was never counted is not exported


class ManualClock:
    """The providers' monotonic clock; it moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    """Records the back-off sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def tamper(token: str) -> str:
    """The same JWT with one character of its signature changed: the server refuses it."""
    header, payload, signature = token.split(".")
    replacement = "A" if signature[10] != "A" else "B"
    return f"{header}.{payload}.{signature[:10]}{replacement}{signature[11:]}"


def is_token_request(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/protocol/openid-connect/token")


class _Boundary:
    """What the sync and async network boundaries share."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down = False
        """Raise :class:`httpx.ConnectError` instead of sending (the server stays up)."""
        self.script: deque[Script] = deque()
        """Answers given instead of the server's, in order, before passing through again."""
        self.tamper_tokens = 0
        """How many of the next token responses get a corrupted signature (-1: all)."""
        self.attempts = 0
        self.statuses: list[int] = []
        self.issued: list[str] = []
        """Every access token the server issued through this boundary."""
        self.tampered: list[str] = []

    def before(self, request: httpx.Request) -> httpx.Response | None:
        with self.lock:
            self.attempts += 1
            if self.down:
                raise httpx.ConnectError("connection refused (test)", request=request)
            scripted = self.script.popleft() if self.script else None
        if scripted is None:
            return None
        response = scripted(request)
        self.statuses.append(response.status_code)
        return response

    def after(
        self, request: httpx.Request, status: int, headers: httpx.Headers, content: bytes
    ) -> httpx.Response:
        kept = [
            (k, v)
            for k, v in headers.multi_items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        with self.lock:
            self.statuses.append(status)
        if status == 200 and is_token_request(request):
            body = json.loads(content)
            with self.lock:
                self.issued.append(body["access_token"])
                if self.tamper_tokens != 0:
                    if self.tamper_tokens > 0:
                        self.tamper_tokens -= 1
                    body["access_token"] = tamper(body["access_token"])
                    self.tampered.append(body["access_token"])
                    content = json.dumps(body).encode()
        return httpx.Response(status, headers=kept, content=content, request=request)


class Network(_Boundary, httpx.BaseTransport):
    """A real :class:`httpx.HTTPTransport` behind a switch: the network between the SDK and
    the server, which the SDK does not own and which can fail."""

    def __init__(self) -> None:
        super().__init__()
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scripted = self.before(request)
        if scripted is not None:
            return scripted
        response = self._inner.handle_request(request)
        try:
            content = response.read()
        finally:
            response.close()
        return self.after(request, response.status_code, response.headers, content)

    def close(self) -> None:
        self._inner.close()


class AsyncNetwork(_Boundary, httpx.AsyncBaseTransport):
    """:class:`Network` for :class:`httpx.AsyncClient`."""

    def __init__(self) -> None:
        super().__init__()
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scripted = self.before(request)
        if scripted is not None:
            return scripted
        response = await self._inner.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return self.after(request, response.status_code, response.headers, content)

    async def aclose(self) -> None:
        await self._inner.aclose()


def unavailable(status: int, retry_after: str) -> Script:
    """A scripted 429/503 answer with ``Retry-After``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            headers={"Retry-After": retry_after},
            json={"error": "temporarily_unavailable"},
            request=request,
        )

    return answer
