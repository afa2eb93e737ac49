"""uvicorn's HTTP/1.1 protocol (httptools) with bounds on what a client can hold, writing each
response's head with its body.

**Bounds.** uvicorn's httptools protocol bounds neither the time a client takes to send a
request nor the size of its head, and keeps every connection it accepts. Here, per worker
(``configure``, from the settings):

- a request (head and body) must arrive within ``read_timeout`` seconds of its first byte, or
  of the connection's start: else 408 and the connection is closed (closed without a word
  when it never sent a byte);
- its head (request line and headers) is at most ``max_head_bytes`` long with at most
  ``max_headers`` headers: else 431 and the connection is closed, before the parser buffers
  more (bytes are counted before they reach the parser);
- at most ``max_connections`` connections: a new connection beyond it closes the connection
  that has waited longest for a request (idle in keep-alive, or still sending one; 503 when
  it was sending), or, when every connection is busy with a request, gets 503 with
  ``Retry-After`` itself. Slow or idle connections thus cannot keep a normal client out.

**One write per response.** uvicorn writes a response's status line and headers as soon as
the app sends ``http.response.start``, and the body when it sends ``http.response.body``: two
``send`` system calls and two TCP segments per response. The connection's transport holds a
head back until the next write, which carries both, or until the event loop's next iteration,
whichever comes first; closing the connection writes it first. The order of the bytes never
changes: only when they go out. The keep-alive timer is lazy: one per connection, not one per
response.

**Who is asking.** Every request's scope carries the TCP peer as ``scope["realmgate.peer"]``
(``scope["client"]`` may be rewritten from ``X-Forwarded-For`` by uvicorn's proxy headers
middleware; the client certificate header of a proxy is believed by the peer, see
``client_cert.py``) and, on a TLS connection, the ASGI TLS extension
(``scope["extensions"]["tls"]``: ``client_cert_chain`` holds the certificate the client
presented, PEM, verified by the handshake against ``tls_client_ca``; Python's ``ssl`` gives the
leaf only). Both are computed once per connection.

**uvicorn's internals.** This class overrides uvicorn's protocol methods and reads fields of
its connection state. uvicorn is pinned to one version in ``pyproject.toml`` for that reason,
``tests/unit/test_uvicorn_contract.py`` fails on any change of the parts used, and
:func:`check_uvicorn` refuses to serve on another version.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from realmgate.server.http.client_cert import PEER_KEY, tls_extension

PROTOCOL = "realmgate.server.http.protocol:BoundedHttpToolsProtocol"
UVICORN_VERSION = "0.54.0"
_HEAD = b"HTTP/1."
DRAIN_GRACE = 2.0  # seconds a connection without a request yet gets at shutdown


def check_uvicorn() -> None:
    """Refuse to serve on a uvicorn other than the one this protocol is built for."""
    if uvicorn.__version__ != UVICORN_VERSION:
        raise RuntimeError(
            f"realmgate's HTTP layer is built for uvicorn {UVICORN_VERSION}, found "
            f"{uvicorn.__version__}: install realmgate[server] with its pinned dependencies"
        )


@dataclass(frozen=True)
class HttpLimits:
    read_timeout: float = 10.0
    max_head_bytes: int = 16_384
    max_headers: int = 100
    max_connections: int = 1024


_limits = HttpLimits()


def configure(limits: HttpLimits) -> None:
    """The bounds of every connection made from now on in this process."""
    global _limits  # noqa: PLW0603 - one server per process; set before it serves
    _limits = limits


def limits() -> HttpLimits:
    return _limits


class HeadHoldingTransport(asyncio.Transport):
    """A transport that holds back a write that starts like a response head (``HTTP/1.``)
    until the next write or the loop's next iteration; everything else is passed through.
    Once :meth:`seal` ed (the connection was answered by the protocol itself and is closing),
    later writes are dropped."""

    __slots__ = ("_held", "_loop", "_sealed", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held = b""
        self._sealed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._sealed:
            return
        if self._held:
            data = self._held + bytes(data)
            self._held = b""
        elif data[:7] == _HEAD:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def write_now(self, data: bytes) -> None:
        """Write ``data`` after anything held, now (a whole response)."""
        if self._sealed:
            return
        if self._held:
            data = self._held + data
            self._held = b""
        self._transport.write(data)

    def seal(self, last: bytes) -> None:
        """Write ``last`` (nothing held goes out), drop every later write, and close."""
        if not self._sealed:
            self._sealed = True
            self._held = b""
            if not self._transport.is_closing():
                self._transport.write(last)
                self._transport.close()

    def flush(self) -> None:
        """Write what is held, if anything."""
        if self._held:
            held, self._held = self._held, b""
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, list_of_data: Any) -> None:
        if self._sealed:
            return
        self.flush()
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = b""
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


def _answer(status: bytes, description: str, extra: bytes = b"") -> bytes:
    body = b'{"error":"invalid_request","error_description":"%s"}' % description.encode()
    return (
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncache-control: no-store\r\n"
        b"content-length: %d\r\n%sconnection: close\r\n\r\n%s" % (status, len(body), extra, body)
    )


TIMED_OUT = _answer(b"408 Request Timeout", "The request did not arrive in time.")
HEAD_TOO_LARGE = _answer(b"431 Request Header Fields Too Large", "The request head is too large.")
OVERLOADED = _answer(
    b"503 Service Unavailable", "Too many connections; try again.", b"retry-after: 1\r\n"
)

# Per server (its ServerState): the connections waiting for a request, oldest first.
_waiting: weakref.WeakKeyDictionary[Any, dict[BoundedHttpToolsProtocol, None]] = (
    weakref.WeakKeyDictionary()
)


def _head_part(tail: bytes, data: bytes) -> int:
    """How many bytes of ``data`` belong to a request head whose bytes so far end in ``tail``
    (its last 3 bytes): up to the blank line that ends the head, else all of them."""
    if tail:  # the blank line may start in the bytes before
        joined = tail + data[:3]
        for mark in (b"\r\n\r\n", b"\n\n"):
            i = joined.find(mark)
            if i >= 0:
                return max(0, i + len(mark) - len(tail))
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return end + 4
    end = data.find(b"\n\n")
    return end + 2 if end >= 0 else len(data)


class _TooManyHeaders(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds above, on a :class:`HeadHoldingTransport`,
    with a lazy keep-alive timer."""

    _idle_since: float | None = None  # when the last response ended; None while busy
    _idle_timer: asyncio.TimerHandle | None = None
    _read_timer: asyncio.TimerHandle | None = None
    _reading = False  # a request (or the connection's first) is arriving
    _in_head = True  # the bytes that arrive now belong to a request head
    _head_bytes = 0
    _tail = b""  # the last bytes of the head so far, to find an end split over two reads
    _read_since = 0.0
    _rejection: bytes | None = None
    _requests = 0  # requests whose head arrived on this connection
    _draining = False  # the server is shutting down: answer what arrives, then close
    _tls: dict[str, Any] | None = None  # the ASGI TLS extension of a TLS connection
    _held: HeadHoldingTransport

    # -- connections ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._held = HeadHoldingTransport(transport, self.loop)
        super().connection_made(self._held)
        self._tls = tls_extension(transport)
        self._waiting = _waiting.setdefault(self.server_state, {})
        if len(self.connections) > _limits.max_connections and not self._make_room():
            self._reject(OVERLOADED)
            return
        self._waiting[self] = None
        self._start_reading()

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request; False if none is."""
        for victim in self._waiting:
            del self._waiting[victim]
            if victim._head_bytes or not victim._in_head:  # it was sending a request
                victim._reject(OVERLOADED)
            else:
                victim._held.close()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._waiting.pop(self, None)
        for timer in (self._idle_timer, self._read_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._read_timer = None

    def _reject(self, answer: bytes) -> None:
        """Answer ``answer`` (a whole response) and close, whatever the app does after."""
        self._waiting.pop(self, None)
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        self._held.seal(answer)

    # -- reading a request ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        scope: Any = self.scope
        scope[PEER_KEY] = self.client
        if self._tls is not None:
            scope["extensions"] = {"tls": self._tls}

    def _start_reading(self) -> None:
        # One lazy timer per connection, like the keep-alive one: a request notes when it
        # started; the timer, armed when none is, checks that time when it fires.
        self._reading = True
        self._read_since = self.loop.time()
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(_limits.read_timeout, self._check_read)

    def _check_read(self) -> None:
        self._read_timer = None
        if not self._reading or self.transport.is_closing():
            return
        left = self._read_since + _limits.read_timeout - self.loop.time()
        if left > 0:
            self._read_timer = self.loop.call_later(left, self._check_read)
            return
        cycle = self.cycle
        if cycle is None and not self._head_bytes:  # not one byte since the connection
            self._waiting.pop(self, None)
            self._held.close()
        elif cycle is None or cycle.response_complete or not cycle.response_started:
            self._reject(TIMED_OUT)
        else:  # a pipelined request is late while a response is going out: close after it
            cycle.keep_alive = False

    def data_received(self, data: bytes) -> None:
        if not self._reading:
            self._start_reading()
        if self._in_head:
            self._head_bytes += _head_part(self._tail, data)
            if self._head_bytes > _limits.max_head_bytes:
                self._reject(HEAD_TOO_LARGE)
                return
            self._tail = data[-3:]
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if self._rejection is not None:
            self._reject(self._rejection)
        else:
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        if len(self.headers) > _limits.max_headers:  # the head is within max_head_bytes
            self._rejection = HEAD_TOO_LARGE
            raise _TooManyHeaders  # stops the parser; uvicorn then calls send_400_response
        self._in_head = False
        self._requests += 1
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with "connection: close", then closed

    # -- shutdown ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The server is shutting down (``SIGTERM``, a worker retired by ``SIGHUP``). uvicorn
        closes every connection without a request in progress, including one it has just
        accepted whose request is still on its way: that client sees a reset. Here only
        connections idle after a response are closed at once; a new connection, or one whose
        request is arriving, gets ``DRAIN_GRACE`` seconds to send it and is answered with
        ``connection: close``."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
        elif self._requests and not self._head_bytes:
            self._held.close()
        else:
            self._draining = True
            self.loop.call_later(DRAIN_GRACE, self._drain_expired)

    def _drain_expired(self) -> None:
        cycle = self.cycle
        if (cycle is None or cycle.response_complete) and not self.transport.is_closing():
            self._held.close()

    def on_message_complete(self) -> None:
        self._reading = False
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""
        self._waiting.pop(self, None)
        super().on_message_complete()

    # -- keep-alive ----------------------------------------------------------------------
    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None
        super()._unset_keepalive_if_required()

    def on_response_complete(self) -> None:
        # uvicorn's, but noting the time instead of arming a timer per response.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._waiting[self] = None
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.timeout_keep_alive, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._idle_since is None:  # busy: its response arms the timer again
            return
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._check_idle)
        else:
            self.timeout_keep_alive_handler()
