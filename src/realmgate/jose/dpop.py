"""DPoP proofs (RFC 9449): checking one (§4.3), making one (§4.2), JWK thumbprints (RFC 7638).

Shared by the token endpoint, the tenant API, :mod:`realmgate.verifier` and the client SDK; it
imports nothing of the server. :func:`check_proof` does every check of RFC 9449 §4.3 that needs
only the proof and the request, i.e. all but two, which need state and stay with the caller:
that the ``jti`` was never seen before (a replay cache) and that the ``nonce`` is one the
server gave out (item 10). It also checks ``ath`` against the access token when one is given
(§4.3 item 12, first half); comparing :attr:`DpopProof.jkt` with the token's ``cnf.jkt`` is the
caller's (second half).

:class:`DpopError`'s message is a short public description (it never contains the proof, the
token or a key), fit for an ``error_description``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose.dpop_htu import normalized_http_uri
from realmgate.jose.dpop_make import (
    DPOP_ALGS,
    DPOP_TYP,
    MIN_RSA_BITS,
    make_proof,
    public_jwk_of,
    token_hash,
)

__all__ = [
    "DPOP_ALGS",
    "DPOP_TYP",
    "MAX_PROOF_BYTES",
    "DpopError",
    "DpopProof",
    "check_proof",
    "jwk_thumbprint",
    "make_proof",
    "normalize_htu",
    "public_jwk_of",
    "token_hash",
]

MAX_PROOF_BYTES = 8192
# How far ahead of the verifier's clock a proof's iat may be (clock skew), in seconds.
MAX_FUTURE_SKEW = 5
MAX_JTI_LENGTH = 256
# Proof headers already checked (typ, alg, crit, jwk), by their exact base64url text: a client
# sends the same header with every proof, so its key is imported and its thumbprint computed
# once. Bounded; the oldest goes first.
HEADER_CACHE_SIZE = 4096
VerifyKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
_headers: dict[str, tuple[str, VerifyKey, str]] = {}

# Error descriptions, as Keycloak words them (org.keycloak.services.util.DPoPUtil); none of
# them repeats a value from the request.
MISSING = "DPoP proof is missing"
HEADER_FAILURE = "DPoP header verification failure"
MANDATORY_CLAIMS = "DPoP mandatory claims are missing"
MALFORMED_URL = "Malformed HTTP URL in DPoP proof"
NOT_ACTIVE = "DPoP proof is not active"
ALREADY_USED = "DPoP proof has already been used"
BINDING_MISMATCH = "DPoP confirmation doesn't match DPoP proof"

# The members of each key type that make up its RFC 7638 thumbprint, in lexicographic order.
_THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
# JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4;
# RFC 8037 §2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# alg -> (kty, crv or None)
_ALG_KEYS: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class DpopError(Exception):
    """A DPoP proof failed a check; ``str(exc)`` is a short public description."""


@dataclass(frozen=True, slots=True)
class DpopProof:
    """What a checked proof says: the key's thumbprint and the claims the caller still needs
    (``jti`` for the replay check, ``nonce`` to check against the nonces it gave out)."""

    jkt: str
    jti: str
    iat: int
    htm: str
    htu: str
    nonce: str | None
    ath: str | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (RSA, EC or OKP), base64url.

    Raises :class:`DpopError` when a required member is missing or not a string."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise DpopError("No public key in DPoP header")
    required: dict[str, str] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise DpopError("No public key in DPoP header")
        required[name] = value
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def normalize_htu(url: str) -> str:
    """The form in which ``htu`` and the request URI are compared (RFC 9449 §4.3 item 9):
    query and fragment dropped, then RFC 3986 §6.2.2 (case, percent-encoding, dot segments)
    and §6.2.3 (default port dropped, empty path as "/") normalisation.

    Only absolute ``http``/``https`` URIs with a host are accepted; anything else raises
    :class:`DpopError`."""
    try:
        return normalized_http_uri(url, max_length=MAX_PROOF_BYTES)
    except ValueError:
        raise DpopError(MALFORMED_URL) from None


@functools.lru_cache(maxsize=256)
def _normalized(url: str) -> str:
    """:func:`normalize_htu` of a request URL (the same few URLs every time)."""
    return normalize_htu(url)


def _decode_segment(segment: str) -> Any:
    if not _B64URL.fullmatch(segment):
        raise DpopError(HEADER_FAILURE)
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise DpopError(HEADER_FAILURE) from None


def _public_key(jwk: Any, alg: str) -> RSAKey | ECKey | OKPKey:
    """Import the header's ``jwk`` (§4.3 items 6 and 7): public only, and fit for ``alg``."""
    if not isinstance(jwk, dict):
        raise DpopError("No JWK in DPoP header")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise DpopError("Private key is present in DPoP header")
    kty, crv = _ALG_KEYS[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise DpopError("DPoP verification failure: the key does not fit the algorithm")
    members: dict[str, str | list[str]] = {}
    for name in _THUMBPRINT_MEMBERS[kty]:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise DpopError("No public key in DPoP header")
        members[name] = value
    try:
        key: RSAKey | ECKey | OKPKey
        if kty == "RSA":
            # Before joserfc sees it: it would warn (SecurityWarning) about a small key, and
            # a client must not be able to make the verifier's log speak.
            if _rsa_bits(str(members["n"])) < MIN_RSA_BITS:
                raise DpopError("DPoP verification failure: the RSA key is too small")
            key = RSAKey.import_key(members)
        elif kty == "EC":
            key = ECKey.import_key(members)
        else:
            key = OKPKey.import_key(members)
    except (JoseError, ValueError, TypeError):
        raise DpopError("No public key in DPoP header") from None
    return key


def _rsa_bits(n: str) -> int:
    if not _B64URL.fullmatch(n):
        raise DpopError("No public key in DPoP header")
    try:
        modulus = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (ValueError, binascii.Error):
        raise DpopError("No public key in DPoP header") from None
    return int.from_bytes(modulus, "big").bit_length()


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise DpopError(MANDATORY_CLAIMS)
    return value


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    max_age: int = 60,
    algs: Sequence[str] = DPOP_ALGS,
    access_token: str | None = None,
) -> DpopProof:
    """Check a DPoP proof (the value of the one ``DPoP`` header) for a request of ``method``
    to ``url`` (its query and fragment are ignored) at ``now`` (seconds since the epoch).

    Checks every item of RFC 9449 §4.3 but the uniqueness of ``jti`` and the validity of
    ``nonce``: a JWS compact JWT no larger than :data:`MAX_PROOF_BYTES`; ``typ`` is
    ``dpop+jwt``; ``alg`` is in ``algs`` (never ``none`` or HMAC); the ``jwk`` header is a
    public key fitting ``alg``; the signature verifies with it; ``jti``, ``htm``, ``htu`` and
    ``iat`` are present; ``htm`` equals ``method``; ``htu`` equals ``url`` after
    :func:`normalize_htu`; ``iat`` is at most ``max_age`` seconds old and at most
    :data:`MAX_FUTURE_SKEW` seconds ahead. With ``access_token``, ``ath`` must be its
    :func:`token_hash`. Raises :class:`DpopError`."""
    if not isinstance(proof, str) or not proof:
        raise DpopError(MISSING)
    if len(proof) > MAX_PROOF_BYTES:
        raise DpopError(HEADER_FAILURE)
    parts = proof.split(".")
    if len(parts) != 3 or not all(parts):
        raise DpopError(HEADER_FAILURE)
    alg, key, jkt = _checked_header(parts[0])
    if alg not in algs:
        raise DpopError("Unsupported DPoP algorithm")
    _verify_signature(alg, key, f"{parts[0]}.{parts[1]}".encode("ascii"), parts[2])
    claims = _decode_segment(parts[1])
    if not isinstance(claims, dict):
        raise DpopError(HEADER_FAILURE)
    return _check_claims(claims, jkt, method, url, now, max_age, access_token)


