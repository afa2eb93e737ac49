"""Log output: batched (nothing is lost, order is kept, warnings are written at once), and one
record per line whatever its values hold (text and JSON)."""

from __future__ import annotations

import io
import json
import logging
import sys
import time

import pytest

from realmgate.server.http.log_output import BatchingHandler, CachedTimeFormatter, TextFormatter
from realmgate.server.http.observability import JsonFormatter, logged_path


def make(max_delay: float = 60.0, max_lines: int = 100) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = BatchingHandler(stream, max_delay=max_delay, max_lines=max_lines)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.Logger(f"test-{time.monotonic_ns()}", logging.DEBUG)
    logger.addHandler(handler)
    return logger, stream


def test_info_lines_wait_for_a_warning_which_is_written_at_once_in_order() -> None:
    logger, stream = make()
    logger.info("one")
    logger.info("two")
    assert stream.getvalue() == ""
    logger.warning("three")
    assert stream.getvalue() == "INFO one\nINFO two\nWARNING three\n"


def test_a_full_batch_is_written() -> None:
    logger, stream = make(max_lines=3)
    for i in range(3):
        logger.info("line %d", i)
    assert stream.getvalue().splitlines() == ["INFO line 0", "INFO line 1", "INFO line 2"]


def test_flush_and_close_write_what_is_pending() -> None:
    logger, stream = make()
    logger.info("pending")
    handler = logger.handlers[0]
    handler.flush()
    assert stream.getvalue() == "INFO pending\n"
    logger.info("at exit")
    handler.close()  # logging.shutdown() flushes every handler at exit
    handler.flush()
    assert stream.getvalue().endswith("INFO at exit\n")


def test_the_background_thread_writes_a_quiet_batch() -> None:
    logger, stream = make(max_delay=0.05)
    logger.info("alone")
    deadline = time.monotonic() + 10
    while stream.getvalue() == "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "INFO alone\n"


def test_the_cached_time_is_the_records_own() -> None:
    fmt = CachedTimeFormatter("%(asctime)s %(message)s")
    fmt.converter = time.gmtime
    reference = logging.Formatter("%(asctime)s %(message)s")
    reference.converter = time.gmtime
    for created in (1_700_000_000.123, 1_700_000_000.987, 1_700_000_001.5, 1_700_003_601.0):
        record = logging.makeLogRecord(
            {"msg": "m", "created": created, "msecs": created % 1 * 1000}
        )
        assert fmt.format(record) == reference.format(record)
        assert fmt.formatTime(record, "%H:%M:%S") == reference.formatTime(record, "%H:%M:%S")


# -- one record, one line: values from outside cannot split or forge lines -------------------
FORGED = "2026-01-01 00:00:00,000 INFO realmgate.audit [-]: tenant.deleted acme/acme by cli:root"
BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    rec = logging.LogRecord("realmgate.access", logging.INFO, "f", 1, msg, args, None)
    rec.request_id = "rid-1"
    if exc:
        try:
            raise ValueError(f"bad\n{FORGED}")
        except ValueError:
            rec.exc_info = sys.exc_info()
    return rec


@pytest.mark.parametrize("brk", BREAKS, ids=repr)
def test_text_lines_escape_every_line_break_in_message_and_arguments(brk: str) -> None:
    line = TextFormatter().format(record(f"GET /a{brk}{FORGED} %s", f"x{brk}{FORGED}"))
    assert line.splitlines() == [line]
    assert line.startswith(f"{line[:23]} INFO realmgate.access [rid-1]: GET /a")
    assert brk not in line


def test_text_lines_escape_controls_backslash_and_bidi_and_stay_readable() -> None:
    fmt = TextFormatter()
    line = fmt.format(record("%s", "a\\n\x00\x1b[2K\x7f\x9b\u202e\u2066\ud800 é 😀"))
    assert line.endswith(r"a\\n\x00\x1b[2K\x7f\x9b\u202e\u2066\ud800 é 😀")
    assert fmt.format(record("plain message")).endswith(": plain message")


def test_a_traceback_is_one_line_too() -> None:
    line = TextFormatter().format(record("boom", exc=True))
    assert line.splitlines() == [line]
    assert "Traceback (most recent call last):\\n" in line
    assert f"ValueError: bad\\n{FORGED}" in line


@pytest.mark.parametrize("brk", [*BREAKS, "\x7f", "\u202e", "\ud800"], ids=repr)
def test_json_lines_are_one_line_and_keep_the_value(brk: str) -> None:
    value = f"/a{brk}{FORGED}"
    rec = record("GET %s", value)
    rec.path = value
    line = JsonFormatter().format(rec)
    assert line.splitlines() == [line]
    assert brk not in line
    data = json.loads(line)
    assert data["path"] == value
    assert data["message"] == f"GET {value}"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (
            "/realms/acme/protocol/openid-connect/token",
            "/realms/acme/protocol/openid-connect/token",
        ),
        ("/a b", "/a%20b"),
        ("/a\r\nb", "/a%0D%0Ab"),
        ("/100%", "/100%25"),
        ("/é\u2028", "/%C3%A9%E2%80%A8"),
        ("/\ud800", "/%ED%A0%80"),
    ],
)
def test_the_access_log_shows_the_path_percent_encoded(path: str, shown: str) -> None:
    assert logged_path(path) == shown
