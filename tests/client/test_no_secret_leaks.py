"""The client secret and access tokens never reach logs, reprs, str() or exceptions.

A real HTTP server on 127.0.0.1 is used (not MockTransport) so that httpx, httpcore and
urllib3 emit their own DEBUG logs, which are captured for every logger.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import requests

from realmgate.client import (
    AsyncTenantApiClient,
    AsyncTokenProvider,
    BearerTokenAuth,
    ClientConfig,
    RealmgateClientError,
    RetryPolicy,
    Secret,
    TenantApiClient,
    TokenProvider,
)
from realmgate.client.requests_auth import RequestsBearerAuth

from .fakes import CLIENT_ID, SECRET, TENANT, FakeClock, Sleeper
from .test_tenant_api import SETTINGS

LIVE_TOKEN = "AT-Live-Sentinel-"


class Server:
    """Scripted behaviour shared with the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token_failures: list[int] = []  # statuses to answer before succeeding
        self.api_failures: list[int] = []
        self.issued: list[str] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        state: Server = self.server.state
        body = self.body().decode()
        basic = self.headers.get("Authorization", "")
        good = f"client_secret={SECRET}" in body or basic == basic_header()
        with state.lock:
            failure = state.token_failures.pop(0) if state.token_failures else None
            if failure is None and good:
                state.issued.append(f"{LIVE_TOKEN}{len(state.issued) + 1}")
                token = state.issued[-1]
        if failure is not None:
            error = {"error": "temporarily_unavailable", "error_description": "busy"}
            self.reply(failure, error, {"Retry-After": "1"})
        elif not good:
            self.reply(401, {"error": "invalid_client", "error_description": "Invalid client"})
        else:
            self.reply(200, {"access_token": token, "expires_in": 300, "token_type": "Bearer"})

    def api(self) -> None:
        state: Server = self.server.state
        self.body()
        with state.lock:
            failure = state.api_failures.pop(0) if state.api_failures else None
            known = self.headers.get("Authorization", "")[len("Bearer ") :] in state.issued
        if failure == 401 or not known:
            challenge = 'Bearer realm="api", error="invalid_token"'
            self.reply(
                401,
                {"status": "fail", "data": {}, "message": "Unauthorized"},
                {"WWW-Authenticate": challenge},
            )
        elif failure is not None:
            self.reply(failure, {"status": "fail", "data": {"name": "bad"}, "message": "Invalid"})
        else:
            self.reply(200, {"status": "success", "data": SETTINGS})

    do_GET = api
    do_PATCH = api


def basic_header() -> str:
    return "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()


@pytest.fixture
def live() -> Iterator[tuple[str, Server]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = Server()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@pytest.fixture
def everything_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "urllib3", "hpack", "h11", "realmgate", "realmgate.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def describe(value: object) -> list[str]:
    """repr, str and (for exceptions) the whole formatted chain with tracebacks."""
    texts = [repr(value), str(value)]
    if isinstance(value, BaseException):
        texts.append("".join(traceback.format_exception(value)))
        for name in ("error", "error_description", "message", "data"):
            texts.append(repr(getattr(value, name, None)))
    return texts


def assert_no_secrets(
    texts: list[str], caplog: pytest.LogCaptureFixture, tokens: list[str]
) -> None:
    records = caplog.records
    assert any(r.name.startswith("httpcore") for r in records), "httpcore did not log"
    assert any(r.name == "realmgate.client" for r in records)
    corpus = [caplog.text, *texts]
    for record in records:
        corpus += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    forbidden = [SECRET, SECRET[::-1], basic_header().split()[1], *tokens]
    assert tokens, "no tokens were issued"
    for text in corpus:
        for needle in forbidden:
            assert needle not in text


def test_sync_flow(live: tuple[str, Server], everything_at_debug: pytest.LogCaptureFixture) -> None:
    base, state = live
    clock, sleeper = FakeClock(), Sleeper()
    seen: list[object] = []
    retry = RetryPolicy(jitter=lambda cap: 0.0)
    state.token_failures += [503, 429]
    provider = TokenProvider(
        sso_base_url=base,
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        clock=clock,
        sleep=sleeper.sleep,
        retry=retry,
    )
    basic = TokenProvider.from_config(
        ClientConfig(
            sso_base_url=base,
            tenant=TENANT,
            client_id=CLIENT_ID,
            client_secret=Secret(SECRET),
            auth_method="client_secret_basic",
        ),
        clock=clock,
        sleep=sleeper.sleep,
        retry=retry,
    )
    wrong = TokenProvider(
        sso_base_url=base,
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRET[::-1],
        clock=clock,
        sleep=sleeper.sleep,
    )
    with provider, basic, wrong, TenantApiClient(base, provider) as api:
        token = provider.get_token()
        seen += [token, provider, provider.config, basic, api, basic.get_token()]
        state.api_failures += [401]
        seen.append(api.get_settings())  # 401, refresh, retry
        state.api_failures += [422]
        with pytest.raises(RealmgateClientError) as fail:
            api.update_settings(name="x")
        seen.append(fail.value)
        with pytest.raises(RealmgateClientError) as refused:
            wrong.get_token()
        seen.append(refused.value)
        clock.advance(300 - 30)  # advisory window; the endpoint fails: logged
        state.token_failures += [500]
        seen.append(provider.get_token())
        clock.advance(30)  # expired; the endpoint stays down: raised
        state.token_failures += [503] * 4
        with pytest.raises(RealmgateClientError) as down:
            provider.get_token()
        seen.append(down.value)
        with requests.Session() as session:
            auth = RequestsBearerAuth(provider)
            state.api_failures += [401]
            response = session.get(f"{base}/v2/tenants/current/settings", auth=auth)
            seen += [auth, response.status_code, response.text]
        with httpx.Client(auth=BearerTokenAuth(provider)) as http:
            seen.append(http.get(f"{base}/v2/tenants/current/settings").text)
    texts = [t for value in seen for t in describe(value)]
    assert_no_secrets(texts, everything_at_debug, state.issued)
    assert any("advisory renewal" in r.getMessage() for r in everything_at_debug.records)


def test_async_flow(
    live: tuple[str, Server], everything_at_debug: pytest.LogCaptureFixture
) -> None:
    base, state = live
    clock, sleeper = FakeClock(), Sleeper()
    seen: list[object] = []

    async def main() -> None:
        provider = AsyncTokenProvider(
            sso_base_url=base,
            tenant=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            auth_method="client_secret_basic",
            clock=clock,
            sleep=sleeper.asleep,
            retry=RetryPolicy(jitter=lambda cap: 0.0),
        )
        async with provider, AsyncTenantApiClient(base, provider) as api:
            state.token_failures += [503]
            state.api_failures += [401]
            seen.append(await api.get_settings())
            state.api_failures += [401, 401]
            with pytest.raises(RealmgateClientError) as denied:
                await api.get_settings()
            seen.extend([denied.value, provider, api, await provider.force_refresh()])
            clock.advance(300 - 30)
            state.token_failures += [502]
            seen.append(await provider.get_token())
            clock.advance(30)
            state.token_failures += [503] * 4
            with pytest.raises(RealmgateClientError) as down:
                await provider.get_token()
            seen.append(down.value)

    asyncio.run(main())
    texts = [t for value in seen for t in describe(value)]
    assert_no_secrets(texts, everything_at_debug, state.issued)