def _verify_signature(alg: str, key: VerifyKey, signing_input: bytes, segment: str) -> None:
    """The JWS signature (RFC 7515 §5.2) straight on ``cryptography``, as ``signer.py`` signs:
    ES256 as ``r || s`` (RFC 7518 §3.4), RSASSA-PSS with a salt as long as the hash (§3.5)."""
    if not _B64URL.fullmatch(segment):
        raise DpopError(HEADER_FAILURE)
    signature = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    try:
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise InvalidSignature()
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        elif alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signing_input)
        elif alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256" and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            key.verify(signature, signing_input, pss, hashes.SHA256())
        else:
            raise InvalidSignature()
    except InvalidSignature:
        raise DpopError("DPoP verification failure: invalid signature") from None


def _checked_header(segment: str) -> tuple[str, VerifyKey, str]:
    """``alg``, the public key and its thumbprint of a proof's header segment
    (§4.3 items 4-7), from :data:`_headers` when this very header was checked before."""
    found = _headers.get(segment)
    if found is not None:
        return found
    header = _decode_segment(segment)
    if not isinstance(header, dict):
        raise DpopError(HEADER_FAILURE)
    if header.get("typ") != DPOP_TYP:
        raise DpopError("Invalid or missing type in DPoP header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _ALG_KEYS:
        raise DpopError("Unsupported DPoP algorithm")
    if "crit" in header:
        raise DpopError(HEADER_FAILURE)
    jwk = header.get("jwk")
    key = _public_key(jwk, alg)
    assert isinstance(jwk, dict)  # _public_key refused anything else
    public = key.get_op_key("verify")
    if not isinstance(
        public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
    ):
        raise DpopError("No public key in DPoP header")
    checked = (alg, public, jwk_thumbprint(jwk))
    if len(_headers) >= HEADER_CACHE_SIZE:
        del _headers[next(iter(_headers))]
    _headers[segment] = checked
    return checked


def _check_claims(
    claims: dict[str, Any],
    jkt: str,
    method: str,
    url: str,
    now: float,
    max_age: int,
    access_token: str | None,
) -> DpopProof:
    jti = _string(claims, "jti")
    if len(jti) > MAX_JTI_LENGTH:
        raise DpopError("DPoP verification failure: the jti is too long")
    htm = _string(claims, "htm")
    htu = _string(claims, "htu")
    iat = _number(claims.get("iat"))
    if iat is None:
        raise DpopError(MANDATORY_CLAIMS)
    if htu != url and normalize_htu(htu) != _normalized(url):
        raise DpopError("DPoP HTTP URL mismatch")
    if htm != method:
        raise DpopError("DPoP HTTP method mismatch")
    if iat > now + MAX_FUTURE_SKEW:
        raise DpopError(NOT_ACTIVE)
    if iat < now - max_age:
        raise DpopError(NOT_ACTIVE)
    nonce = claims.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not nonce):
        raise DpopError("DPoP verification failure: the nonce is malformed")
    ath = claims.get("ath")
    if ath is not None and not isinstance(ath, str):
        raise DpopError("DPoP verification failure: the ath is malformed")
    if access_token is not None:
        if ath is None:
            raise DpopError("No access token hash in DPoP proof")
        if not hmac.compare_digest(ath.encode(), token_hash(access_token).encode()):
            raise DpopError("DPoP proof access token hash mismatch")
    return DpopProof(
        jkt=jkt,
        jti=jti,
        iat=int(iat),
        htm=htm,
        htu=htu,
        nonce=nonce,
        ath=ath,
    )
