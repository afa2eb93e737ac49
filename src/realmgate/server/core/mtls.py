"""Mutual-TLS client authentication (RFC 8705 §2): does a client certificate belong to a client?

- ``tls_client_auth`` (§2.1): the certificate chains to a trusted CA (the TLS handshake on
  realmgate's own listener, or the trusted proxy, checked that; with ``tls_client_ca`` set,
  :func:`issued_by` checks it here too, whichever way it came) and its subject matches what
  the client registered: ``tls_subject_dn`` (an RFC 4514 string) compared as distinguished
  names, as Java's ``X500Principal`` (Keycloak's ``X509ClientAuthenticator``) compares them:
  the same RDNs in the same order, attribute types by OID, values without case and with runs of
  white space folded; or ``tls_san``, one subject alternative name ``dns:``, ``uri:``, ``ip:``
  or ``email:``, found among the certificate's (DNS names and e-mail domains without case, IP
  addresses as addresses, URIs exactly).
- ``self_signed_tls_client_auth`` (§2.2): the certificate is one the client registered in its
  JWKS: a key whose ``x5c`` starts with this very certificate, or whose public key is the
  certificate's.

No HTTP here; the certificate is DER bytes (see ``server/http/client_cert.py``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

__all__ = [
    "SAN_KINDS",
    "cert_matches_jwks",
    "issued_by",
    "load_cert",
    "load_issuers",
    "parse_san",
    "parse_subject_dn",
    "public_key_der",
    "subject_matches",
]

SAN_KINDS = ("dns", "uri", "ip", "email")
# Attribute names that RFC 4514 does not define but X.500 tools (Java, OpenSSL) write.
_NAME_OVERRIDES = {
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "E": NameOID.EMAIL_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "SN": NameOID.SURNAME,
    "SURNAME": NameOID.SURNAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "T": NameOID.TITLE,
    "TITLE": NameOID.TITLE,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
}
_SPACES = re.compile(r"\s+")

Canonical = tuple[frozenset[tuple[str, str]], ...]


def load_issuers(pem: bytes) -> tuple[x509.Certificate, ...]:
    """The CA certificates of a PEM file (``tls_client_ca``)."""
    return tuple(x509.load_pem_x509_certificates(pem))


def issued_by(cert: x509.Certificate, issuers: Sequence[x509.Certificate], now: datetime) -> bool:
    """Whether ``cert`` is within its validity period at ``now`` and was issued directly by one
    of ``issuers`` (issuer name and signature): realmgate's own check of a ``tls_client_auth``
    certificate, which also holds for one a proxy passed without checking it."""
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False
    for issuer in issuers:
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def load_cert(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def _canonical_value(value: str | bytes) -> str:
    text = value if isinstance(value, str) else value.hex()
    return _SPACES.sub(" ", text.strip()).casefold()


def _canonical(name: x509.Name) -> Canonical:
    return tuple(
        frozenset((attr.oid.dotted_string, _canonical_value(attr.value)) for attr in rdn)
        for rdn in name.rdns
    )


def _split_unescaped(text: str, separators: str) -> list[str]:
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in separators:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _strip_value(value: str) -> str:
    value = value.lstrip(" ")
    while value.endswith(" "):
        backslashes = len(value[:-1]) - len(value[:-1].rstrip("\\"))
        if backslashes % 2:  # an escaped space belongs to the value
            break
        value = value[:-1]
    return value


def _normalized_dn(text: str) -> str:
    """``text`` with attribute type names in upper case and the spaces around ``,``, ``+`` and
    ``=`` removed, as RFC 4514's grammar has it (type names are case-insensitive; Java's
    ``X500Principal`` and so Keycloak's users also write ``CN=a, O=b``)."""
    rdns = []
    for rdn in _split_unescaped(text, ","):
        avas = []
        for ava in _split_unescaped(rdn, "+"):
            kind, equals, value = ava.partition("=")
            if not equals:
                raise ValueError("not an RFC 4514 distinguished name")
            avas.append(f"{kind.strip().upper()}={_strip_value(value)}")
        rdns.append("+".join(avas))
    return ",".join(rdns)


