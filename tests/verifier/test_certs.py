"""Client certificates of mutual TLS (RFC 8705): the ``x5t#S256`` thumbprint, the nginx and
Envoy proxy headers, the ASGI TLS extension, and whom the header is believed from."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from realmgate.verifier._certs import (
    PEER_KEY,
    TrustedProxyCerts,
    cert_from_nginx_header,
    cert_from_pem,
    cert_from_scope,
    cert_from_xfcc,
    cert_thumbprint,
    parse_networks,
)

CA = trustme.CA()
CERT = CA.issue_cert("client.example")
PEM = CERT.cert_chain_pems[0].bytes().decode()
DER = x509.load_pem_x509_certificate(PEM.encode()).public_bytes(Encoding.DER)
OTHER_PEM = CA.issue_cert("other.example").cert_chain_pems[0].bytes().decode()


def nginx_escaped(pem: str) -> str:
    """What nginx's ``$ssl_client_escaped_cert`` holds: the PEM, URL-encoded."""
    return quote(pem, safe="")


def xfcc(pem: str, **fields: str) -> str:
    parts = [f"Hash={hashlib.sha256(DER).hexdigest()}", f'Cert="{quote(pem, safe="")}"']
    parts += [f"{k}={v}" for k, v in fields.items()]
    return ";".join(parts)


def test_thumbprint_is_the_base64url_sha256_of_the_der_bytes() -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(DER).digest()).rstrip(b"=").decode()
    assert cert_thumbprint(DER) == expected
    assert "=" not in expected and len(expected) == 43


def test_pem_forms() -> None:
    assert cert_from_pem(PEM) == DER
    assert cert_from_pem(PEM.replace("\n", "\r\n")) == DER
    body = PEM.split("-----")[2]
    assert cert_from_pem(body) == DER  # bare base64 DER
    assert cert_from_pem("") is None
    assert cert_from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----") is None
    assert cert_from_pem("not base64 !!") is None


def test_nginx_escaped_cert() -> None:
    assert cert_from_nginx_header(nginx_escaped(PEM)) == DER
    # $ssl_client_cert (deprecated): every line but the first indented with a tab
    assert cert_from_nginx_header(PEM.strip().replace("\n", "\n\t")) == DER


@pytest.mark.parametrize("value", ["", "-", "(null)", "%", "%ff%fe", "A" * 20_000, "abc"])
def test_nginx_header_without_a_certificate(value: str) -> None:
    assert cert_from_nginx_header(value) is None


def test_xfcc_cert_field() -> None:
    assert cert_from_xfcc(xfcc(PEM)) == DER
    # keys are case-insensitive; quoted values may hold , ; = and escaped quotes
    value = f'By=spiffe://proxy;cert="{quote(PEM, safe="")}";Subject="CN=a,O=\\"b\\";c=d";DNS=x'
    assert cert_from_xfcc(value) == DER
    unquoted = f"Cert={quote(PEM, safe='')};URI=spiffe://c"
    assert cert_from_xfcc(unquoted) == DER


@pytest.mark.parametrize(
    "value",
    [
        "",
        'Hash=abc;Subject="CN=x"',  # no Cert
        xfcc(PEM) + "," + xfcc(OTHER_PEM),  # two elements (APPEND_FORWARD): ambiguous
        xfcc(OTHER_PEM) + "," + xfcc(PEM),
        f'Cert="{quote(PEM, safe="")}";Cert="{quote(OTHER_PEM, safe="")}"',  # two Certs
        'Cert="unterminated',
        "Cert",  # no '='
        'Cert="%ff%fe"',
        'Cert="-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----"',
    ],
)
def test_xfcc_without_one_certificate(value: str) -> None:
    assert cert_from_xfcc(value) is None


def test_scope_tls_extension() -> None:
    assert cert_from_scope({"extensions": {"tls": {"client_cert_chain": [PEM, OTHER_PEM]}}}) == DER
    assert cert_from_scope({}) is None
    assert cert_from_scope({"extensions": {}}) is None
    assert cert_from_scope({"extensions": {"tls": {"client_cert_chain": []}}}) is None
    assert cert_from_scope({"extensions": {"tls": {"client_cert_chain": ["junk"]}}}) is None


