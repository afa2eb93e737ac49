"""SIGTERM drains in-flight requests: a token request whose body is still arriving when the
signal comes is answered in full, then the process exits cleanly."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import Server


def server_has_read_everything(port: int) -> bool:
    """Some connection to ``port`` is established and the server has read all it was sent
    (its receive queues in ``/proc/net/tcp`` are empty): the request is in the server's hands."""
    established, unread = 0, 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED, server side
                established += 1
                unread += int(fields[4].split(":")[1], 16)  # rx_queue
    return established > 0 and unread == 0


def wait_until_read(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not server_has_read_everything(port):
        assert time.monotonic() < deadline, "the server never read the request's first bytes"
        time.sleep(0.01)


def test_sigterm_drains_an_in_flight_request(fresh_server: Server) -> None:
    fresh_server.start()
    demo = fresh_server.demo
    assert demo is not None
    proc = fresh_server.proc
    assert proc is not None
    first_half_sent = threading.Event()
    signalled = threading.Event()
    body = (
        f"grant_type=client_credentials&client_id={demo.client_id}"
        f"&client_secret={demo.client_secret}"
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:20]
        first_half_sent.set()
        assert signalled.wait(10)
        yield body[20:]

    result: dict[str, httpx.Response] = {}

    def post() -> None:
        result["r"] = httpx.post(
            fresh_server.token_url(demo.tenant),
            content=chunks(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": str(len(body)),
            },
            timeout=20,
        )

    worker = threading.Thread(target=post)
    worker.start()
    assert first_half_sent.wait(10)
    # Only a request whose headers the server has parsed is in flight: a connection with
    # unread bytes is, for the server, still idle, and a draining server may close it.
    wait_until_read(fresh_server.port)
    proc.send_signal(signal.SIGTERM)
    signalled.set()
    worker.join(20)
    assert result["r"].status_code == 200
    assert result["r"].json()["token_type"] == "Bearer"
    # uvicorn re-raises the signal after the drain, as systemd expects of a clean stop
    assert proc.wait(20) in (0, -signal.SIGTERM)
    assert "Traceback" not in fresh_server.output()
