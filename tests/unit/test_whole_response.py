"""``send_whole``: a hot route's response in one write, byte for byte what uvicorn writes for
the same two ASGI messages; keep-alive, ``Connection: close``, HTTP/1.0, pipelining and HEAD
behave as they do on uvicorn; and the lazy keep-alive timer closes idle connections only."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from typing import Any

import pytest
import uvicorn

from realmgate.server.http.protocol import PROTOCOL
from realmgate.server.http.whole import send_whole

pytestmark = pytest.mark.anyio

HEADERS = [(b"content-type", b"application/json"), (b"Cache-Control", b"no-store")]
BODY = b'{"ok":true}'


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = list(HEADERS)
    if scope["path"] == "/framing":
        headers.append((b"connection", b"keep-alive"))
    if scope["path"] != "/asgi" and send_whole(send, 200, headers, b"rid-1", BODY):
        return
    if scope["path"] != "/asgi":
        headers.append((b"x-fallback", b"1"))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                *headers,
                (b"x-request-id", b"rid-1"),
                (b"content-length", b"%d" % len(BODY)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else BODY})


@pytest.fixture
async def port() -> Any:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        _app,
        http=PROTOCOL,
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=1,
        access_log=False,
    )
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    while not srv.started:
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    srv.should_exit = True
    await task


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def ask(self, raw: bytes, responses: int = 1) -> list[bytes]:
        self.writer.write(raw)
        return [await self.response() for _ in range(responses)]

    async def response(self) -> bytes:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        return head + await asyncio.wait_for(self.reader.readexactly(length), 30)

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 30) == b""


@pytest.fixture
async def connect(port: int) -> Any:
    opened: list[Conn] = []

    async def open_one() -> Conn:
        opened.append(Conn(*await asyncio.open_connection("127.0.0.1", port)))
        return opened[-1]

    yield open_one
    for conn in opened:
        conn.writer.close()
        await conn.writer.wait_closed()


def request(
    path: str, extra: bytes = b"", method: bytes = b"GET", version: bytes = b"1.1"
) -> bytes:
    return b"%s %s HTTP/%s\r\nhost: x\r\n%s\r\n" % (method, path.encode(), version, extra)


def without_date(response: bytes) -> bytes:
    return re.sub(rb"date: [^\r]*\r\n", b"", response)


async def test_the_same_bytes_as_uvicorn_writes_for_the_two_messages(
    connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "uvicorn.access")
    conn = await connect()
    whole, asgi = await conn.ask(request("/whole") + request("/asgi"), responses=2)
    assert whole.startswith(b"HTTP/1.1 200 OK\r\ndate: ")
    assert b"x-fallback" not in whole and b"cache-control: no-store\r\n" in whole
    assert whole.endswith(b"x-request-id: rid-1\r\ncontent-length: 11\r\n\r\n" + BODY)
    assert without_date(whole) == without_date(asgi)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert [line.split(" - ", 1)[1] for line in lines] == [
        '"GET /whole HTTP/1.1" 200',
        '"GET /asgi HTTP/1.1" 200',
    ]


async def test_keep_alive_and_pipelined_requests_share_one_connection(connect: Any) -> None:
    conn = await connect()
    answers = await conn.ask(request("/a") + request("/b") + request("/c"), responses=3)
    assert [a.endswith(BODY) for a in answers] == [True, True, True]
    assert all(b"connection: close" not in a for a in answers)
    again = await conn.ask(request("/d"))
    assert again[0].endswith(BODY)


@pytest.mark.parametrize(
    "raw", [request("/x", b"connection: close\r\n"), request("/x", version=b"1.0")]
)
async def test_a_closing_connection_says_so_and_closes(connect: Any, raw: bytes) -> None:
    conn = await connect()
    [answer] = await conn.ask(raw)
    assert b"connection: close\r\n" in answer and answer.endswith(BODY)
    assert b"x-fallback" not in answer
    assert await conn.closed()


async def test_head_and_framing_headers_are_left_to_uvicorn(connect: Any) -> None:
    conn = await connect()
    [framing] = await conn.ask(request("/framing"))
    assert b"x-fallback: 1" in framing
    conn.writer.write(request("/x", method=b"HEAD"))
    head = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), 30)
    assert b"x-fallback: 1" in head and b"content-length: 11" in head


async def test_a_busy_connection_outlives_the_keep_alive_timeout_an_idle_one_does_not(
    connect: Any,
) -> None:
    """Requests back to back on one connection for three keep-alive timeouts (1 s): the
    lazy timer, armed by the first response, must not close a connection that was never
    idle for a whole timeout. A round of requests in which one round trip took half the
    timeout or more (a stalled machine) proves nothing either way, and is run again."""
    loop = asyncio.get_running_loop()
    for _ in range(5):
        conn = await connect()
        started = previous = loop.time()
        longest = 0.0
        while previous - started < 3.0:
            [answer] = await conn.ask(request("/x"))
            assert answer.endswith(BODY)  # still open, still answering
            longest, previous = max(longest, loop.time() - previous), loop.time()
        if longest < 0.5:
            break
    else:
        pytest.fail("no round of requests without a stall of half a keep-alive timeout")
    assert await conn.closed()  # idle from here on: closed by the timer
