"""Whole responses in one write, for the hot routes.

:func:`send_whole` writes status line, headers and body in one call on a
:class:`~realmgate.server.http.protocol.BoundedHttpToolsProtocol` connection, with the same
bytes uvicorn would write for the two ASGI messages, and without those messages. It reads and
sets fields of uvicorn's ``RequestResponseCycle``: uvicorn is pinned to one version for that
reason, and ``tests/unit/test_uvicorn_contract.py`` fails on any change of what is used here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from realmgate.server.http.protocol import HeadHoldingTransport

Headers = Sequence[tuple[bytes, bytes]]
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
_MAX_BLOCKS = 256


class _HeaderBlocks:
    """Header lists rendered as bytes once, after uvicorn's own checks of names and values.

    A list holding a framing header (length, transfer encoding, connection) is refused (None):
    its caller sends ASGI messages, and uvicorn handles it."""

    def __init__(self) -> None:
        self._blocks: dict[tuple[tuple[bytes, bytes], ...], bytes | None] = {}
        self._defaults: tuple[list[tuple[bytes, bytes]], bytes | None] = ([], b"")

    def render(self, headers: Headers) -> bytes | None:
        key = tuple(headers)
        if key in self._blocks:
            return self._blocks[key]
        block = self._blocks[key] = _render(key)
        if len(self._blocks) > _MAX_BLOCKS:
            del self._blocks[next(iter(self._blocks))]
        return block

    def defaults(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        """uvicorn's default headers (``date``), a new list every second."""
        if self._defaults[0] is not headers:
            self._defaults = (headers, _render(tuple(headers)))
        return self._defaults[1]


def _render(headers: tuple[tuple[bytes, bytes], ...]) -> bytes | None:
    lines = []
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value) or name.lower() in _FRAMING:
            return None
        lines.append(b"%s: %s\r\n" % (name.lower(), value))
    return b"".join(lines)


_blocks = _HeaderBlocks()


def whole_response(
    default_headers: list[tuple[bytes, bytes]],
    status: int,
    headers: Headers,
    request_id: bytes,
    body: bytes,
    *,
    keep_alive: bool,
) -> bytes | None:
    """The bytes of a whole response as uvicorn would write them: the status line, uvicorn's
    ``default_headers`` (``date``), ``headers`` (rendered once per list), ``x-request-id``,
    ``content-length`` (and ``connection: close`` unless ``keep_alive``) and ``body``. None
    when a header is one uvicorn must see (framing) or is not a valid header."""
    defaults = _blocks.defaults(default_headers)
    block = _blocks.render(headers)
    if defaults is None or block is None or HEADER_VALUE_RE.search(request_id):
        return None
    close = b"" if keep_alive else b"connection: close\r\n"
    return b"%s%s%sx-request-id: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
        STATUS_LINE[status],
        defaults,
        block,
        request_id,
        len(body),
        close,
        body,
    )


def send_whole(
    send: Callable[..., Any], status: int, headers: Headers, request_id: bytes, body: bytes
) -> bool:
    """Answer with one write when ``send`` belongs to a :class:`BoundedHttpToolsProtocol`
    connection that has not started its response, can write now and is not answering HEAD:
    the status line, uvicorn's default headers, ``headers`` (rendered once per list),
    ``x-request-id``, ``content-length`` (and ``connection: close`` when the connection will
    close) and ``body``, as uvicorn would write them. False when the caller must send the ASGI
    messages instead (nothing was written)."""
    cycle = getattr(send, "__self__", None)
    if type(cycle) is not RequestResponseCycle:
        return False
    transport = cycle.transport
    if (
        type(transport) is not HeadHoldingTransport
        or cycle.response_started
        or cycle.disconnected
        or cycle.flow.write_paused
        or cycle.scope["method"] == "HEAD"
    ):
        return False
    data = whole_response(
        cycle.default_headers, status, headers, request_id, body, keep_alive=cycle.keep_alive
    )
    if data is None:
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    if cycle.access_log:  # uvicorn's own access log line, when its logger has handlers
        scope = cycle.scope
        cycle.access_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            get_client_addr(scope),
            scope["method"],
            get_path_with_query_string(scope),
            scope["http_version"],
            status,
        )
    transport.write_now(data)
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        transport.close()
    cycle.on_response()
    return True
