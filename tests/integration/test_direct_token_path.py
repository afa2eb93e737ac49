"""Token requests answered by the connection itself (``server/http/direct.py``) on a real uvicorn
server: they get the same answers as on the ASGI hot path, byte for byte but for the token,
the date and the request id; pipelining, a body in several reads, ``Connection: close``, the
read timeout, a client that leaves and an unexpected error behave as on the ASGI path; and
requests the direct path does not take (a query, a proxy, ``Expect``) still go the ASGI way."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.http import direct, protocol
from realmgate.server.http.app import create_app
from realmgate.server.http.runner import uvicorn_options
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from tests.unit.test_hot_and_framework_agree import comparable, form, token_cases

pytestmark = pytest.mark.anyio

TOKEN = "/realms/acme/protocol/openid-connect/token"
FORM = b"application/x-www-form-urlencoded"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


@pytest.fixture
def creds(runtime: Runtime) -> IssuedCredentials:
    return Admin(runtime.store, runtime.vault, runtime.settings).create_tenant("acme")


class Counted:
    """How many requests the direct path answered (a spy on ``_answer``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.answered = 0
        real = direct.DirectTokenProtocol._answer

        async def counting(proto: Any, hot: Any, cycle: Any) -> None:
            self.answered += 1
            await real(proto, hot, cycle)

        monkeypatch.setattr(direct.DirectTokenProtocol, "_answer", counting)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    return Counted(monkeypatch)


async def serve(
    runtime: Runtime, limits: protocol.HttpLimits | None = None, **over: Any
) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = uvicorn_options(runtime.settings)
    if limits is not None:
        protocol.configure(limits)
    assert options["http"] == direct.PROTOCOL
    for name in ("host", "port"):
        options.pop(name)
    options.update(over)
    srv = uvicorn.Server(uvicorn.Config(create_app(runtime), lifespan="on", **options))
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(3000):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    assert srv.started
    try:
        yield sock.getsockname()[1]
    finally:
        srv.should_exit = True
        await task
        protocol.configure(protocol.HttpLimits())


@pytest.fixture
async def port(runtime: Runtime) -> AsyncIterator[int]:
    async for p in serve(runtime):
        yield p


@pytest.fixture
async def http(port: int) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client


def direct_case(case: dict[str, Any]) -> bool:
    """Whether the direct path takes this request (one form content type, a length in bounds,
    at most one of each header)."""
    names = [name for name, _ in case["headers"]]
    types = [v for name, v in case["headers"] if name == "content-type"]
    return (
        len(types) == 1
        and types[0].split(";")[0] == FORM.decode()
        and len(case["content"]) <= 65536
        and len(names) == len(set(names))
    )


async def test_token_requests_get_the_same_answer_on_the_direct_and_the_asgi_path(
    http: httpx.AsyncClient, creds: IssuedCredentials, counted: Counted
) -> None:
    cases = [c for c in token_cases(creds) if ("content-length", "999999999") not in c["headers"]]
    expected_direct = sum(direct_case(c) for c in cases)
    assert expected_direct >= 6
    for case in cases:
        a = await http.post(TOKEN, content=case["content"], headers=case["headers"])
        # A query string sends the same request the ASGI way (the route ignores it).
        b = await http.post(TOKEN + "?asgi", content=case["content"], headers=case["headers"])
        assert comparable(a) == comparable(b), case["headers"]
        assert a.status_code != 500
    assert counted.answered == expected_direct


async def test_a_token_from_the_direct_path_is_a_token(
    http: httpx.AsyncClient, creds: IssuedCredentials, counted: Counted
) -> None:
    r = await http.post(
        TOKEN, content=form(creds), headers={"content-type": FORM.decode(), "x-request-id": "r-1"}
    )
    assert r.status_code == 200 and r.headers["x-request-id"] == "r-1"
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    settings = await http.get(
        "/v2/tenants/current/settings",
        headers={"authorization": f"Bearer {r.json()['access_token']}"},
    )
    assert settings.status_code == 200 and settings.json()["status"] == "success"
    assert counted.answered == 1


async def test_an_unexpected_error_is_answered_500_alike_and_logged_once(
    http: httpx.AsyncClient,
    runtime: Runtime,
    creds: IssuedCredentials,
    counted: Counted,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from realmgate.server.core.grants import ClientCredentialsGrant

    async def broken(self: Any, request: Any) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(ClientCredentialsGrant, "handle_body", broken)
    headers = {"content-type": FORM.decode()}
    a = await http.post(TOKEN, content=form(creds), headers=headers)
    b = await http.post(TOKEN + "?asgi", content=form(creds), headers=headers)
    assert a.status_code == 500 and comparable(a) == comparable(b)
    assert a.json() == {"error": "server_error", "error_description": a.json()["error_description"]}
    assert creds.client_secret not in a.text
    assert counted.answered == 1
    unhandled = [r for r in caplog.records if "unhandled RuntimeError" in r.getMessage()]
    assert len(unhandled) == 2  # once per request, the direct one and the ASGI one


def raw_token(creds: IssuedCredentials, extra: bytes = b"") -> bytes:
    body = form(creds).encode()
    return b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
        TOKEN.encode(),
        FORM,
        len(body),
        extra,
        body,
    )


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    while head.startswith(b"HTTP/1.1 100 "):  # an interim answer to "Expect: 100-continue"
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    return head + await asyncio.wait_for(reader.readexactly(length), 30)


async def test_pipelined_requests_are_answered_in_order(
    port: int, creds: IssuedCredentials, counted: Counted
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    live = b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-request-id: second\r\n\r\n"
    writer.write(
        raw_token(creds, b"x-request-id: first\r\n")
        + live
        + raw_token(creds, b"x-request-id: third\r\n")
    )
    answers = [await read_response(reader) for _ in range(3)]
    ids = [re.search(rb"x-request-id: ([^\r]*)", a).group(1) for a in answers]  # type: ignore[union-attr]
    assert ids == [b"first", b"second", b"third"]
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") for a in answers)
    assert b'"access_token"' in answers[0] and b'"access_token"' in answers[2]
    assert counted.answered == 1  # the third waited behind the second: the ASGI way
    writer.close()


async def test_a_body_in_several_reads_and_connection_close(
    port: int, creds: IssuedCredentials, counted: Counted
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = raw_token(creds, b"connection: close\r\n")
    cut = request.index(b"\r\n\r\n") + 10
    writer.write(request[:cut])
    await writer.drain()
    await asyncio.sleep(0.2)  # the head is in, the body not yet
    writer.write(request[cut:])
    answer = await read_response(reader)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close\r\n" in answer
    assert await asyncio.wait_for(reader.read(1), 30) == b""  # closed after it
    assert counted.answered == 1
    writer.close()


async def test_a_body_that_does_not_come_is_timed_out(
    runtime: Runtime, creds: IssuedCredentials, counted: Counted
) -> None:
    async for port in serve(runtime, protocol.HttpLimits(read_timeout=0.5)):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = raw_token(creds)
        writer.write(request[:-5])  # all but the end of the body
        answer = await read_response(reader)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert await asyncio.wait_for(reader.read(1), 30) == b""
        assert counted.answered == 0
        writer.close()


async def test_a_client_that_leaves_before_its_answer_harms_nothing(
    http: httpx.AsyncClient, port: int, creds: IssuedCredentials, counted: Counted
) -> None:
    for _ in range(20):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw_token(creds))
        writer.close()
    r = await http.post(TOKEN, content=form(creds), headers={"content-type": FORM.decode()})
    assert r.status_code == 200
    for _ in range(3000):  # the ones that left are answered (to no one) or never read
        if counted.answered >= 1:
            break
        await asyncio.sleep(0.01)
    assert counted.answered >= 1


@pytest.mark.parametrize(
    ("over", "extra", "path"),
    [
        ({"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}, b"", TOKEN),
        ({}, b"expect: 100-continue\r\n", TOKEN),
        ({}, b"", TOKEN.replace("acme", "%61cme")),
    ],
    ids=["behind-a-proxy", "expect-continue", "percent-encoded"],
)
async def test_requests_the_direct_path_leaves_to_asgi_are_answered_there(
    runtime: Runtime,
    creds: IssuedCredentials,
    counted: Counted,
    over: dict[str, Any],
    extra: bytes,
    path: str,
) -> None:
    async for port in serve(runtime, **over):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw_token(creds, extra).replace(TOKEN.encode(), path.encode(), 1))
        answer = await read_response(reader)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
        assert counted.answered == 0
        writer.close()


async def test_an_answer_that_cannot_be_written_becomes_a_500_and_the_connection_closes(
    port: int, creds: IssuedCredentials, counted: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = direct.whole_response
    calls: list[int] = []

    def refusing_first(*args: Any, **kwargs: Any) -> bytes | None:
        calls.append(args[1])
        return None if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(direct, "whole_response", refusing_first)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw_token(creds))
    answer = await read_response(reader)
    assert calls == [200, 500]
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"connection: close\r\n" in answer and b'"error":"server_error"' in answer
    assert creds.client_secret.encode() not in answer
    assert await asyncio.wait_for(reader.read(1), 30) == b""
    assert counted.answered == 1
    writer.close()
