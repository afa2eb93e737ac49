"""Request ids, access logs without query strings, JSON log lines."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from realmgate.server.http.observability import (
    JsonFormatter,
    RequestContextMiddleware,
    RequestIdFilter,
    request_id,
)

seen: list[str] = []


async def echo(request: Request) -> PlainTextResponse:
    seen.append(request_id.get())
    logging.getLogger("realmgate.test").info("inside", extra={"event": "x.y", "tenant": "t1"})
    return PlainTextResponse("ok")


def app(access_log: bool) -> RequestContextMiddleware:
    return RequestContextMiddleware(
        Starlette(routes=[Route("/p", echo)]), access_log_enabled=access_log
    )


async def _get(a: RequestContextMiddleware, url: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://t") as c:
        return await c.get(url, headers=headers)


@pytest.mark.anyio
async def test_request_id_is_echoed_or_generated() -> None:
    r = await _get(app(False), "/p", {"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert seen[-1] == "abc-123"
    r = await _get(app(False), "/p", {"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    assert len(r.headers["x-request-id"]) == 32
    assert request_id.get() == "-"  # reset after the request


@pytest.mark.anyio
async def test_access_log_has_no_query_string(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="realmgate.access")
    await _get(app(True), "/p?client_secret=hunter2&token=abc", {})
    lines = [r for r in caplog.records if r.name == "realmgate.access"]
    assert len(lines) == 1
    assert lines[0].getMessage().startswith("GET /p 200 ")
    assert "hunter2" not in caplog.text
    await _get(app(False), "/p?x=1", {})
    assert len([r for r in caplog.records if r.name == "realmgate.access"]) == 1


def test_json_formatter_carries_extras_and_request_id() -> None:
    record = logging.LogRecord("realmgate.auth", logging.INFO, "f", 1, "failed %s", ("x",), None)
    record.event = "auth.failed"
    record.tenant = "acme"
    token = request_id.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "failed x"
    assert data["request_id"] == "rid-1"
    assert data["event"] == "auth.failed"
    assert data["tenant"] == "acme"
    assert data["level"] == "info"
    assert data["logger"] == "realmgate.auth"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
