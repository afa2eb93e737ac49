"""Signing keys: generation, PEM (de)serialisation, public JWKs (RFC 7517, kid per RFC 7638)."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

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
