"""DPoP state for resource servers: the ``jti`` replay cache and server-provided nonces.

RFC 9449 §11.1 asks a server to remember the ``jti`` of every proof it accepted for as long as
that proof could be accepted; :class:`ReplayCache` is that memory, pluggable so that several
processes can share one (Redis ``SET NX`` with an expiry, a database table, ...);
:class:`MemoryReplayCache` is the per-process default. :class:`DpopNonces` makes the nonces of
RFC 9449 §8/§9 without state: an HMAC of the time window, so every process sharing the secret
gives out and accepts the same nonces.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

MIN_NONCE_SECRET_BYTES = 16


@runtime_checkable
class ReplayCache(Protocol):
    """Remembers keys (a proof's ``jti``) until they expire."""

    def use(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at`` (seconds since the epoch): True the first time,
        False when it is already recorded and not yet expired (a replay). Must be atomic."""
        ...


class MemoryReplayCache:
    """A thread-safe in-process :class:`ReplayCache` holding at most ``max_entries`` keys.

    Expired keys are dropped as new ones arrive. When it is full of unexpired keys it refuses
    new ones (``use`` returns False) rather than forget a key that could still be replayed:
    a proof lives ``max_age`` + a few seconds, so this takes ``max_entries`` accepted proofs
    within that time. Keys are stored as SHA-256 digests."""

    def __init__(
        self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.time
    ) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._clock = clock
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._expiry)

    def _purge(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            expires_at, digest = heapq.heappop(heap)
            if expiry.get(digest) == expires_at:
                del expiry[digest]

    def use(self, key: str, expires_at: float) -> bool:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        now = self._clock()
        with self._lock:
            self._purge(now)
            if digest in self._expiry:
                return False
            if len(self._expiry) >= self.max_entries:
                return False
            self._expiry[digest] = expires_at
            heapq.heappush(self._heap, (expires_at, digest))
            return True


class DpopNonces:
    """Stateless DPoP nonces: ``HMAC-SHA256(secret, window)`` with ``window = now // lifetime``.

    :meth:`current` is the nonce to hand out; :meth:`valid` accepts the current and the
    previous window's nonce, so a nonce stays usable between ``lifetime`` and twice that.
    Every process with the same ``secret`` (at least 16 bytes) and ``lifetime`` agrees."""

    def __init__(self, secret: bytes, lifetime: int = 300) -> None:
        if len(secret) < MIN_NONCE_SECRET_BYTES:
            raise ValueError(f"the nonce secret needs at least {MIN_NONCE_SECRET_BYTES} bytes")
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self._secret = secret
        self.lifetime = lifetime

    def __repr__(self) -> str:
        return f"DpopNonces(lifetime={self.lifetime})"

    def _nonce(self, window: int) -> str:
        mac = hmac.new(self._secret, b"dpop-nonce:%d" % window, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode("ascii")

    def current(self, now: float) -> str:
        return self._nonce(int(now // self.lifetime))

    def valid(self, nonce: str, now: float) -> bool:
        window = int(now // self.lifetime)
        given = nonce.encode("utf-8", "replace")
        # Both compared every time: the answer takes the same work whichever matches.
        current = hmac.compare_digest(given, self._nonce(window).encode())
        previous = hmac.compare_digest(given, self._nonce(window - 1).encode())
        return current or previous
