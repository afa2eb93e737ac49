"""The Python HTTP ceiling: bare Starlette on uvicorn, no auth, no crypto, no database.

``POST /token`` parses the form body and answers a token-sized JSON document; ``GET /settings``
answers a small JSON document. Served with ``uvicorn bench.bare_app:app --workers 2``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_TOKEN = "x" * 700  # about the size of an ES256 access token


async def token(request: Request) -> JSONResponse:
    # Parsed with the standard library (as realmgate's own form parser does).
    form = dict(parse_qsl((await request.body()).decode(), strict_parsing=True))
    return JSONResponse(
        {
            "access_token": _TOKEN,
            "expires_in": 7200,
            "token_type": "Bearer",
            "client_id": form.get("client_id"),
        },
        headers={"Cache-Control": "no-store"},
    )


async def settings(request: Request) -> JSONResponse:
    return JSONResponse(
        {"status": "success", "data": {"auth": request.headers.get("authorization", "")[:8]}}
    )


app = Starlette(routes=[Route("/token", token, methods=["POST"]), Route("/settings", settings)])
