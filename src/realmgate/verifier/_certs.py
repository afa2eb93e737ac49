"""Client certificates of mutual TLS (RFC 8705): where a request's certificate comes from, and
its ``x5t#S256`` thumbprint.

A request's certificate is either the one its own TLS connection presented (the ASGI TLS
extension, ``scope["extensions"]["tls"]["client_cert_chain"]``, leaf first, PEM) or, behind a
TLS-terminating proxy, the one that proxy passes in a request header:

- nginx: ``proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;`` (URL-encoded PEM;
  the older ``$ssl_client_cert``, PEM with tab-indented lines, and bare base64 DER are read too);
- Envoy: ``x-forwarded-client-cert`` (XFCC) with its ``Cert="<URL-encoded PEM>"`` field, set with
  ``forward_client_cert_details: SANITIZE_SET``. A header with more than one element (proxies
  appending, ``APPEND_FORWARD``) is refused: which element a client could not have written
  depends on the chain of proxies, so realmgate does not guess.

:class:`TrustedProxyCerts` believes the header only when the request's TCP peer is one of the
configured proxies; a certificate from the connection itself always wins. The peer is
``scope["realmgate.peer"]`` when the server puts it there (realmgate's own server does: it is
the TCP peer even when ``scope["client"]`` was rewritten from ``X-Forwarded-For``), else
``scope["client"]``.

Only ``cryptography`` and the standard library: the verifier does not import the server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = [
    "MAX_CERT_HEADER_BYTES",
    "PEER_KEY",
    "XFCC_HEADER",
    "TrustedProxyCerts",
    "cert_from_nginx_header",
    "cert_from_pem",
    "cert_from_scope",
    "cert_from_xfcc",
    "cert_thumbprint",
    "parse_networks",
]

MAX_CERT_HEADER_BYTES = 16_384  # a header longer than this is not read (certificates are ~1-4 KB)
PEER_KEY = "realmgate.peer"  # the TCP peer (host, port), set by realmgate's HTTP protocol
XFCC_HEADER = "x-forwarded-client-cert"
_PEM = re.compile(r"\s*-----BEGIN CERTIFICATE-----(.*)-----END CERTIFICATE-----\s*", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 §5.1)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def cert_thumbprint(der: bytes) -> str:
    """The ``x5t#S256`` confirmation value of a DER certificate (RFC 8705 §3.1): the base64url
    SHA-256 of the DER bytes, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def _checked_der(der: bytes) -> bytes | None:
    """``der`` when it is one X.509 certificate, in its DER encoding; else None."""
    try:
        return x509.load_der_x509_certificate(der).public_bytes(Encoding.DER)
    except ValueError:
        return None


def cert_from_pem(text: str) -> bytes | None:
    """The DER bytes of the one certificate that ``text`` is (PEM, with any white space or line
    breaks inside the base64, or bare base64 DER); None for anything else."""
    if len(text) > MAX_CERT_HEADER_BYTES:
        return None
    found = _PEM.fullmatch(text)
    body = found.group(1) if found is not None else text
    body = _WHITESPACE.sub("", body)
    if not body:
        return None
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _checked_der(der)


def cert_from_nginx_header(value: str) -> bytes | None:
    """The DER certificate in an nginx header: ``$ssl_client_escaped_cert`` (URL-encoded PEM),
    ``$ssl_client_cert`` (PEM, continuation lines indented) or bare base64 DER. None when the
    header is empty, ``-``/``(null)`` (no certificate) or malformed."""
    if not value or len(value) > MAX_CERT_HEADER_BYTES:
        return None
    try:
        return cert_from_pem(unquote(value.strip(), errors="strict"))
    except UnicodeDecodeError:
        return None


def _split_quoted(text: str, separator: str) -> list[str] | None:
    """``text`` split at ``separator`` outside double quotes (``\\"`` escapes a quote inside);
    None when a quote is left open."""
    parts: list[str] = []
    start = 0
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if quoted and char == "\\":
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        return None
    parts.append(text[start:])
    return parts


