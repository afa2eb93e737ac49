"""Writing log lines safely and cheaply.

Safely: a log line holds values that came from outside (request paths, client ids, exception
messages). :class:`TextFormatter` escapes every control character of the whole line (C0, DEL,
C1, the Unicode line and paragraph separators, bidirectional overrides, lone surrogates) and
the backslash, so one record is always one line and no value can forge another record.
:func:`escape_json_line` does the same for what ``json.dumps`` leaves raw.

Cheaply: at thousands of tokens per second, the audit line of each token
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
import re
import threading
import time
from typing import TextIO

MAX_DELAY = 0.2
MAX_LINES = 512

# What must never reach a text log line raw: the backslash (the escape character itself), C0
# controls (CR, LF, ...), DEL, C1 controls (NEL), the line and paragraph separators, the
# bidirectional controls (which reorder what a terminal shows) and lone surrogates.
_UNSAFE = re.compile(
    r"[\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
# What ``json.dumps(..., ensure_ascii=False)`` leaves raw of the above (it escapes the C0
# controls, the quote and the backslash): these appear only inside JSON strings.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_log_text(text: str) -> str:
    """``text`` with every character of ``_UNSAFE`` escaped (``\\n``, ``\\x85``, ``\\u2028``,
    ``\\\\``): printable, one line, and unambiguous."""
    if text.isprintable() and "\\" not in text:  # the common case, at C speed
        return text
    return _UNSAFE.sub(_escaped, text)


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_json_line(line: str) -> str:
    """A line of ``json.dumps(..., ensure_ascii=False)`` with the characters it leaves raw that
    split lines (NEL, U+2028, U+2029) or confuse terminals escaped as ``\\uXXXX``: the same
    JSON value, on one line for every reader (``str.splitlines`` splits at them)."""
    return line if line.isprintable() else _JSON_UNSAFE.sub(_json_escaped, line)


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


class TextFormatter(CachedTimeFormatter):
    """``time level logger [request id]: message``, one line per record whatever the values
    hold: the whole line (message, arguments, exception and stack text included) goes through
    :func:`escape_log_text`, so no call site can forget to escape what it logs. A traceback is
    one line too (its line breaks as ``\\n``). The fields before the message are the logger's
    name and the request id (a sane token, see ``observability.request_id_from``): no value
    from outside can hold their separators."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return escape_log_text(super().format(record))


def lighten_log_records() -> None:
    """Skip what no realmgate log format shows: the caller's file and line, thread and process
    names (the logging HOWTO's "Optimization" section)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
