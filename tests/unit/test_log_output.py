"""Batched log output: nothing is lost, order is kept, warnings are written at once."""

from __future__ import annotations

import io
import logging
import time

from realmgate.server.http.log_output import BatchingHandler, CachedTimeFormatter


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
