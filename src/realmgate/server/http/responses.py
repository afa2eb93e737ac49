"""Rendering: OAuth JSON (with no-store), JSend bodies and RFC 6750 challenges."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from realmgate.wire import jsend
from realmgate.wire.errors import MethodNotAllowed, OAuthError, RequestTooLarge

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None, *, no_store: bool = False
) -> Response:
    h = dict(NO_STORE) if no_store else {}
    h.update(headers or {})
    return Response(json_bytes(data), status_code=status, headers=h, media_type="application/json")


def oauth_error(exc: OAuthError) -> Response:
    return json_response(exc.body(), exc.status_code, exc.headers, no_store=True)


def jsend_fail(
    status: int, data: dict[str, Any], message: str, headers: dict[str, str] | None = None
) -> Response:
    return json_response(jsend.fail(data, message), status, headers)


def jsend_error(status: int, message: str) -> Response:
    return json_response(jsend.error(message), status)


def check_declared_length(declared: str | bytes | None, limit: int) -> None:
    """Refuse a body whose ``Content-Length`` is over ``limit`` (or no number) before reading."""
    if declared is not None:
        try:
            if int(declared) > limit:
                raise RequestTooLarge()
        except ValueError:
            raise RequestTooLarge("Invalid Content-Length.") from None


def method_not_allowed(allowed: str) -> OAuthError:
    return MethodNotAllowed(f"Use {allowed}.", headers={"Allow": allowed})
