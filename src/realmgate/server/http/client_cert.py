"""The client certificate of a request to the server's routes (mutual TLS, RFC 8705).

From the request's own TLS connection when the listener asks for certificates
(``tls_client_ca``: the protocol puts the verified chain into the ASGI TLS extension), else from
``client_cert_header`` when the request's TCP peer is one of ``client_cert_proxies``. The peer
is the one the protocol notes in ``scope["realmgate.peer"]``, never the address uvicorn takes
from ``X-Forwarded-For`` (``forwarded_allow_ips``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography import x509

from realmgate.verifier._certs import (
    PEER_KEY,
    TrustedProxyCerts,
    cert_from_scope,
    cert_thumbprint,
)

if TYPE_CHECKING:
    from realmgate.server.settings import Settings

__all__ = ["PEER_KEY", "cert_thumbprint", "request_cert", "tls_extension", "trusted_certs"]

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

# One entry: the settings object of this process and what it trusts.
_trusted: tuple[object, TrustedProxyCerts | None] = (None, None)


def trusted_certs(settings: Settings) -> TrustedProxyCerts | None:
    """The proxy header reader of ``settings`` (built once per settings object); None when no
    proxy header is configured."""
    global _trusted  # noqa: PLW0603 - a cache of one entry, replaced with its settings
    owner, trusted = _trusted
    if owner is not settings:
        trusted = None
        if settings.client_cert_header and settings.client_cert_proxies:
            trusted = TrustedProxyCerts(settings.client_cert_header, settings.client_cert_proxies)
        _trusted = (settings, trusted)
    return trusted


def request_cert(scope: Mapping[str, Any], settings: Settings) -> bytes | None:
    """The DER client certificate of the request in ``scope``, or None: its connection's
    (verified against ``tls_client_ca`` by the TLS handshake), else the trusted proxy's
    header's."""
    trusted = trusted_certs(settings)
    if trusted is None:
        return cert_from_scope(scope)
    return trusted.cert(scope)


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension's fields for a connection (None when it is not TLS)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    name = None
    if der:
        try:
            name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        except ValueError:
            name = None
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }
