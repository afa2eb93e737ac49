"""Turn tenant API responses (JSend envelopes) into data or typed errors."""

from __future__ import annotations

import re
from typing import Any

import httpx

from ._errors import (
    ApiAuthError,
    ApiFailError,
    ApiResponseError,
    ApiServerError,
)

_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'\s*({_TCHAR})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TCHAR}))\s*')
_SCHEME = re.compile(rf"(?:^|,)\s*({_TCHAR})(?=\s|$|,)")
_MAX_TEXT = 500


def parse_bearer_challenge(header: str | None) -> dict[str, str]:
    """The auth-params of the ``Bearer`` challenge in a ``WWW-Authenticate`` value.

    ``Bearer realm="api", error="invalid_token"`` gives
    ``{"realm": "api", "error": "invalid_token"}``; no Bearer challenge gives ``{}``.
    """
    return parse_challenge(header, "bearer")


def auth_challenge(header: str | None) -> dict[str, str]:
    """The challenge that carries an ``error``: the ``DPoP`` one (RFC 9449 §7.1) if it has
    one, else the ``Bearer`` one (``{}`` if neither)."""
    dpop = parse_challenge(header, "dpop")
    if "error" in dpop:
        return dpop
    return parse_challenge(header, "bearer") or dpop


def parse_challenge(header: str | None, wanted: str) -> dict[str, str]:
    """The auth-params of the challenge of scheme ``wanted`` (lower case) in a
    ``WWW-Authenticate`` value; ``{}`` without one."""
    if not header:
        return {}
    for scheme in _SCHEME.finditer(header):
        if scheme.group(1).lower() != wanted:
            continue
        params: dict[str, str] = {}
        pos = scheme.end()
        while True:
            match = _PARAM.match(header, pos)
            if match is None:
                break
            value = match.group(2)
            value = re.sub(r"\\(.)", r"\1", value) if value is not None else match.group(3)
            params.setdefault(match.group(1).lower(), value)
            pos = match.end()
            if pos >= len(header) or header[pos] != ",":
                break
            pos += 1
        return params
    return {}


def _text(value: object) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) and value else None


def _body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def unwrap(response: httpx.Response) -> Any:
    """Return the ``data`` of a JSend success, or raise the matching :class:`ApiError`."""
    status = response.status_code
    body = _body(response)
    jsend_status = body.get("status") if body is not None else None
    message = _text(body.get("message")) if body is not None else None

    if status in (401, 403):
        challenge = auth_challenge(response.headers.get("www-authenticate"))
        description = _text(challenge.get("error_description"))
        default = "authentication failed" if status == 401 else "access denied"
        raise ApiAuthError(
            message or description or default,
            status_code=status,
            error=_text(challenge.get("error")),
            error_description=description,
        )
    if 200 <= status <= 299:
        if body is not None and jsend_status == "success" and "data" in body:
            return body["data"]
        raise ApiResponseError("the response is not a JSend success document", status_code=status)
    if 400 <= status <= 499:
        data = body.get("data") if body is not None else None
        raise ApiFailError(
            message or f"the request failed ({response.reason_phrase or status})",
            status_code=status,
            data=data if isinstance(data, dict) else {},
        )
    if 500 <= status <= 599:
        raise ApiServerError(
            message or f"server error ({response.reason_phrase or status})",
            status_code=status,
            code=body.get("code") if body is not None else None,
        )
    raise ApiResponseError(f"unexpected HTTP status {status}", status_code=status)
