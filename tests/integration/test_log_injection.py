"""Log injection: request paths and credentials that carry line breaks (CR, LF, NEL, U+2028,
U+2029), other control characters or the access line's own separator (a space) can neither
split a log line nor forge one, in the text and the JSON format, with the access log on.

Each hostile value carries a marker and a whole forged record (an audit line, in the text and
the JSON format, with a timestamp of 1999). The server's log is read back: no line starts with
a forged record, every line that holds a marker is one genuine record, and every access line
still parses into method, path, status and duration.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.helpers import poll
from tests.servers import Server

FORGED_TEXT = (
    "1999-12-31 23:59:59,999 INFO realmgate.audit [-]: tenant.deleted acme/acme by cli:root"
)
FORGED_JSON = (
    '{"time": "1999-12-31T23:59:59.999Z", "level": "info", "logger": "realmgate.audit", '
    '"message": "tenant.deleted acme/acme by cli:root"}'
)
FORGED_STARTS = ("1999-12-31", '{"time": "1999')
# The text format: time level logger [request id]: message.
RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"realmgate(\.[a-z_]+)* \[[A-Za-z0-9._:-]+\]: "
)
ACCESS = re.compile(RECORD.pattern + r"(GET|POST) (?P<path>\S+) (?P<status>\d{3}) \d+\.\dms$")
# What goes between the marker and the forged records (percent-encoded in the request target,
# decoded by the server): every kind of line break, and the access line's separator.
BREAKS = {
    "crlf": "%0D%0A",
    "lf": "%0A",
    "cr": "%0D",
    "nel": "%C2%85",
    "line-separator": "%E2%80%A8",
    "paragraph-separator": "%E2%80%A9",
    "vertical-tab-form-feed": "%0B%0C",
    "file-group-record-separators": "%1C%1D%1E",
    "escape-and-nul": "%1B[2K%00",
    "delete": "%7F",
    "space": "%20",
}
# Sent as raw bytes in the request target (an HTTP parser may refuse them: then no line at all).
RAW_BREAKS = [b"\r\n", b"\n", b"\xc2\x85", b"\xe2\x80\xa8", b"\x85", b"\x7f", b"\x1b", b"\x00"]


def forged_suffix(encoded_break: str) -> str:
    text = quote(FORGED_TEXT, safe="")
    json_line = quote(FORGED_JSON, safe="")
    return f"{encoded_break}{text}{encoded_break}{json_line}{encoded_break}"


@pytest.fixture(params=["text", "json"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    srv = Server(
        tmp_path / "data",
        None,
        extra_env={
            "REALMGATE_LOG_FORMAT": str(request.param),
            "REALMGATE_ACCESS_LOG": "true",
            "REALMGATE_BOOTSTRAP_DEMO": "false",
            # a failing client is blocked at once, so the throttle's line (which names the
            # client) is written too
            "REALMGATE_THROTTLE_CLIENT_FREE": "1",
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def raw_request(server: Server, target: bytes) -> None:
    """One request with ``target`` as raw bytes; whatever the answer (a parser may refuse it)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        while sock.recv(65536):
            pass


def assert_no_forged_line(lines: list[str]) -> None:
    for line in lines:
        assert not line.lstrip().startswith(FORGED_STARTS), f"forged log line: {line!r}"


def marked(lines: list[str], marker: str) -> list[str]:
    return [line for line in lines if marker in line]


def test_hostile_values_neither_split_nor_forge_log_lines(server: Server) -> None:
    tenant = server.create_tenant(f"l{uuid.uuid4().hex[:10]}").tenant
    run = uuid.uuid4().hex[:8]
    markers: dict[str, str] = {}
    with httpx.Client(base_url=server.base_url) as client:
        for name, encoded in BREAKS.items():
            markers[name] = f"FORGED-{run}-{name}."
            r = client.get(f"/{markers[name]}{forged_suffix(encoded)}")
            assert r.status_code == 404
        # the hot token route, with the line break in the realm's place
        markers["token-route"] = f"FORGED-{run}-token-route."
        realm = f"{markers['token-route']}{forged_suffix('%0D%0A')}"
        r = client.post(
            f"/realms/{realm}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        )
        assert r.status_code in (400, 404)
        # credentials: a client id with line breaks, in the form and in Basic credentials
        evil_id = f"evil\r\n{FORGED_TEXT}\n{FORGED_JSON}\u2028{FORGED_TEXT}"
        for _ in range(3):
            r = client.post(
                f"/realms/{tenant}/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": evil_id,
                    "client_secret": "x",
                },
            )
            assert r.status_code in (401, 429), r.text
            r = client.post(
                f"/realms/{tenant}/protocol/openid-connect/token",
                data={"grant_type": "client_credentials"},
                auth=(evil_id, "x"),
            )
            assert r.status_code in (400, 401, 429), r.text
    for i, raw in enumerate(RAW_BREAKS):
        raw_request(server, f"/raw-{run}-{i}".encode() + raw + FORGED_TEXT.encode("ascii"))
    # the last request: when its line is in the log, every line before it is too
    sentinel = f"/sentinel-{run}"
    httpx.get(server.base_url + sentinel)
    poll(server.output, lambda text: sentinel in text, timeout=30)

    lines = server.output().splitlines()  # splits at \r, \n, NEL, U+2028, U+2029, \v, \f, ...
    assert_no_forged_line(lines)
    for name, marker in markers.items():
        found = marked(lines, marker)
        assert len(found) == 1, (name, found)
        line = found[0]
        if line.startswith("{"):
            record = json.loads(line)
            assert record["logger"] == "realmgate.access", line
            assert marker in record["path"]
            assert " " not in record["path"]  # the path is one field of the message too
            assert record["message"] == (
                f"{record['method']} {record['path']} {record['status']} "
                + record["message"].rsplit(" ", 1)[1]
            )
        else:
            access = ACCESS.match(line)
            assert access is not None, (name, line)
            assert marker in access["path"]
            assert access["status"] in ("400", "404")
    # every line that names the hostile client is a genuine record of its own
    for line in marked(lines, "evil"):
        if line.startswith("{"):
            json.loads(line)
        else:
            assert RECORD.match(line), line
    # raw bytes: the parser may refuse them; a line that was written is one genuine record
    for i in range(len(RAW_BREAKS)):
        for line in marked(lines, f"/raw-{run}-{i}"):
            assert line.startswith("{") or ACCESS.match(line), line
