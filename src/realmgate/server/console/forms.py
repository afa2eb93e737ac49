"""Reading the console's POSTed forms and refusing forged ones (Origin, Fetch metadata, CSRF).

Apart from :mod:`web` so that module stays about sessions and rendering; :mod:`web`
re-exports everything page modules use.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from starlette.requests import Request

from realmgate.server.http.request_head import head_of, read_body
from realmgate.wire.errors import RequestTooLarge

MAX_FORM = 64 * 1024


class ConsoleError(Exception):
    """Answer with an HTML error page: ``status``, a title and a message safe to show."""

    def __init__(
        self, status: int, title: str, message: str = "", headers: dict[str, str] | None = None
    ):
        super().__init__(message or title)
        self.status = status
        self.title = title
        self.message = message
        self.headers = headers or {}


async def parse_form(request: Request) -> list[tuple[str, str]]:
    cached: list[tuple[str, str]] | None = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    head = head_of(request.scope)  # the one parse of the head and the one body reader
    try:
        body = await read_body(request.receive, head.content_length, MAX_FORM)
    except RequestTooLarge:
        raise ConsoleError(413, "Request too large", "The form is too large.") from None
    ctype = head.media_type.decode("latin-1")
    if body and ctype != "application/x-www-form-urlencoded":
        raise ConsoleError(400, "Bad request", "Send the form as a web browser does.")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ConsoleError(400, "Bad request", "The form is not valid UTF-8.") from None
    if len(pairs) > 500:
        raise ConsoleError(400, "Bad request", "The form has too many fields.")
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise ConsoleError(400, "Bad request", "The form holds a NUL character.")
    request.state.console_form = pairs
    return pairs


async def read_form(request: Request) -> dict[str, str]:
    """The POSTed form (urlencoded, at most 64 KiB): field -> its last value; NUL: 400."""
    return dict(await parse_form(request))


async def read_form_all(request: Request) -> dict[str, list[str]]:
    """The POSTed form with every value of a repeated field (checkboxes, multi-selects)."""
    out: dict[str, list[str]] = {}
    for k, v in await parse_form(request):
        out.setdefault(k, []).append(v)
    return out


def check_origin(request: Request) -> None:
    """Refuse a POST sent by another site: a foreign ``Origin`` or ``Sec-Fetch-Site``."""
    site = request.headers.get("sec-fetch-site", "").lower()
    if site in ("cross-site", "same-site"):
        raise ConsoleError(403, "Request refused", "This form was sent from another site.")
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin.strip() == "null":
        # Under Referrer-Policy: no-referrer, browsers send "Origin: null" on their own
        # form POSTs; then only the Fetch metadata can tell the console's own pages.
        if site == "same-origin":
            return
        raise ConsoleError(403, "Request refused", "This form was sent from another site.")
    host = request.headers.get("host", "")
    own = f"{request.url.scheme}://{host}".lower()
    if not hmac.compare_digest(origin.strip().lower().encode(), own.encode()):
        raise ConsoleError(403, "Request refused", "This form was sent from another site.")


async def check_csrf(request: Request, expected: str) -> None:
    form = await read_form(request)
    sent = form.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ConsoleError(
            403,
            "Request refused",
            "The form expired or was not sent from this console. "
            "Go back, reload the page and try again.",
        )
