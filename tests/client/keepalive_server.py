"""A tiny HTTP/1.1 keep-alive server on a real socket that breaks connections on cue.

It answers the token endpoint and the tenant settings; what it does with each request is
scripted per route, in the order the requests arrive:

* ``ANSWER``: a complete response; the connection stays open (keep-alive);
* ``CLOSE``: read the request, then close the connection without a byte (the client reads
  end of file): what a server that closes an idle connection at the very moment the request
  comes in looks like from the client;
* ``RESET``: read the request, then reset the connection (``SO_LINGER`` 0): the same race
  when the client sees a reset instead of an end of file;
* ``PARTIAL``: read the request, send the complete head and half the body, then close: the
  server received and handled the request, and its answer broke off.

Every connection runs in a thread of its own; :meth:`KeepAliveServer.wait_closed` waits until
each one ended, either closed by the server's script or by the client (end of file), which is
how a test sees that the client closed all of its sockets.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["answer", "close", "reset", "partial"]
ANSWER: Action = "answer"
CLOSE: Action = "close"
RESET: Action = "reset"
PARTIAL: Action = "partial"

TOKEN_PATH = "/realms/acme/protocol/openid-connect/token"
SETTINGS_PATH = "/v2/tenants/current/settings"
SETTINGS: dict[str, Any] = {
    "shortcode": "acme",
    "name": "ACME",
    "locale": "de-AT",
    "timezone": "Europe/Vienna",
    "defaultTranscriptionLanguage": "de",
    "transcriptionLanguages": ["de", "en"],
    "duplicateCheck": False,
    "maxActiveWebhooksPerUser": 5,
    "accessTokenLifespan": 7200,
    "sessionMaxLifespan": 36000,
    "createdAt": "2024-01-02T03:04:05Z",
    "updatedAt": "2024-06-01T00:00:00+00:00",
}


@dataclass(frozen=True, slots=True)
class Seen:
    """A request the server received: on which connection (0-based), method and path."""

    connection: int
    method: str
    path: str


def _read_request(conn: socket.socket) -> tuple[str, str] | None:
    """Read one request (head and ``Content-Length`` body); ``None`` at end of file."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return method, path


def _response(payload: object) -> tuple[bytes, bytes]:
    body = json.dumps(payload).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\ncache-control: no-store\r\n\r\n" % len(body)
    )
    return head, body


class KeepAliveServer:
    """The server; use as a context manager (it stops and joins its threads on exit)."""

    def __init__(self, **scripts: list[Action]) -> None:
        """``scripts`` per route (``token=[...]``, ``settings=[...]``); then ``ANSWER``."""
        self._scripts = {route: deque(actions) for route, actions in scripts.items()}
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.seen: list[Seen] = []
        self.connections = 0
        self._issued = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> KeepAliveServer:
        self._acceptor.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (Linux)
        self._acceptor.join(timeout=30)
        self._listener.close()
        if exc_type is not None:  # the test failed: unblock the connections left open
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self.wait_closed()

    def requests(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def wait_closed(self, timeout: float = 30.0) -> None:
        """Wait until every connection ended; fail naming those still open."""
        for thread in list(self._threads):
            thread.join(timeout=timeout)
        still_open = [t.name for t in self._threads if t.is_alive()]
        assert not still_open, f"connections the client never closed: {still_open}"

    # ------------------------------------------------------------------ internals

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                index = self.connections
                self.connections += 1
            thread = threading.Thread(
                target=self._serve, args=(conn, index), name=f"connection {index}", daemon=True
            )
            self._threads.append(thread)
            self._conns.append(conn)
            thread.start()

    def _next(self, method: str, path: str) -> tuple[Action, bytes, bytes]:
        route = "token" if path == TOKEN_PATH else "settings"
        with self._lock:
            script = self._scripts.get(route)
            action = script.popleft() if script else ANSWER
            if route == "token":
                self._issued += 1
                payload: object = {
                    "access_token": f"AT-{self._issued}",
                    "token_type": "Bearer",
                    "expires_in": 7200,
                }
            else:
                payload = {"status": "success", "data": SETTINGS}
        return (action, *_response(payload))

    def _serve(self, conn: socket.socket, index: int) -> None:
        with conn:
            while True:
                request = _read_request(conn)
                if request is None:
                    return  # the client closed the connection
                method, path = request
                action, head, body = self._next(method, path)
                with self._lock:
                    self.seen.append(Seen(index, method, path))
                if action == CLOSE:
                    return
                if action == RESET:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if action == PARTIAL:
                    conn.sendall(head + body[: len(body) // 2])
                    return
                conn.sendall(head + body)
