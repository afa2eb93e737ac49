"""Signing keys: generation, PEM (de)serialisation, public JWKs (RFC 7517, kid per RFC 7638)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose.signer import CompactSigner

# RFC 9864 deprecates the polymorphic "EdDSA" name; PRODUCT.md asks for it (it is what
# deployed verifiers understand), so we keep it and silence joserfc's warning for it alone.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

AnyKey = RSAKey | ECKey | OKPKey

SUPPORTED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
RSA_BITS = 2048


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
    if alg == "RS256":
        return RSAKey.generate_key(RSA_BITS)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    raise ValueError(f"unsupported signing algorithm {alg!r}; choose one of {SUPPORTED_ALGORITHMS}")


def generate_key(alg: str) -> KeyPair:
    """A fresh key for ``alg``; its kid is the RFC 7638 thumbprint of the public key."""
    key = _new_key(alg)
    return KeyPair(kid=key.thumbprint(), alg=alg, key=key)


def load_private_key(pem: bytes, alg: str, kid: str) -> KeyPair:
    key: AnyKey
    if alg == "RS256":
        key = RSAKey.import_key(pem)
    elif alg == "ES256":
        key = ECKey.import_key(pem)
    elif alg == "EdDSA":
        key = OKPKey.import_key(pem)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return KeyPair(kid=kid, alg=alg, key=key)


def public_jwk(key: AnyKey, kid: str, alg: str) -> dict[str, Any]:
    jwk: dict[str, Any] = dict(key.as_dict(private=False))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk
