"""Servers for ``python -m bench.floor`` (never part of realmgate itself).

``raw``: a raw ASGI app on uvicorn that reads a form POST, parses it with the standard library
and answers a token-sized JSON document: the cheapest Python answer uvicorn can give, without
any framework. ``realmgate_unsigned``: realmgate itself (``REALMGATE_*`` settings), except that
every signature is replaced by a constant one of the same length, so its cost per request minus
the real server's is what signing costs under load.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from realmgate.jose.signer import CompactSigner

_TOKEN = "x" * 700


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
    form = dict(parse_qsl(body.decode())) if body else {}
    data = json.dumps(
        {"access_token": _TOKEN, "expires_in": 7200, "token_type": "Bearer", "id": form.get("a")}
    ).encode()
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