def _unquote_value(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def cert_from_xfcc(value: str) -> bytes | None:
    """The DER certificate of an Envoy ``x-forwarded-client-cert`` header: the ``Cert`` field
    (URL-encoded PEM) of its one element. None when there is no ``Cert``, when the header has
    several elements (see the module's text) or when anything is malformed."""
    if not value or len(value) > MAX_CERT_HEADER_BYTES:
        return None
    elements = _split_quoted(value, ",")
    if elements is None or len(elements) != 1:
        return None
    pairs = _split_quoted(elements[0], ";")
    if pairs is None:
        return None
    certs = []
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        if not equals:
            return None
        if key.strip().lower() == "cert":
            certs.append(_unquote_value(raw))
    if len(certs) != 1:
        return None
    try:
        return cert_from_pem(unquote(certs[0], errors="strict"))
    except UnicodeDecodeError:
        return None


@lru_cache(maxsize=256)
def _pem_to_der(pem: str) -> bytes | None:
    return cert_from_pem(pem)


def cert_from_scope(scope: Mapping[str, Any]) -> bytes | None:
    """The DER certificate that the request's own TLS connection presented, from the ASGI TLS
    extension (``client_cert_chain``, leaf first, PEM); None without one."""
    extensions = scope.get("extensions")
    if not extensions:
        return None
    tls = extensions.get("tls")
    if not tls:
        return None
    chain = tls.get("client_cert_chain")
    if not chain:
        return None
    leaf = next(iter(chain), None)
    if not isinstance(leaf, str):
        return None
    return _pem_to_der(leaf)


def parse_networks(proxies: str | Iterable[str] | None) -> tuple[Network, ...]:
    """Addresses and CIDR networks, comma-separated or as an iterable; ValueError naming the
    first one that is neither."""
    if proxies is None:
        return ()
    items = proxies.split(",") if isinstance(proxies, str) else list(proxies)
    networks: list[Network] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {text!r}") from None
    return tuple(networks)


def _peer_address(scope: Mapping[str, Any]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    peer = scope[PEER_KEY] if PEER_KEY in scope else scope.get("client")
    if not peer:
        return None
    try:
        address = ipaddress.ip_address(peer[0])
    except (ValueError, TypeError, IndexError):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxyCerts:
    """A request's client certificate: the one of its TLS connection, else the one that a
    trusted TLS-terminating proxy passes in ``header``.

    ``header`` named ``x-forwarded-client-cert`` is read as Envoy's XFCC, any other as nginx's
    escaped PEM. The header is believed only when the request's TCP peer is in ``proxies``
    (addresses or CIDR networks); when it appears more than once, it is ignored."""

    __slots__ = ("_header", "_networks", "_xfcc")

    def __init__(self, header: str | None = None, proxies: str | Iterable[str] | None = None):
        if header is not None and not _TOKEN.match(header):
            raise ValueError(f"not an HTTP header name: {header!r}")
        self._header = header.lower().encode("ascii") if header else None
        self._xfcc = header is not None and header.lower() == XFCC_HEADER
        self._networks = parse_networks(proxies)

    @property
    def header(self) -> str | None:
        return self._header.decode("ascii") if self._header is not None else None

    def trusts(self, scope: Mapping[str, Any]) -> bool:
        """Whether the request's TCP peer is one of the trusted proxies."""
        if not self._networks:
            return False
        address = _peer_address(scope)
        return address is not None and any(address in network for network in self._networks)

    def cert(self, scope: Mapping[str, Any]) -> bytes | None:
        """The request's DER client certificate, or None."""
        own = cert_from_scope(scope)
        if own is not None:
            return own
        if self._header is None or not self.trusts(scope):
            return None
        values = [value for name, value in scope.get("headers", ()) if name == self._header]
        if len(values) != 1:
            return None
        try:
            text = values[0].decode("ascii")
        except UnicodeDecodeError:
            return None
        return cert_from_xfcc(text) if self._xfcc else cert_from_nginx_header(text)

    def __repr__(self) -> str:
        return f"TrustedProxyCerts(header={self.header!r}, proxies={len(self._networks)})"
