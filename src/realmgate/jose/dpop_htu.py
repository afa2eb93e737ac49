"""RFC 3986 normalisation of http(s) URIs, for comparing a DPoP proof's ``htu`` with the
request's URI (RFC 9449 §4.3 item 9). Standard library only."""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit, urlunsplit

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalize_percent(text: str) -> str:
    """RFC 3986 §6.2.2.1/§6.2.2.2: hex digits upper case, unreserved characters decoded."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(one, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    output: list[str] = []
    rest = path
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith(("./", "/./")):
            rest = rest[2:]
        elif rest == "/.":
            rest = "/"
        elif rest.startswith("/../"):
            rest = rest[3:]
            if output:
                output.pop()
        elif rest == "/..":
            rest = "/"
            if output:
                output.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            start = 1 if rest.startswith("/") else 0
            end = rest.find("/", start)
            end = len(rest) if end == -1 else end
            output.append(rest[:end])
            rest = rest[end:]
    return "".join(output)


def normalized_http_uri(url: str, *, max_length: int = 8192) -> str:
    """``url`` without query and fragment, normalised by RFC 3986 §6.2.2 (case,
    percent-encoding, dot segments) and §6.2.3 (default port dropped, empty path as "/").

    Only absolute ``http``/``https`` URIs with a host are accepted; ValueError otherwise."""
    if not isinstance(url, str) or not url or len(url) > max_length:
        raise ValueError("not an absolute http(s) URI")
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url):
        raise ValueError("not an absolute http(s) URI")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise ValueError("not a URI") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError("not an absolute http(s) URI")
    host = _normalize_percent(host).lower()
    if ":" in host:  # an IPv6 literal (urlsplit strips the brackets)
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        netloc = f"{_normalize_percent(userinfo)}@{netloc}"
    path = _remove_dot_segments(_normalize_percent(parts.path)) or "/"
    return urlunsplit((scheme, netloc, path, "", ""))
