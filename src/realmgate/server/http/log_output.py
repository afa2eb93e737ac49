"""Writing log lines cheaply: at thousands of tokens per second, the audit line of each token
would otherwise cost as much as the token's signature (one ``write`` system call per line).

:class:`BatchingHandler` formats every record at once (so the request id and the extras are
those of the moment) but writes INFO and DEBUG lines in batches: when the batch is
``max_delay`` seconds old (a background thread also flushes it then), holds ``max_lines``
lines, on a WARNING or worse (written at once, after the lines before it), when the app shuts
down and at exit.
A process killed with SIGKILL can lose at most ``max_delay`` seconds of INFO lines.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TextIO

MAX_DELAY = 0.2
MAX_LINES = 512


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        max_delay: float = MAX_DELAY,
        max_lines: int = MAX_LINES,
    ):
        super().__init__(stream)
        self.max_delay = max_delay
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._first_at = 0.0
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        now = time.monotonic()
        if not self._lines:
            self._first_at = now
        self._lines.append(line)
        if (
            record.levelno >= logging.WARNING
            or len(self._lines) >= self.max_lines
            or now - self._first_at >= self.max_delay
        ):
            self._write()
        elif self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(
                target=self._flush_periodically, name="realmgate-log-flush", daemon=True
            )
            self._flusher.start()

    def _write(self) -> None:
        if not self._lines:
            return
        data = "".join(self._lines)
        self._lines.clear()
        try:
            self.stream.write(data)
            self.stream.flush()
        except Exception:  # as logging does: report on stderr, never break the caller
            self.handleError(logging.makeLogRecord({"msg": "a batch of log lines"}))

    def flush(self) -> None:
        self.acquire()
        try:
            self._write()
        finally:
            self.release()

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(self.max_delay)
            self.flush()


def flush_log_handlers() -> None:
    """Write out every batched line now (the app's shutdown calls it: a worker process may
    end without running the interpreter's exit handlers)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


class CachedTimeFormatter(logging.Formatter):
    """``formatTime`` rendered once per second (``strftime`` is a large share of a line)."""

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._second: tuple[int, str | None] = (-1, None)
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        key = (int(record.created), datefmt)
        if key != self._second:
            self._second = key
            self._text = time.strftime(datefmt or self.default_time_format, self.converter(key[0]))
        if datefmt:
            return self._text
        return f"{self._text},{int(record.msecs):03d}"


def lighten_log_records() -> None:
    """Skip what no realmgate log format shows: the caller's file and line, thread and process
    names (the logging HOWTO's "Optimization" section)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
