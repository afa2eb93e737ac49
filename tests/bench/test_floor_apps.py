"""``bench.floor``'s bare protocol answers a form POST like its raw ASGI app does: the same body,
so the difference between the two rows is uvicorn's ASGI machinery alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from bench.floor_apps import BareProtocol, raw

pytestmark = pytest.mark.anyio


async def test_the_bare_protocol_answers_what_the_raw_asgi_app_answers() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BareProtocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as bare:
            form = {"content-type": "application/x-www-form-urlencoded"}
            first = await bare.post("/token", content="a=b&c=d", headers=form)
            second = await bare.post("/token", content="a=e", headers=form)  # kept alive
        asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app=raw), base_url="http://x")
        async with asgi:
            expected = await asgi.post("/token", content="a=b&c=d", headers=form)
    finally:
        server.close()
    assert first.status_code == 200 and first.content == expected.content
    assert first.headers["content-type"] == "application/json"
    assert second.json()["id"] == "e"
