"""Secrets at rest: the master key, AES-GCM envelope encryption and keyed secret hashes.

- The master key (32 random bytes) lives outside the database: ``REALMGATE_MASTER_KEY`` or a
  key file with mode 0600, created only on the first start of an empty database. A missing or
  wrong key is a startup error, never a silent new key that would orphan the stored ones.
- Signing keys (and later ``client_secret_jwt`` secrets) are stored AES-256-GCM encrypted under
  the master key, with the row's identity as associated data so a ciphertext cannot be moved.
- Client secrets are random 256-bit values, stored as HMAC-SHA-256 under a random pepper that
  is itself stored encrypted; comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
SECRET_BYTES = 32  # 256 bits of entropy


class MasterKeyError(Exception):
    """The master key is missing, malformed or does not match this database."""


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Aead:
    """AES-256-GCM under the master key. ``repr`` shows nothing of the key."""

    __slots__ = ("_aes",)

    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise MasterKeyError("the master key must be 32 bytes")
        self._aes = AESGCM(key)

    def __repr__(self) -> str:
        return "Aead(<master key>)"

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aes.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        try:
            return self._aes.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise MasterKeyError(
                "cannot decrypt data at rest: the master key does not match this database"
            ) from None


def parse_master_key(text: str) -> bytes:
    try:
        key = b64d(text.strip())
    except (binascii.Error, ValueError):
        raise MasterKeyError("the master key is not valid base64url") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError("the master key must decode to 32 bytes")
    return key


def new_master_key() -> str:
    return b64e(secrets.token_bytes(KEY_BYTES))


def read_key_file(path: Path) -> bytes | None:
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise MasterKeyError(
            f"the master key file {path} is readable by others (mode {mode:o}); chmod 600 it"
        )
    return parse_master_key(path.read_text(encoding="ascii"))


def create_key_file(path: Path) -> bytes:
    """Create a new key file with mode 0600 (fails if one exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = new_master_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    return parse_master_key(text)


class SecretHasher:
    """Keyed hashes of client secrets (HMAC-SHA-256 under the install's pepper)."""

    __slots__ = ("_dummy", "_keyed", "_pepper")

    def __init__(self, pepper: bytes):
        self._pepper = pepper
        self._keyed = hmac.new(pepper, digestmod="sha256")  # keyed once, copied per hash
        # Compared against when the client is unknown or disabled, so every failure does
        # the same work as a wrong secret.
        self._dummy = self.hash(secrets.token_urlsafe(SECRET_BYTES))

    def __repr__(self) -> str:
        return "SecretHasher(<pepper>)"

    def hash(self, secret: str) -> bytes:
        mac = self._keyed.copy()
        mac.update(secret.encode("utf-8"))
        return mac.digest()

    def matches(self, secret: str, stored: bytes | None) -> bool:
        return self.compare(self.hash(secret), stored)

    def compare(self, digest: bytes, stored: bytes | None) -> bool:
        """Constant-time comparison of a :meth:`hash` with ``stored`` (the dummy when None)."""
        return hmac.compare_digest(digest, stored if stored else self._dummy)

    @property
    def dummy(self) -> bytes:
        return self._dummy


def new_client_secret() -> str:
    """A URL-safe secret with 256 bits from :mod:`secrets` (safe unencoded in a form body)."""
    return secrets.token_urlsafe(SECRET_BYTES)
