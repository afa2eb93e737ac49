"""The response head goes out with the body in one write; the bytes keep their order whatever
the app does between the two, and closing the connection writes what is held."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import uvicorn

from realmgate.server.http.protocol import PROTOCOL, HeadHoldingTransport

pytestmark = pytest.mark.anyio

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0


async def test_head_and_body_written_at_once() -> None:
    inner = RecordingTransport()
    transport = HeadHoldingTransport(inner, asyncio.get_running_loop())
    transport.write(HEAD)
    assert inner.writes == []
    assert transport.get_write_buffer_size() == len(HEAD)
    transport.write(b"ok")
    assert inner.writes == [HEAD + b"ok"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing held
    assert inner.writes == [HEAD + b"ok"]


async def test_a_head_without_a_body_goes_out_on_the_next_loop_iteration() -> None:
    inner = RecordingTransport()
    transport = HeadHoldingTransport(inner, asyncio.get_running_loop())
    transport.write(HEAD)  # a streaming app, awaiting before its first chunk
    await asyncio.sleep(0)
    assert inner.writes == [HEAD]
    transport.write(b"ok")
    assert inner.writes == [HEAD, b"ok"]


async def test_other_writes_pass_through_and_close_writes_what_is_held_first() -> None:
    inner = RecordingTransport()
    transport = HeadHoldingTransport(inner, asyncio.get_running_loop())
    transport.write(b"chunk")
    assert inner.writes == [b"chunk"]
    transport.write(HEAD)
    transport.close()
    assert inner.writes == [b"chunk", HEAD]
    assert inner.closed


async def test_abort_drops_what_is_held() -> None:
    inner = RecordingTransport()
    transport = HeadHoldingTransport(inner, asyncio.get_running_loop())
    transport.write(HEAD)
    transport.abort()
    await asyncio.sleep(0)
    assert inner.writes == []
    assert inner.aborted


HEAD_SEEN: list[asyncio.Event] = []
"""Set by the client when a streamed response's head has arrived (one per request)."""


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # The body waits until the client has the head: a head held back for the body
        # would never arrive, and the body then says so.
        try:
            await asyncio.wait_for(HEAD_SEEN[-1].wait(), 30)
            chunks: tuple[bytes, ...] = (b"one ", b"two")
        except TimeoutError:
            chunks = (b"the head was held back",)
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = b"hello"
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server() -> Any:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=PROTOCOL, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    while not srv.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    await task


async def test_uvicorn_serves_whole_and_streamed_responses_on_one_connection(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        for _ in range(3):  # keep-alive: each response ends where the next begins
            whole = await client.get("/")
            assert (whole.status_code, whole.text) == (200, "hello")
            HEAD_SEEN.append(asyncio.Event())
            async with client.stream("GET", "/stream") as streamed:
                assert streamed.status_code == 200
                HEAD_SEEN[-1].set()  # the head is here, before any byte of the body
                assert await streamed.aread() == b"one two"