def parse_subject_dn(text: str) -> x509.Name:
    """An RFC 4514 distinguished name (``CN=client,O=Acme,C=DE``); ValueError when malformed.
    Type names without case and spaces after separators are accepted; besides RFC 4514's
    names, ``EMAILADDRESS``/``E``, ``SERIALNUMBER``, ``SN``/``SURNAME``, ``GIVENNAME``,
    ``T``/``TITLE`` and dotted OIDs are understood."""
    try:
        name = x509.Name.from_rfc4514_string(_normalized_dn(text), _NAME_OVERRIDES)
    except ValueError:
        raise ValueError("not an RFC 4514 distinguished name") from None
    if not name.rdns:
        raise ValueError("not an RFC 4514 distinguished name")
    return name


@lru_cache(maxsize=1024)
def _expected_dn(text: str) -> Canonical | None:
    try:
        return _canonical(parse_subject_dn(text))
    except ValueError:
        return None


def parse_san(text: str) -> tuple[str, str]:
    """``(kind, value)`` of a registered SAN ``dns:…``, ``uri:…``, ``ip:…`` or ``email:…``;
    ValueError when malformed."""
    kind, sep, value = text.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in SAN_KINDS or not value.strip():
        raise ValueError("a SAN is written dns:<name>, uri:<uri>, ip:<address> or email:<address>")
    value = value.strip()
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("ip: needs an IPv4 or IPv6 address") from None
    return kind, value


def _email_key(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.casefold()}"


def _san_matches(cert: x509.Certificate, kind: str, value: str) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    if kind == "dns":
        wanted = value.rstrip(".").casefold()
        return any(
            n.rstrip(".").casefold() == wanted for n in san.get_values_for_type(x509.DNSName)
        )
    if kind == "uri":
        return value in san.get_values_for_type(x509.UniformResourceIdentifier)
    if kind == "ip":
        address = ipaddress.ip_address(value)
        return address in san.get_values_for_type(x509.IPAddress)
    wanted = _email_key(value)
    return any(_email_key(n) == wanted for n in san.get_values_for_type(x509.RFC822Name))


def subject_matches(cert: x509.Certificate, subject_dn: str | None, san: str | None) -> bool:
    """Whether ``cert`` has the registered subject DN and/or SAN (every one registered must
    match; nothing registered never matches)."""
    if subject_dn is None and san is None:
        return False
    if subject_dn is not None:
        expected = _expected_dn(subject_dn)
        try:
            if expected is None or _canonical(cert.subject) != expected:
                return False
        except ValueError:  # a subject that cryptography cannot decode
            return False
    if san is not None:
        try:
            kind, value = parse_san(san)
        except ValueError:
            return False
        if not _san_matches(cert, kind, value):
            return False
    return True


def public_key_der(key: Any) -> bytes | None:
    """The SubjectPublicKeyInfo DER of a ``cryptography`` public key, or None."""
    try:
        der: bytes = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (AttributeError, TypeError, ValueError):
        return None
    return der


def _x5c_leaf(jwk: Mapping[str, Any]) -> bytes | None:
    chain = jwk.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        return None
    try:
        return base64.b64decode(chain[0], validate=True)  # standard base64 (RFC 7517 §4.7)
    except (binascii.Error, ValueError):
        return None


def _jwk_public_der(jwk: Mapping[str, Any]) -> bytes | None:
    try:
        key = KeySet.import_key_set({"keys": [dict(jwk)]}).keys[0]
        return public_key_der(key.get_op_key("verify"))
    except (JoseError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def cert_matches_jwks(der: bytes, cert: x509.Certificate, jwks: Mapping[str, Any] | None) -> bool:
    """Whether the certificate (``der``, parsed ``cert``) is registered in ``jwks``: a key's
    ``x5c`` starts with it, or a key without ``x5c`` is its public key."""
    own = public_key_der(cert.public_key())
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    found = False
    for jwk in keys if isinstance(keys, list) else ():
        if not isinstance(jwk, Mapping):
            continue
        leaf = _x5c_leaf(jwk)
        if leaf is not None:
            found = found or leaf == der
            continue
        if own is not None and _jwk_public_der(jwk) == own:
            found = True
    return found