def scope(
    peer: tuple[str, int] | None,
    headers: list[tuple[bytes, bytes]],
    *,
    rewritten_client: tuple[str, int] | None = None,
    tls_chain: list[str] | None = None,
) -> dict[str, Any]:
    s: dict[str, Any] = {"type": "http", "headers": headers, "client": rewritten_client or peer}
    if rewritten_client is not None:
        s[PEER_KEY] = peer
    if tls_chain is not None:
        s["extensions"] = {"tls": {"client_cert_chain": tls_chain}}
    return s


NGINX = TrustedProxyCerts("X-SSL-Client-Cert", "10.0.0.0/8, 192.0.2.7, ::1")
ENVOY = TrustedProxyCerts("x-forwarded-client-cert", ["10.0.0.0/8"])


def test_header_believed_from_a_trusted_proxy_only() -> None:
    header = [(b"x-ssl-client-cert", nginx_escaped(PEM).encode())]
    assert NGINX.cert(scope(("10.1.2.3", 5555), header)) == DER
    assert NGINX.cert(scope(("192.0.2.7", 5555), header)) == DER
    assert NGINX.cert(scope(("::1", 5555), header)) == DER
    assert NGINX.cert(scope(("::ffff:10.9.9.9", 5555), header)) == DER  # IPv4-mapped peer
    assert NGINX.cert(scope(("192.0.2.8", 5555), header)) is None
    assert NGINX.cert(scope(None, header)) is None
    assert TrustedProxyCerts("X-SSL-Client-Cert").cert(scope(("10.1.2.3", 1), header)) is None


def test_the_tcp_peer_counts_not_the_forwarded_address() -> None:
    header = [(b"x-ssl-client-cert", nginx_escaped(PEM).encode())]
    # a client outside whose X-Forwarded-For names a trusted address: scope["client"] was
    # rewritten, the TCP peer was not
    spoofed = scope(("203.0.113.9", 1), header, rewritten_client=("10.0.0.1", 0))
    assert NGINX.cert(spoofed) is None
    # the proxy itself, with the end client's address in scope["client"]
    proxied = scope(("10.0.0.1", 1), header, rewritten_client=("203.0.113.9", 0))
    assert NGINX.cert(proxied) == DER


def test_envoy_header() -> None:
    header = [(b"x-forwarded-client-cert", xfcc(PEM).encode())]
    assert ENVOY.cert(scope(("10.0.0.2", 1), header)) == DER
    assert ENVOY.cert(scope(("172.16.0.2", 1), header)) is None
    # nginx reader on an XFCC value (and the reverse) finds nothing
    assert NGINX.cert(scope(("10.0.0.2", 1), [(b"x-ssl-client-cert", xfcc(PEM).encode())])) is None


def test_header_twice_is_ignored() -> None:
    one = (b"x-ssl-client-cert", nginx_escaped(PEM).encode())
    two = (b"x-ssl-client-cert", nginx_escaped(OTHER_PEM).encode())
    assert NGINX.cert(scope(("10.0.0.1", 1), [one, two])) is None
    assert NGINX.cert(scope(("10.0.0.1", 1), [one, one])) is None


def test_the_connections_certificate_wins_over_the_header() -> None:
    header = [(b"x-ssl-client-cert", nginx_escaped(OTHER_PEM).encode())]
    s = scope(("10.0.0.1", 1), header, tls_chain=[PEM])
    assert NGINX.cert(s) == DER
    s = scope(("203.0.113.1", 1), [], tls_chain=[PEM])
    assert TrustedProxyCerts().cert(s) == DER


def test_non_ascii_header_value_is_ignored() -> None:
    assert NGINX.cert(scope(("10.0.0.1", 1), [(b"x-ssl-client-cert", b"\xff\xfe")])) is None


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match=r"not an IP address or network: 'proxy\.example'"):
        parse_networks("10.0.0.1, proxy.example")
    with pytest.raises(ValueError, match="header name"):
        TrustedProxyCerts("X SSL Cert", "10.0.0.1")
    assert parse_networks(None) == ()
    assert len(parse_networks(" 10.0.0.1 ,, 2001:db8::/32 ")) == 2
    assert "10.0.0.1" not in repr(NGINX)


def test_exactly_one_certificate() -> None:
    assert cert_from_pem(PEM + OTHER_PEM) is None  # a chain is not one certificate
    assert cert_from_pem("junk" + PEM) is None
    assert cert_from_pem("  \n" + PEM + "\n ") == DER
