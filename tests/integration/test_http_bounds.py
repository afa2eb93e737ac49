"""The HTTP layer's bounds and head rules, against a real server over raw sockets: the time to
send a request, the head's size and header count, connections per worker, duplicate
``Authorization``/``Host`` headers, a missing ``Host``, no redirect built from ``Host``, and
idle connections kept longer than client pools keep them."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Credentials, Server

TOKEN = "/realms/{t}/protocol/openid-connect/token"


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with small bounds, so that the tests reach them quickly."""
    srv = Server(
        tmp_path_factory.mktemp("bounded"),
        None,
        {
            "REALMGATE_HTTP_READ_TIMEOUT": "1",
            "REALMGATE_HTTP_MAX_CONNECTIONS": "32",
            "REALMGATE_HTTP_MAX_HEADERS": "20",
            "REALMGATE_HTTP_MAX_HEAD_BYTES": "4096",
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def creds(bounded: Server) -> Credentials:
    return bounded.create_tenant(f"b{uuid.uuid4().hex[:10]}")


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def read_response(sock: socket.socket, deadline: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """One response, read until its body is complete or the server closes."""
    sock.settimeout(deadline)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def closed_by_server(sock: socket.socket, deadline: float = 30.0) -> bool:
    """Whether the server closes ``sock`` (reads to EOF) within ``deadline`` seconds."""
    end = time.monotonic() + deadline
    sock.setblocking(False)
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([sock], [], [], 0.2)
            if ready:
                try:
                    if not sock.recv(65536):
                        return True
                except (ConnectionResetError, BrokenPipeError):
                    return True
                except BlockingIOError:
                    continue
        return False
    finally:
        sock.setblocking(True)


def token_request(server: Server, creds: Credentials, extra: str = "") -> bytes:
    body = (
        f"grant_type=client_credentials&client_id={creds.client_id}"
        f"&client_secret={creds.client_secret}"
    )
    return (
        f"POST {TOKEN.format(t=creds.tenant)} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def get_token(server: Server, creds: Credentials) -> httpx.Response:
    return httpx.post(
        server.base_url + TOKEN.format(t=creds.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
        timeout=30,
    )


# --- duplicate and missing headers ---------------------------------------------------------
def test_two_authorization_headers_are_refused_on_the_token_endpoint(
    bounded: Server, creds: Credentials
) -> None:
    basic = "Authorization: Basic Zm9vOmJhcg==\r\n"
    with connect(bounded) as sock:
        sock.sendall(token_request(bounded, creds, basic + basic))
        status, headers, body = read_response(sock)
    assert status == 400
    assert json.loads(body)["error"] == "invalid_request"
    assert headers["connection"] == "close"
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_two_authorization_headers_are_refused_by_the_tenant_api(
    bounded: Server, creds: Credentials, method: str
) -> None:
    token = get_token(bounded, creds).json()["access_token"]
    patch = b'{"displayName": "x"}' if method == "PATCH" else b""
    request = (
        f"{method} /v2/tenants/current/settings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nAuthorization: Bearer {token}x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(patch)}\r\n\r\n"
    ).encode() + patch
    with connect(bounded) as sock:
        sock.sendall(request)
        status, _, body = read_response(sock)
    assert status == 400
    assert json.loads(body)["status"] == "fail"


def test_two_host_headers_and_a_missing_host_are_refused(
    bounded: Server, creds: Credentials
) -> None:
    with connect(bounded) as sock:
        sock.sendall(token_request(bounded, creds, "Host: evil.example\r\n"))
        assert read_response(sock)[0] == 400
    with connect(bounded) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\n\r\n")
        assert read_response(sock)[0] == 400
    with connect(bounded) as sock:  # HTTP/1.0 needs no Host
        sock.sendall(b"GET /health/live HTTP/1.0\r\n\r\n")
        assert read_response(sock)[0] == 200


def test_one_authorization_header_still_works(bounded: Server, creds: Credentials) -> None:
    with connect(bounded) as sock:
        sock.sendall(token_request(bounded, creds))
        status, _, body = read_response(sock)
    assert status == 200, body
    assert "access_token" in json.loads(body)


def test_no_redirect_is_built_from_the_host_header(bounded: Server, creds: Credentials) -> None:
    path = TOKEN.format(t=creds.tenant) + "/"
    request = token_request(bounded, creds).replace(
        f"Host: 127.0.0.1:{bounded.port}".encode(), b"Host: attacker.example"
    )
    request = request.replace(TOKEN.format(t=creds.tenant).encode(), path.encode(), 1)
    with connect(bounded) as sock:
        sock.sendall(request)
        status, headers, body = read_response(sock)
    assert status == 404
    assert "location" not in headers
    assert b"attacker.example" not in body


# --- bounds --------------------------------------------------------------------------------
def test_a_request_that_does_not_arrive_in_time_gets_408(bounded: Server) -> None:
    with connect(bounded) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        status, headers, _ = read_response(sock)
        assert status == 408
        assert headers["connection"] == "close"
        assert closed_by_server(sock)


def test_a_slow_body_gets_408(bounded: Server, creds: Credentials) -> None:
    request = token_request(bounded, creds)
    with connect(bounded) as sock:
        sock.sendall(request[:-5])  # the head and most of the body
        assert read_response(sock)[0] == 408
        assert closed_by_server(sock)


def test_a_silent_connection_is_closed(bounded: Server) -> None:
    with connect(bounded) as sock:
        assert closed_by_server(sock)


def test_a_head_over_the_size_limit_gets_431(bounded: Server) -> None:
    with connect(bounded) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        status = 0
        try:
            for _ in range(64):  # up to 4 MB, far over the limit; the server stops it early
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, body = read_response(sock)
    assert status == 431
    assert json.loads(body)["error"] == "invalid_request"


def test_a_body_sent_with_its_head_is_not_counted_as_head(
    bounded: Server, creds: Credentials
) -> None:
    """A 40 KB form (over the 4 KiB head limit, under the body limit), sent with its head in
    one write: the head ends at its blank line, the rest is body."""
    request = token_request(bounded, creds).replace(
        b"Content-Length: ", b"X-Pad: " + b"p" * 3000 + b"\r\nContent-Length: "
    )
    head, _, body = request.partition(b"\r\n\r\n")
    body += b"&pad=" + b"x" * 40_000
    head = head.replace(
        b"Content-Length: %d" % (len(body) - 40_005), b"Content-Length: %d" % len(body)
    )
    with connect(bounded) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        status, _, answer = read_response(sock)
    assert status == 200, answer  # read and parsed (an unknown parameter is ignored)
    assert "access_token" in json.loads(answer)


def test_too_many_headers_get_431(bounded: Server) -> None:
    many = "".join(f"X-H{i}: {i}\r\n" for i in range(25))
    with connect(bounded) as sock:
        sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n{many}\r\n".encode())
        assert read_response(sock)[0] == 431
    few = "".join(f"X-H{i}: {i}\r\n" for i in range(10))
    with connect(bounded) as sock:
        sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n{few}\r\n".encode())
        assert read_response(sock)[0] == 200


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that keeps 32 connections and waits long for requests."""
    srv = Server(
        tmp_path_factory.mktemp("crowded"),
        None,
        {"REALMGATE_HTTP_READ_TIMEOUT": "300", "REALMGATE_HTTP_MAX_CONNECTIONS": "32"},
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_connections_over_the_limit_push_out_the_longest_waiting(crowded: Server) -> None:
    """64 connections that hold half a header each, on a worker that keeps 32: each new one
    closes the oldest, and a normal client gets its token at once, again and again."""
    creds = crowded.create_tenant(f"c{uuid.uuid4().hex[:10]}")
    holders = []
    try:
        for _ in range(64):
            sock = connect(crowded)
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            holders.append(sock)
        for sock in holders[:32]:
            status, headers, _ = read_response(sock)
            assert status == 503
            assert headers["retry-after"] == "1"
            assert closed_by_server(sock)
        assert not any(closed_by_server(s, deadline=0.2) for s in holders[-8:])
        for _ in range(5):
            assert get_token(crowded, creds).status_code == 200
    finally:
        for sock in holders:
            sock.close()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_a_worker_under_a_head_flood_and_big_headers_keeps_serving(tmp_path: Path) -> None:
    """The attacks of the review, on a server with the default bounds: 3,000 connections that
    each send half a header line, and 8 connections sending a header that never ends (32 MB
    each if the server let them). The worker stays under 150 MB and a normal client keeps
    getting tokens."""
    srv = Server(tmp_path / "data", None)
    srv.start()
    stop = threading.Event()
    held: list[socket.socket] = []
    peak = [0.0]
    assert srv.proc is not None
    pid = srv.proc.pid

    def flood() -> None:
        for _ in range(3000):
            if stop.is_set():
                return
            try:
                sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
                sock.sendall(b"POST /realms/x/protocol/openid-connect/token HTTP/1.1\r\nHo")
                held.append(sock)
            except OSError:
                continue

    def big_header() -> None:
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
                sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
                chunk = b"a" * 65536
                for _ in range(512):  # 32 MB
                    sock.sendall(chunk)
        except OSError:
            return  # refused and closed by the server: what should happen

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb(pid))
            time.sleep(0.05)

    try:
        creds = srv.create_tenant(f"f{uuid.uuid4().hex[:10]}")
        threads = [threading.Thread(target=flood), threading.Thread(target=watch, name="watch")]
        threads += [threading.Thread(target=big_header) for _ in range(8)]
        for t in threads:
            t.start()
        served = 0
        attacks = [t for t in threads if t.name != "watch"]
        while any(t.is_alive() for t in attacks) or served < 20:
            response = None
            for _ in range(2):  # a connection closed before its request was read is resent
                try:
                    response = get_token(srv, creds)
                    break
                except httpx.TransportError:
                    continue
            assert response is not None
            assert response.status_code == 200
            served += 1
        stop.set()
        for t in threads:
            t.join(timeout=120)
        peak[0] = max(peak[0], _rss_mb(pid))
        print(f"worker RSS peak {peak[0]:.0f} MB, {served} tokens served")
        assert peak[0] < 150, f"worker RSS peaked at {peak[0]:.0f} MB"
        assert srv.proc.poll() is None
    finally:
        stop.set()
        for sock in held:
            sock.close()
        srv.stop()


def test_idle_connections_outlive_common_client_pools(tmp_path: Path) -> None:
    """An idle keep-alive connection is kept longer than httpx keeps one in its pool (5 s):
    the server's idle timeout is the documented default of 120 s."""
    srv = Server(tmp_path / "data", None)
    srv.start()
    try:
        with connect(srv) as sock:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200
            assert not closed_by_server(sock, deadline=6.0)
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200
    finally:
        srv.stop()
