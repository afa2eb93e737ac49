"""Signing keys: generation, PEM (de)serialisation, public JWKs (RFC 7517).

A generated key's kid is its RFC 7638 thumbprint; keys imported from Keycloak keep the kid
Keycloak gave them (:func:`keycloak_kid`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose.signer import CompactSigner

AnyKey = RSAKey | ECKey | OKPKey

# RFC 9864 deprecates the polymorphic "EdDSA" name for the fully-specified "Ed25519"; deployed
# verifiers know only "EdDSA", so realmgate keeps it, and joserfc warns (a SecurityWarning) each
# time it verifies with it. The warning is silenced around realmgate's own calls only: the
# filters of the program that imports realmgate stay as they are.
_EDDSA_WARNING = "EdDSA is deprecated"
# warnings.catch_warnings saves and restores the process-wide filter list: two threads inside
# it at once could leave the "ignore" entry behind. One at a time, and only for EdDSA.
_eddsa_lock = threading.Lock()


@contextlib.contextmanager
def _eddsa_quietly() -> Iterator[None]:
    with _eddsa_lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EDDSA_WARNING, category=SecurityWarning)
        yield


def eddsa_name_allowed(alg: object) -> contextlib.AbstractContextManager[None]:
    """Around a joserfc call that signs or verifies with ``alg``: for "EdDSA", without
    joserfc's deprecation warning, which the caller's filters then never see."""
    return _eddsa_quietly() if alg == "EdDSA" else contextlib.nullcontext()


SUPPORTED_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
RSA_BITS = 2048
# ECDSA algorithm -> its curve (RFC 7518 §3.4), as JWK "crv" and as cryptography names it.
EC_CURVES: dict[str, tuple[str, str]] = {
    "ES256": ("P-256", "secp256r1"),
    "ES384": ("P-384", "secp384r1"),
    "ES512": ("P-521", "secp521r1"),
}


def key_type(alg: str) -> str:
    """The JWK ``kty`` an algorithm signs with ("RSA", "EC", "OKP"); ValueError if unsupported."""
    if alg not in SUPPORTED_ALGORITHMS:
        raise ValueError(
            f"unsupported signing algorithm {alg!r}; choose one of {SUPPORTED_ALGORITHMS}"
        )
    if alg.startswith(("RS", "PS")):
        return "RSA"
    return "EC" if alg in EC_CURVES else "OKP"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private signing key with its algorithm and key id. Its repr never shows key material."""

    kid: str
    alg: str
    key: AnyKey = field(repr=False)
    signer: CompactSigner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Signing goes straight to cryptography (see realmgate.jose.signer): built once here.
        object.__setattr__(self, "signer", CompactSigner(self.alg, self.kid, self.key.private_key))

    def private_pem(self) -> bytes:
        return self.key.as_pem(private=True)

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.key, self.kid, self.alg)


def _new_key(alg: str) -> AnyKey:
    kty = key_type(alg)
    if kty == "RSA":
        return RSAKey.generate_key(RSA_BITS)
    if kty == "EC":
        return ECKey.generate_key(EC_CURVES[alg][0])
    return OKPKey.generate_key("Ed25519")


def generate_key(alg: str) -> KeyPair:
    """A fresh key for ``alg``; its kid is the RFC 7638 thumbprint of the public key."""
    key = _new_key(alg)
    return KeyPair(kid=key.thumbprint(), alg=alg, key=key)


def load_private_key(pem: bytes, alg: str, kid: str) -> KeyPair:
    key: AnyKey
    kty = key_type(alg)
    if kty == "RSA":
        key = RSAKey.import_key(pem)
    elif kty == "EC":
        key = ECKey.import_key(pem)
    else:
        key = OKPKey.import_key(pem)
    return KeyPair(kid=kid, alg=alg, key=key)


def pair_from_private_key(private: object, alg: str, kid: str) -> KeyPair:
    """A :class:`KeyPair` over a cryptography private key, if it fits ``alg`` (type and curve).

    Raises ValueError otherwise (never showing key material)."""
    kty = key_type(alg)
    key: AnyKey
    if kty == "RSA" and isinstance(private, rsa.RSAPrivateKey):
        key = RSAKey.import_key(private)
    elif (
        kty == "EC"
        and isinstance(private, ec.EllipticCurvePrivateKey)
        and private.curve.name == EC_CURVES[alg][1]
    ):
        key = ECKey.import_key(private)
    elif kty == "OKP" and isinstance(private, ed25519.Ed25519PrivateKey):
        key = OKPKey.import_key(private)
    else:
        raise ValueError(f"the signing key of kid {kid!r} does not fit {alg!r}")
    return KeyPair(kid=kid, alg=alg, key=key)


def keycloak_kid(public_key: object) -> str:
    """The kid Keycloak gives a key: unpadded base64url of SHA-256 over the DER
    SubjectPublicKeyInfo (Java's ``PublicKey.getEncoded()``), per ``KeyUtils.createKeyId`` in
    keycloak/keycloak common/src/main/java/org/keycloak/common/util/KeyUtils.java. It is not
    the RFC 7638 thumbprint."""
    if not isinstance(
        public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
    ):
        raise ValueError("not an RSA, EC or Ed25519 public key")
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def public_jwk(key: AnyKey, kid: str, alg: str) -> dict[str, Any]:
    jwk: dict[str, Any] = dict(key.as_dict(private=False))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk
