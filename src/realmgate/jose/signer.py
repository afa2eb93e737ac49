"""Compact JWS signing straight on :mod:`cryptography`: the token endpoint's hot path.

A JWS is ``b64(header) "." b64(payload) "." b64(signature)`` (RFC 7515 §7.1). The protected
header of a key never changes, so it is encoded once per ``typ``; each token then costs one
JSON encoding of its claims and one signature. ECDSA signatures are the fixed-width
``r || s`` of RFC 7518 §3.4, not DER; RSASSA-PSS (PS256/384/512) uses MGF1 with the same hash
and a salt as long as the hash (RFC 7518 §3.5). Verification stays with joserfc.

RS256 and ES256 (and EdDSA) keep their own branches first: the other algorithms, which come
with keys imported from Keycloak, are looked up after them and cost nothing on their path.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from hashlib import sha256
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

Sign = Callable[[bytes], bytes]
_SHA256 = hashes.SHA256()
# The payload is hashed by hashlib and the digest signed (``Prehashed``): the same signature,
# without a hash context built per signature on the way through cryptography.
_ES256 = ec.ECDSA(Prehashed(_SHA256))
_PKCS1 = padding.PKCS1v15()

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
# ES384 and ES512: curve name (cryptography's) and the byte width of r and s.
_EC_CURVES = {"ES384": ("secp384r1", 48), "ES512": ("secp521r1", 66)}


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> bytes:
    """Unpadded base64url (RFC 7515 §2); ``base64.urlsafe_b64encode`` without its two calls."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def signer_for(alg: str, private_key: object) -> Sign:
    """The raw signature function of ``alg`` over ``private_key`` (a cryptography key)."""
    if alg == "RS256" and isinstance(private_key, rsa.RSAPrivateKey):
        key_rs = private_key
        return lambda data: key_rs.sign(data, _PKCS1, _SHA256)
    if alg == "ES256" and isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name != "secp256r1":
            raise ValueError("ES256 needs a P-256 key")
        key_ec = private_key

        def es256(data: bytes) -> bytes:
            r, s = decode_dss_signature(key_ec.sign(sha256(data).digest(), _ES256))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return es256
    if alg == "EdDSA" and isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign
    return _other_signer(alg, private_key)


def _other_signer(alg: str, private_key: object) -> Sign:
    """RS384/RS512, PS256/384/512, ES384/ES512 (keys imported from Keycloak, mostly)."""
    digest = _HASHES.get(alg[2:])
    if digest is None:
        raise ValueError(f"the key does not fit the algorithm {alg!r}")
    if alg in ("RS384", "RS512") and isinstance(private_key, rsa.RSAPrivateKey):
        key_rs = private_key
        return lambda data: key_rs.sign(data, _PKCS1, digest)
    if alg.startswith("PS") and isinstance(private_key, rsa.RSAPrivateKey):
        key_ps = private_key
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return lambda data: key_ps.sign(data, pss, digest)
    if alg in _EC_CURVES and isinstance(private_key, ec.EllipticCurvePrivateKey):
        curve, width = _EC_CURVES[alg]
        if private_key.curve.name != curve:
            raise ValueError(f"{alg} needs a {curve} key")
        key_ec = private_key
        ecdsa = ec.ECDSA(digest)

        def es(data: bytes) -> bytes:
            r, s = decode_dss_signature(key_ec.sign(data, ecdsa))
            return r.to_bytes(width, "big") + s.to_bytes(width, "big")

        return es
    raise ValueError(f"the key does not fit the algorithm {alg!r}")


class CompactSigner:
    """Signs claims as a compact JWS with one key; the encoded headers are cached per ``typ``."""

    __slots__ = ("_headers", "_sign", "alg", "kid")

    def __init__(self, alg: str, kid: str, private_key: object):
        self.alg = alg
        self.kid = kid
        self._sign = signer_for(alg, private_key)
        self._headers: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"CompactSigner(alg={self.alg!r}, kid={self.kid!r})"

    def header(self, typ: str) -> bytes:
        encoded = self._headers.get(typ)
        if encoded is None:
            header = {"alg": self.alg, "typ": typ, "kid": self.kid}
            encoded = b64url(json.dumps(header, separators=(",", ":")).encode())
            self._headers[typ] = encoded
        return encoded

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        return self.sign_payload(payload, typ)

    def sign_payload(self, payload: bytes, typ: str = "JWT") -> str:
        """Sign an already encoded JSON claims object (UTF-8)."""
        return self.sign_payload_bytes(payload, typ).decode("ascii")

    def sign_payload_bytes(self, payload: bytes, typ: str = "JWT") -> bytes:
        """:meth:`sign_payload`, as ASCII bytes."""
        signing_input = self.header(typ) + b"." + b64url(payload)
        return signing_input + b"." + b64url(self._sign(signing_input))
