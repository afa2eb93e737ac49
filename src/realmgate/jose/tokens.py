"""Compact JWS tokens: signing, header peeking and signature-checked decoding.

Claim checks (iss, aud, exp, ...) live in :mod:`realmgate.verifier`, which checks the
signature and the claims in one call.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from realmgate.jose.keys import AnyKey, KeyPair, eddsa_name_allowed

MAX_TOKEN_BYTES = 8192


class TokenDecodeError(Exception):
    """The token is malformed, too large or its signature does not verify."""


def sign(key: KeyPair, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    """A compact JWS of ``claims`` with header ``{"alg", "typ", "kid"}``."""
    return key.signer.sign(claims, typ)


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def peek_header(token: str) -> dict[str, Any]:
    """The unverified protected header, for key selection only; raises on anything odd."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenDecodeError("token too large")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenDecodeError("not a compact JWS")
    try:
        header = json.loads(_b64decode(parts[0]))
    except (ValueError, UnicodeDecodeError):
        raise TokenDecodeError("malformed header") from None
    if not isinstance(header, dict):
        raise TokenDecodeError("malformed header")
    return header


def decode_verified(
    token: str, key: AnyKey | KeySet, algorithms: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify the signature with ``key`` (allowing only ``algorithms``); return (header, claims)."""
    header = peek_header(token)
    if header.get("alg") not in algorithms:
        raise TokenDecodeError("algorithm not allowed")
    if "crit" in header:
        raise TokenDecodeError("unsupported critical header")
    try:
        with eddsa_name_allowed(header["alg"]):
            decoded = jwt.decode(token, key, algorithms=algorithms)
    except (JoseError, ValueError, TypeError):
        raise TokenDecodeError("signature or encoding invalid") from None
    claims = decoded.claims
    if not isinstance(claims, dict):
        raise TokenDecodeError("claims are not a JSON object")
    return dict(decoded.header), dict(claims)
