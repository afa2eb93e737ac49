"""Request ids, access logs and log formatting.

Every response carries ``X-Request-ID`` (the caller's, when it is a sane token, else a new
one), and every log line written while serving the request carries it too. Access log lines
hold the method, the path without its query string, the status and the duration: never a
header, a body or a query value. The path is logged percent-encoded (``quote``): one field
without spaces or control characters, whatever the request's decoded path holds.

Text lines go through ``log_output.TextFormatter`` and JSON lines through
``log_output.escape_json_line``: whatever a value holds, a record is one line and cannot
forge another.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import secrets
import time
from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realmgate.server.http.log_output import (
    BatchingHandler,
    CachedTimeFormatter,
    TextFormatter,
    escape_json_line,
    lighten_log_records,
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("realmgate.access")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# RFC 3986 path characters (pchar and "/") but "%": such a path is logged as it is.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")
MAX_LOGGED_PATH = 512
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
}


_ids = itertools.count(1)
_id_prefix = secrets.token_hex(8)


def _new_prefix() -> None:
    global _id_prefix, _ids
    _id_prefix, _ids = secrets.token_hex(8), itertools.count(1)


os.register_at_fork(after_in_child=_new_prefix)


def new_request_id() -> str:
    """32 hex digits: a random prefix per process and a counter (no system call per request)."""
    return f"{_id_prefix}{next(_ids) & 0xFFFFFFFFFFFFFFFF:016x}"


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            return request_id_from(value)
    return new_request_id()


def request_id_from(value: bytes | None) -> str:
    """``value`` (an ``X-Request-ID`` header) when it is a sane token, else a new id."""
    if value is not None:
        candidate = value.decode("latin-1")
        if _SANE_ID.fullmatch(candidate):
            return candidate
    return new_request_id()


def logged_path(path: str) -> str:
    """The (decoded) request path as the access log shows it: its first ``MAX_LOGGED_PATH``
    characters, percent-encoded again where needed (spaces, ``%``, controls, non-ASCII)."""
    path = path[:MAX_LOGGED_PATH]
    if _PLAIN_PATH.fullmatch(path):
        return path
    return quote(path, safe=_PATH_SAFE, errors="surrogatepass")


def log_access(method: str, path: str, status: int, started: float) -> None:
    """One access log line: method, path without query, status, duration; nothing else."""
    shown = logged_path(path)
    access_log.info(
        "%s %s %d %.1fms",
        method,
        shown,
        status,
        (time.perf_counter() - started) * 1000,
        extra={"method": method, "path": shown, "status": status},
    )


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = False):
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope["headers"])
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log_enabled:
                log_access(scope["method"], scope["path"], status, started)
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(CachedTimeFormatter):
    """One JSON object per line: time, level, logger, message, request id and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = (
                    value if isinstance(value, str | int | float | bool | None) else str(value)
                )
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return escape_json_line(json.dumps(data, ensure_ascii=False))


def configure_logging(level: str, fmt: str, *, batched: bool = True) -> None:
    """Root logging to stderr, as text or JSON lines, batched (see ``log_output``) unless
    ``batched`` is false (a process that forks workers: batching would start a thread)."""
    lighten_log_records()
    handler = BatchingHandler() if batched else logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
