"""Token requests answered by the connection itself, without an ASGI request-response cycle.

Why. The token route is what machine clients call all day, and with RSA most of its time is the
signature; what is left is mostly the HTTP server's work per request. uvicorn gives every
request an ASGI scope, a request-response cycle with its event, a task that runs the app, and
receive and send messages, a good part of what a token costs beside its signature
(``docs/benchmarks.md``, "Token requests answered by the connection"). Here a well-formed
token request is recognised when its head has arrived, its body is kept by the connection, and
the answer is computed by the same :meth:`HotPaths.token_for` as on the ASGI hot path and
written in one write. Still one task per request: the signature is awaited (``core/signing.py``).

**Which requests.** ``POST /realms/{tenant}/protocol/openid-connect/token`` over HTTP/1.1, with
a path of plain ASCII (no ``%``, no query), one ``Content-Type`` of
``application/x-www-form-urlencoded``, a ``Content-Length`` within ``max_body_bytes``, a head
that :class:`RequestHead` accepts, no ``Expect``, no upgrade, no request of the connection
still being answered (pipelining), when the server reads no proxy headers, asks for no client
certificates and is not shutting down. Every other request goes the ASGI way, where the same
checks answer it; both ways read the head with :class:`RequestHead` and answer with
:meth:`HotPaths.token_for` and :meth:`HotPaths.answer`, so they cannot disagree
(``tests/integration/test_direct_token_path.py`` compares their statuses, headers and bodies).

**The connection's state.** While a direct request is in progress, the connection's ``cycle``
is a :class:`_DirectCycle`: it has the fields of uvicorn's cycle that the protocol reads
(complete, started, keep-alive, disconnected), so the bounds of
:class:`BoundedHttpToolsProtocol` (read timeout, shutdown, connection limit) and uvicorn's
pipelining (a request that arrives meanwhile waits for this answer) apply unchanged.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from realmgate.server.http.hot import HotPaths, oauth_server_error
from realmgate.server.http.protocol import BoundedHttpToolsProtocol, limits
from realmgate.server.http.request_head import BadHead, RequestHead
from realmgate.server.http.responses import check_declared_length
from realmgate.server.http.whole import whole_response
from realmgate.wire.errors import OAuthError

PROTOCOL = "realmgate.server.http.direct:DirectTokenProtocol"
_PREFIX = b"/realms/"
_SUFFIX = b"/protocol/openid-connect/token"
_FORM = b"application/x-www-form-urlencoded"

# The hot paths of the app each event loop serves (one server per loop).
_served: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HotPaths] = (
    weakref.WeakKeyDictionary()
)


def serve_tokens(hot: HotPaths | None) -> None:
    """Answer token requests on this event loop's connections with ``hot`` (None: stop)."""
    loop = asyncio.get_running_loop()
    if hot is None:
        _served.pop(loop, None)
    else:
        _served[loop] = hot


class _NoEvent:
    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


class _DirectCycle:
    """A direct token request, in the connection's ``cycle`` while it is in progress."""

    __slots__ = (
        "body",
        "disconnected",
        "head",
        "keep_alive",
        "more_body",
        "path",
        "response_complete",
        "response_started",
        "started",
        "tenant",
    )
    message_event = _NO_EVENT  # uvicorn sets the cycle's event on body and on disconnect

    def __init__(self, head: RequestHead, path: str, tenant: str, keep_alive: bool):
        self.head = head
        self.path = path
        self.tenant = tenant
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.more_body = True
        self.response_started = self.response_complete = self.disconnected = False
        self.started = time.perf_counter()


class DirectTokenProtocol(BoundedHttpToolsProtocol):
    """:class:`BoundedHttpToolsProtocol` answering well-formed token requests itself."""

    _hot: HotPaths | None = None  # this connection's token route, when it may answer directly

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        hot = _served.get(self.loop)
        if (
            hot is not None
            and not hot.certs
            and not self.config.proxy_headers
            and not self.root_path
            and self.limit_concurrency is None
        ):
            self._hot = hot

    def on_message_begin(self) -> None:
        if self._hot is None:
            super().on_message_begin()
            return
        # The ASGI scope is built only for a request that goes the ASGI way.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        hot = self._hot
        if hot is None:
            super().on_headers_complete()
            return
        direct = self._direct(hot)
        if direct is None:
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()  # the scope, as uvicorn builds it for every request
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers
            super().on_headers_complete()
            return
        self._in_head = False
        self._requests += 1
        self.cycle = direct  # type: ignore[assignment]

    def _direct(self, hot: HotPaths) -> _DirectCycle | None:
        """The request as a direct one, or None when it goes the ASGI way."""
        cycle: Any = self.cycle
        url = self.url
        parser = self.parser
        if (
            (cycle is not None and not cycle.response_complete)
            or not url.startswith(_PREFIX)
            or not url.endswith(_SUFFIX)
            or b"%" in url
            or not url.isascii()
            or parser.get_method() != b"POST"
            or parser.get_http_version() != "1.1"
            or self.expect_100_continue
            or parser.should_upgrade()
            or self._draining
            or len(self.headers) > limits().max_headers
        ):
            return None
        tenant = url[len(_PREFIX) : -len(_SUFFIX)]
        if b"/" in tenant:
            return None
        try:
            head = RequestHead(self.headers)
            if head.media_type != _FORM or head.content_length is None:
                return None
            check_declared_length(head.content_length, hot.limit)
        except (BadHead, OAuthError):
            return None
        return _DirectCycle(head, url.decode(), tenant.decode(), parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        cycle: Any = self.cycle
        if type(cycle) is not _DirectCycle:
            super().on_body(body)
        elif not cycle.response_complete:
            # At most its Content-Length, within the limit: the parser stops there, and it
            # refuses a request that also has a Transfer-Encoding.
            cycle.body += body

    def on_message_complete(self) -> None:
        cycle: Any = self.cycle
        super().on_message_complete()
        hot = self._hot
        if type(cycle) is _DirectCycle and not cycle.response_complete and hot is not None:
            task = self.loop.create_task(self._answer(hot, cycle))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    async def _answer(self, hot: HotPaths, cycle: _DirectCycle) -> None:
        head = cycle.head
        status, body, headers, rid = await hot.answer(
            "POST",
            cycle.path,
            head.request_id,
            hot.token_for(
                cycle.tenant,
                head,
                bytes(cycle.body),
                self.client[0] if self.client else None,
                None,
                cycle.started,
            ),
            oauth_server_error,
        )
        if self.flow.write_paused and not cycle.disconnected:
            await self.flow.drain()
        if cycle.disconnected:
            cycle.response_complete = True
            return
        request_id = rid.encode()
        defaults = self.server_state.default_headers
        keep_alive = cycle.keep_alive
        data = whole_response(defaults, status, headers, request_id, body, keep_alive=keep_alive)
        if data is None:  # a header no response may carry: the framework path answers 500
            error, extra = oauth_server_error()
            data = whole_response(defaults, 500, extra, request_id, error, keep_alive=False)
            cycle.keep_alive = False
        cycle.response_started = True
        if self.access_log:  # uvicorn's own access log line, when its logger has handlers
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "",
                "POST",
                cycle.path,
                "1.1",
                status,
            )
        self._held.write_now(data or b"")
        cycle.response_complete = True
        if not cycle.keep_alive:
            self._held.close()
        self.on_response_complete()
