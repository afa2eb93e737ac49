"""Servers for ``python -m bench.floor`` (never part of realmgate itself).

``bare`` (:class:`BareProtocol`): the same answer without ASGI, on httptools and uvloop.
``raw``: a raw ASGI app on uvicorn that reads a form POST, parses it with the standard library
and answers a token-sized JSON document: the cheapest Python answer uvicorn can give, without
any framework. ``realmgate_unsigned``: realmgate itself (``REALMGATE_*`` settings), except that
every signature is replaced by a constant one of the same length, so its cost per request minus
the real server's is what signing costs under load.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast
from urllib.parse import parse_qsl

import httptools
import uvloop

from realmgate.jose.signer import CompactSigner

_TOKEN = "x" * 700


def _token_json(body: bytes) -> bytes:
    form = dict(parse_qsl(body.decode())) if body else {}
    return json.dumps(
        {"access_token": _TOKEN, "expires_in": 7200, "token_type": "Bearer", "id": form.get("a")}
    ).encode()


async def raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    data = _token_json(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def realmgate_unsigned() -> Any:
    from realmgate.server.http.asgi import app_from_env

    signatures = {"RS256": b"s" * 256, "ES256": b"s" * 64, "EdDSA": b"s" * 64}

    def sign_payload_bytes(self: CompactSigner, payload: bytes, typ: str = "JWT") -> bytes:
        from realmgate.jose.signer import b64url

        signing_input = self.header(typ) + b"." + b64url(payload)
        return signing_input + b"." + b64url(signatures[self.alg])

    CompactSigner.sign_payload_bytes = sign_payload_bytes  # type: ignore[method-assign]
    return app_from_env()


class BareProtocol(asyncio.Protocol):
    """``bare``: no ASGI at all. An ``asyncio.Protocol`` that feeds httptools' parser and, when a
    request is complete, parses its form and writes the same token-sized answer as ``raw`` in one
    write. Run by :func:`serve_bare` on uvloop (uvicorn's loop), it is what the socket work and
    the parsing cost without uvicorn's scope, cycle, task and messages."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.body = b""

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        data = _token_json(self.body)
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(data), data)
        )


def serve_bare(port: int) -> None:
    """``python -c 'from bench.floor_apps import serve_bare; serve_bare(PORT)'``."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(BareProtocol, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    uvloop.run(main())
