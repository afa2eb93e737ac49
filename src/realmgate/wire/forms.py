"""Strict ``application/x-www-form-urlencoded`` parsing for OAuth endpoints.

RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
Parameters sent without a value are treated as omitted (RFC 6749 §3.1).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from realmgate.wire.errors import InvalidRequest

MAX_PARAMETERS = 64
# Parameters that may legitimately repeat (RFC 8707 §2: "resource" may be given several times).
REPEATABLE = frozenset({"resource"})
_UNESCAPED = re.compile(rb"[A-Za-z0-9._~=&-]*")


class Form:
    """The parsed body: one value per single-valued parameter, lists for repeatable ones."""

    __slots__ = ("_repeated", "_single")

    def __init__(self, single: dict[str, str], repeated: dict[str, list[str]]):
        self._single = single
        self._repeated = repeated

    def get(self, name: str) -> str | None:
        return self._single.get(name)

    def get_all(self, name: str) -> list[str]:
        return list(self._repeated.get(name, ()))

    def __contains__(self, name: object) -> bool:
        return name in self._single or name in self._repeated

    def __repr__(self) -> str:  # names only: values may be secrets
        return f"Form(names={sorted([*self._single, *self._repeated])!r})"


def parse_form(body: bytes, *, max_parameters: int = MAX_PARAMETERS) -> Form:
    """Parse a form body, refusing non-UTF-8, too many and duplicated parameters."""
    single: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    seen: set[str] = set()
    for name, value in _pairs(body, max_parameters):
        if name in REPEATABLE:
            if value:
                repeated.setdefault(name, []).append(value)
            continue
        if name in seen:
            raise InvalidRequest(f"Parameter '{_printable(name)}' is included more than once.")
        seen.add(name)
        if value:
            single[name] = value
    return Form(single, repeated)


def _pairs(body: bytes, max_parameters: int) -> list[tuple[str, str]]:
    """The (name, value) pairs of ``body``, as ``parse_qsl`` gives them. A body of letters,
    digits, ``-._~``, ``=`` and ``&`` alone (what machine clients send: ids and URL-safe
    secrets) has nothing to decode: it is split as ``parse_qsl`` splits it, without its work
    (``tests/unit/test_forms.py`` checks both agree); any other body goes to ``parse_qsl``."""
    if _UNESCAPED.fullmatch(body):
        text = body.decode("ascii")
        if text.count("&") >= max_parameters:  # parse_qsl's count: one more than the "&"s
            raise InvalidRequest("The request body is not a valid form.")
        return [
            (name, value) for name, _, value in (p.partition("=") for p in text.split("&") if p)
        ]
    try:
        text = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.") from None
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=max_parameters,
        )
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not a valid form.") from None
    return pairs


def _printable(name: str) -> str:
    clean = "".join(ch for ch in name if ch.isprintable())
    return clean[:40]
