"""DPoP (RFC 9449) for the SDK: the client's proof-of-possession key and the server nonces.

A :class:`DpopKey` holds a private key that never leaves the process (nor a ``repr()``);
:meth:`DpopKey.proof` signs one proof JWT per HTTP request (``jose.dpop.make_proof``). The
providers keep the latest ``DPoP-Nonce`` each server sent, per origin (:class:`DpopSession`).
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, NoReturn, final
from urllib.parse import urlsplit, urlunsplit

import httpx

from ._errors import ConfigurationError

# cryptography and realmgate.jose are imported where a key is made or used: the SDK imports
# (and serves bearer tokens) with httpx alone.

DEFAULT_ALG: Final = "ES256"
DPOP_ALGS: Final = ("ES256", "EdDSA", "RS256", "PS256")
RSA_BITS: Final = 2048
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,512}")  # RFC 9449 §8.1: 1*NQCHAR (bounded)
_MAX_ORIGINS: Final = 64


def _refuse(message: str) -> NoReturn:
    raise ConfigurationError(message)


def _alg_for(private_key: object, alg: str | None) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name != "secp256r1":
            _refuse("a DPoP EC key must be on P-256 (ES256)")
        expected: tuple[str, ...] = ("ES256",)
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        expected = ("EdDSA",)
    elif isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < RSA_BITS:
            _refuse(f"a DPoP RSA key must have at least {RSA_BITS} bits")
        expected = ("RS256", "PS256")
    else:
        _refuse("a DPoP key must be an EC P-256, Ed25519 or RSA private key")
    if alg is None:
        return expected[0]
    if alg not in expected:
        _refuse(f"algorithm {alg!r} does not fit this key (expected one of {', '.join(expected)})")
    return alg


@final
class DpopKey:
    """A DPoP proof-of-possession key pair (ES256 by default; EdDSA, RS256 or PS256).

    Generate one with :meth:`generate`, keep it across restarts with :meth:`save` and
    :meth:`load` (a PEM file of mode 0600), or wrap a ``cryptography`` private key. The private
    key is never shown: ``repr()`` gives the algorithm and the RFC 7638 thumbprint (``jkt``,
    what the server puts in the token's ``cnf``). Pickling is refused. Thread-safe.
    """

    __slots__ = ("_alg", "_jkt", "_jwk", "_key")

    def __init__(self, private_key: object, *, alg: str | None = None) -> None:
        """Wrap a ``cryptography`` private key (EC P-256 -> ES256, Ed25519 -> EdDSA,
        RSA >= 2048 bits -> RS256, or PS256 when ``alg="PS256"``)."""
        from realmgate.jose.dpop import jwk_thumbprint, public_jwk_of

        self._alg = _alg_for(private_key, alg)
        self._key = private_key
        self._jwk: dict[str, Any] = dict(public_jwk_of(private_key))
        self._jkt = jwk_thumbprint(self._jwk)

    @classmethod
    def generate(cls, alg: str = DEFAULT_ALG) -> DpopKey:
        """A fresh key for ``alg`` (one of ``ES256``, ``EdDSA``, ``RS256``, ``PS256``)."""
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        private: object
        if alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        elif alg in ("RS256", "PS256"):
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        else:
            _refuse(f"unsupported DPoP algorithm {alg!r} (use one of {', '.join(DPOP_ALGS)})")
        return cls(private, alg=alg)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, alg: str | None = None) -> DpopKey:
        """Read an unencrypted PKCS#8 PEM private key.

        The file must be yours and readable by you only (no group or other permission bits):
        a DPoP key lets anyone who holds it use the tokens bound to it.

        Raises:
            ConfigurationError: the file is missing, readable by others, or not a usable key.
        """
        from cryptography.hazmat.primitives import serialization

        file = Path(path)
        try:
            fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            _refuse(f"cannot open the DPoP key file {file}: {type(exc).__name__}")
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_IMODE(info.st_mode) & 0o077 or info.st_uid != os.getuid():
                _refuse(
                    f"the DPoP key file {file} must be yours and readable by you only "
                    f"(mode {stat.S_IMODE(info.st_mode):o}; chmod 600 it)"
                )
            pem = f.read(65536)
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            _refuse(f"the DPoP key file {file} holds no unencrypted PEM private key")
        return cls(private, alg=alg)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the private key as PKCS#8 PEM to a new file of mode 0600 (never replacing
        an existing file)."""
        from cryptography.hazmat.primitives import serialization

        file = Path(path)
        pem = self._key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            _refuse(f"cannot create the DPoP key file {file}: {type(exc).__name__}")
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str], *, alg: str = DEFAULT_ALG) -> DpopKey:
        """:meth:`load` the key at ``path``, or :meth:`generate` and :meth:`save` one there."""
        if Path(path).exists():
            return cls.load(path, alg=None if alg == DEFAULT_ALG else alg)
        key = cls.generate(alg)
        key.save(path)
        return key

    @property
    def alg(self) -> str:
        """The JWS algorithm of the proofs."""
        return self._alg

    @property
    def jkt(self) -> str:
        """The RFC 7638 SHA-256 thumbprint of the public key (a token's ``cnf.jkt``)."""
        return self._jkt

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (what every proof's header carries)."""
        return dict(self._jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """A new DPoP proof JWT for one request (fresh ``jti`` and ``iat``).

        ``url`` loses its query and fragment (``htu``); ``access_token`` adds ``ath``.
        """
        from realmgate.jose.dpop import make_proof

        return make_proof(
            self._key,
            method=method.upper(),
            url=htu(url),
            alg=self._alg,
            nonce=nonce,
            access_token=access_token,
        )

    def __repr__(self) -> str:
        return f"DpopKey(alg={self._alg!r}, jkt={self._jkt!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("DpopKey objects cannot be pickled")


def htu(url: str) -> str:
    """``url`` without its query and fragment (RFC 9449 §4.2 ``htu``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def origin(url: str | httpx.URL) -> str:
    parts = urlsplit(str(url))
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class DpopSession:
    """A provider's key and the latest ``DPoP-Nonce`` of each origin (thread-safe)."""

    __slots__ = ("_lock", "_nonces", "key")

    def __init__(self, key: DpopKey) -> None:
        self.key = key
        self._lock = threading.Lock()
        self._nonces: OrderedDict[str, str] = OrderedDict()

    def nonce(self, url: str | httpx.URL) -> str | None:
        with self._lock:
            return self._nonces.get(origin(url))

    def remember(self, url: str | httpx.URL, headers: Mapping[str, str]) -> bool:
        """Keep the response's ``DPoP-Nonce``; True when it is new for that origin."""
        value = headers.get("dpop-nonce")
        if value is None or not _NONCE.fullmatch(value):
            return False
        where = origin(url)
        with self._lock:
            changed = self._nonces.get(where) != value
            self._nonces[where] = value
            self._nonces.move_to_end(where)
            while len(self._nonces) > _MAX_ORIGINS:
                self._nonces.popitem(last=False)
        return changed

    def proof(self, method: str, url: str | httpx.URL, access_token: str | None = None) -> str:
        return self.key.proof(method, str(url), nonce=self.nonce(url), access_token=access_token)
