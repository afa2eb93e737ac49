"""A request's head and body as every route reads them: one parse, one set of rules.

The hot routes (``hot.py``) and the framework's routes read the headers they need from the
:class:`RequestHead` that :func:`check_head` built for the request, and bodies through
:func:`read_body`, so the two paths cannot disagree on which ``Authorization`` header counts
or how a body is bounded.

Requests that two parties could read differently are refused before any route runs (400,
and the connection is closed): a second ``Authorization``, ``Host``, ``Content-Type``,
``Content-Length`` or ``DPoP`` header (a gateway that checks the first would authorize someone
else than a server that reads the last), and an HTTP/1.1 request without ``Host`` (RFC 9112 §3.2).
"""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send

from realmgate.server.http.responses import check_declared_length, json_bytes
from realmgate.wire import jsend
from realmgate.wire.errors import InvalidDpopProof, InvalidRequest, OAuthError, RequestTooLarge

SCOPE_KEY = "realmgate.head"
_SINGLE = (b"authorization", b"host", b"content-type", b"content-length", b"dpop")
# RFC 9449 §4.3 item 1: "there is not more than one DPoP HTTP request header field".
TWO_DPOP = "more than one DPoP header"


class BadHead(Exception):
    """The request's head is refused (a header twice, or ``Host`` missing)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RequestHead:
    """The headers the routes read, found in one pass; at most one of each."""

    __slots__ = ("authorization", "content_length", "content_type", "dpop", "request_id")

    def __init__(self, raw: list[tuple[bytes, bytes]], http_version: str = "1.1"):
        self.authorization: str | None = None
        self.content_type = b""
        self.content_length: bytes | None = None
        self.request_id: bytes | None = None
        self.dpop: str | None = None
        host = typed = False
        for name, value in raw:
            if name in _SINGLE:
                if name == b"authorization":
                    if self.authorization is not None:
                        raise BadHead("more than one Authorization header")
                    self.authorization = value.decode("latin-1")
                elif name == b"content-type":
                    if typed:
                        raise BadHead("more than one Content-Type header")
                    typed = True
                    self.content_type = value
                elif name == b"dpop":
                    if self.dpop is not None:
                        raise BadHead(TWO_DPOP)
                    self.dpop = value.decode("latin-1")
                elif name == b"content-length":
                    if self.content_length is not None:
                        raise BadHead("more than one Content-Length header")
                    self.content_length = value
                else:
                    if host:
                        raise BadHead("more than one Host header")
                    host = True
            elif name == b"x-request-id" and self.request_id is None:
                self.request_id = value
        if not host and http_version == "1.1":
            raise BadHead("an HTTP/1.1 request needs a Host header")

    @property
    def media_type(self) -> bytes:
        """The content type without parameters, lower case."""
        return self.content_type.split(b";", 1)[0].strip().lower()


def head_of(scope: Scope) -> RequestHead:
    """The head :func:`check_head` built for this request."""
    head: RequestHead = scope[SCOPE_KEY]
    return head


def check_head(scope: Scope) -> RequestHead:
    """Parse the head of ``scope`` once and keep it in the scope; :class:`BadHead` if refused."""
    head = RequestHead(scope["headers"], scope.get("http_version", "1.1"))
    scope[SCOPE_KEY] = head
    return head


async def refuse_head(scope: Scope, send: Send, exc: BadHead) -> None:
    """400 in the format of the path's endpoints, and the connection is closed."""
    path: str = scope.get("path", "")
    if path.startswith(("/realms/", "/.well-known/")):
        error: OAuthError = InvalidRequest(f"Bad request head: {exc.reason}.")
        if exc.reason == TWO_DPOP:
            error = InvalidDpopProof("Bad request head: more than one DPoP header.")
        body: dict[str, Any] = error.body()
        headers = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
    elif path.startswith("/v2/"):
        body = jsend.fail({"headers": exc.reason}, "Bad request")
        headers = []
    else:
        body = {"error": "bad_request", "error_description": exc.reason}
        headers = []
    data = json_bytes(body)
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                *headers,
                (b"content-length", b"%d" % len(data)),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def read_body(receive: Receive, declared: bytes | str | None, limit: int) -> bytes:
    """The body, refusing anything over ``limit`` bytes (``RequestTooLarge``) without reading it
    all: a declared length over it is refused before the first byte is read."""
    check_declared_length(declared, limit)
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return body
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge()
        if not message.get("more_body", False):
            return body
