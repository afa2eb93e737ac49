"""Helpers shared by the unit tests."""

from __future__ import annotations

from realmgate.server.crypto import SecretHasher


class CountingHasher(SecretHasher):
    """The real keyed hash, counting its comparisons (to check that work is done or skipped)."""

    def __init__(self, pepper: bytes):
        super().__init__(pepper)
        self.compared = 0

    def compare(self, digest: bytes, stored: bytes | None) -> bool:
        self.compared += 1
        return super().compare(digest, stored)
