"""Keycloak's error bodies for the admin API, and the wrapper every admin endpoint runs in.

Keycloak answers with two shapes (``services/ErrorResponse.java`` and
``services/error/KeycloakErrorHandler.java``):

- ``{"errorMessage": "..."}`` for validation errors and duplicates (``ErrorResponse.error`` /
  ``ErrorResponse.exists``): 400 and 409;
- ``{"error": "..."}`` for exceptions: 401 ``HTTP 401 Unauthorized``, 403 ``HTTP 403 Forbidden``,
  404 ``Could not find client`` / ``HTTP 404 Not Found``, 405 ``HTTP 405 Method Not Allowed``.

The core's :class:`~realmgate.server.core.admin.AdminError` (400), ``NotFound`` (404) and
``Conflict`` (409) carry the Keycloak texts; :func:`admin_endpoint` renders them, an
:class:`ApiError` raised by the HTTP layer itself (auth, bad bodies) and a body over the limit
(413). Anything else is a bug: it is logged and answered with Keycloak's 500 body, whose text
says nothing about the cause.

Exception tree::

    Exception
     └── ApiError            status + Keycloak body + headers, rendered as is
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from realmgate.server.core.admin import AdminError, Conflict, NotFound
from realmgate.server.http.responses import json_response
from realmgate.wire.errors import RequestTooLarge

log = logging.getLogger("realmgate.admin_api")

UNAUTHORIZED = "HTTP 401 Unauthorized"
FORBIDDEN = "HTTP 403 Forbidden"
NOT_FOUND = "HTTP 404 Not Found"
METHOD_NOT_ALLOWED = "HTTP 405 Method Not Allowed"
# What Keycloak's KeycloakErrorHandler answers for a 500 (nothing about the cause).
SERVER_ERROR = {
    "error": "unknown_error",
    "error_description": "For more on this error consult the server log.",
}

Endpoint = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """An HTTP answer in Keycloak's shape, raised anywhere in an admin endpoint."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        return json_response(self.body, self.status, self.headers)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """``{"error": message}``: Keycloak's shape for exceptions (401, 403, 404, 405, ...)."""
    return ApiError(status, {"error": message}, headers)


def error_message(status: int, message: str) -> ApiError:
    """``{"errorMessage": message}``: Keycloak's ``ErrorResponse`` (400 validation, 409)."""
    return ApiError(status, {"errorMessage": message})


def bad_request(message: str) -> ApiError:
    """400 ``{"errorMessage": ...}``, as Keycloak's ``ErrorResponse.error(msg, BAD_REQUEST)``."""
    return error_message(400, message)


def unauthorized() -> ApiError:
    """401: no, expired, invalid or revoked token (python-keycloak retries only on 401)."""
    return error(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})


def forbidden() -> ApiError:
    """403: a valid token without the role the operation needs, or of another realm."""
    return error(403, FORBIDDEN)


def not_found(message: str = NOT_FOUND) -> ApiError:
    return error(404, message)


def too_many_requests(retry_after: int) -> ApiError:
    return error(429, "Too many requests", {"Retry-After": str(retry_after)})


def render(exc: Exception) -> Response | None:
    """The response for an expected exception; None for anything else (a bug)."""
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, NotFound):
        return error(404, str(exc)).response()
    if isinstance(exc, Conflict):
        return error_message(409, str(exc)).response()
    if isinstance(exc, AdminError):
        return bad_request(str(exc)).response()
    if isinstance(exc, RequestTooLarge):
        return error(413, "Request body too large").response()
    return None


async def _apply_changes(request: Request) -> None:
    """After a change: read the change feed now, so that this worker's caches (realms,
    clients, remembered token requests) drop what changed before the answer leaves: a
    script's next token request sees a disabled client or a regenerated secret at once.
    Other workers and nodes follow within the feed's poll interval, as for any change."""
    state = getattr(request.app.state, "realmgate", None)
    if state is None:
        return
    try:
        await state.directory.poll_changes()
    except Exception:  # the background reader will catch up
        log.warning("admin API: reading the change feed failed", exc_info=True)


def admin_endpoint(handler: Endpoint) -> Endpoint:
    """Run an admin endpoint: expected errors become Keycloak bodies, never a 500 page.

    ``HEAD`` is refused (405): reading a client's secret destroys it, and a ``HEAD`` would
    do so without showing it. An unexpected exception is logged (type and route only: no
    values, which might hold a secret) and answered with Keycloak's generic 500 body. After
    a successful change the change feed is read at once (:func:`_apply_changes`)."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        if request.method == "HEAD":  # never a read with effects (a revealed secret) unseen
            return error(405, METHOD_NOT_ALLOWED).response()
        try:
            response = await handler(request)
            if request.method not in ("GET", "HEAD") and response.status_code < 400:
                await _apply_changes(request)
            return response
        except Exception as exc:
            rendered = render(exc)
            if rendered is not None:
                return rendered
            log.error(
                "admin API: unhandled %s on %s %s",
                type(exc).__name__,
                request.method,
                request.url.path,
            )
            return json_response(SERVER_ERROR, 500)

    return run


__all__ = [
    "FORBIDDEN",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "UNAUTHORIZED",
    "ApiError",
    "admin_endpoint",
    "bad_request",
    "error",
    "error_message",
    "forbidden",
    "not_found",
    "render",
    "too_many_requests",
    "unauthorized",
]
