"""Making DPoP proofs (RFC 9449 §4.2): what the client SDK and the tests sign with."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from realmgate.jose.signer import b64url, signer_for

DPOP_ALGS: tuple[str, ...] = ("ES256", "EdDSA", "RS256", "PS256")
DPOP_TYP = "dpop+jwt"
MIN_RSA_BITS = 2048
_KTY = {"ES256": "EC", "EdDSA": "OKP", "RS256": "RSA", "PS256": "RSA"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def token_hash(access_token: str) -> str:
    """The ``ath`` of an access token: base64url SHA-256 of its ASCII bytes (RFC 9449 §4.2)."""
    return _b64(hashlib.sha256(access_token.encode("ascii")).digest())


def _alg_for(private_key: object, alg: str | None) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name != "secp256r1":
            raise ValueError("DPoP keys on elliptic curves must be P-256 (ES256)")
        chosen = alg or "ES256"
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        chosen = alg or "EdDSA"
    elif isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < MIN_RSA_BITS:
            raise ValueError(f"DPoP RSA keys must have at least {MIN_RSA_BITS} bits")
        chosen = alg or "RS256"
    else:
        raise ValueError("a DPoP key must be an EC P-256, Ed25519 or RSA private key")
    if chosen not in _KTY:
        raise ValueError(f"unsupported DPoP algorithm {chosen!r}; choose one of {DPOP_ALGS}")
    return chosen


def _b64_int(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64(value.to_bytes(size, "big"))


def public_jwk_of(private_key: object) -> dict[str, str]:
    """The public JWK (only the RFC 7638 members) of a cryptography private key."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        numbers = private_key.public_key().public_numbers()
        return {"e": _b64_int(numbers.e), "kty": "RSA", "n": _b64_int(numbers.n)}
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        curves = {
            "secp256r1": ("P-256", 32),
            "secp384r1": ("P-384", 48),
            "secp521r1": ("P-521", 66),
        }
        if private_key.curve.name not in curves:
            raise ValueError("a DPoP key on an elliptic curve must be P-256")
        crv, width = curves[private_key.curve.name]
        point = private_key.public_key().public_numbers()
        return {
            "crv": crv,
            "kty": "EC",
            "x": _b64_int(point.x, width),
            "y": _b64_int(point.y, width),
        }
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        raw = private_key.public_key().public_bytes_raw()
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    raise ValueError("a DPoP key must be an EC P-256, Ed25519 or RSA private key")


def make_proof(
    private_key: object,
    *,
    method: str,
    url: str,
    alg: str | None = None,
    nonce: str | None = None,
    access_token: str | None = None,
    now: float | None = None,
    jti: str | None = None,
) -> str:
    """A DPoP proof (RFC 9449 §4.2) for a request of ``method`` to ``url`` signed with
    ``private_key`` (a cryptography key: EC P-256 → ES256, Ed25519 → EdDSA, RSA → RS256, or
    PS256 with ``alg="PS256"``). ``htu`` is ``url`` without query and fragment; ``ath`` is
    added for ``access_token``; ``jti`` is random unless given; ``iat`` is ``now``."""
    chosen = _alg_for(private_key, alg)
    if _KTY[chosen] != public_jwk_of(private_key)["kty"]:
        raise ValueError(f"the key does not fit the DPoP algorithm {chosen!r}")
    parts = urlsplit(url)
    claims: dict[str, Any] = {
        "jti": jti if jti is not None else secrets.token_urlsafe(24),
        "htm": method,
        "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        "iat": int(time.time() if now is None else now),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["ath"] = token_hash(access_token)
    header = {"typ": DPOP_TYP, "alg": chosen, "jwk": public_jwk_of(private_key)}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + b"."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = signer_for(chosen, private_key)(signing_input)
    return (signing_input + b"." + b64url(signature)).decode("ascii")
