"""Token requests that passed every check, remembered per worker (see :mod:`.grants`).

An entry is found by a keyed BLAKE2b digest of the tenant, the ``Authorization`` header and the
raw form body: the body holds the client's secret, which is never kept, in memory or anywhere
else; the key is random per process. An entry is used only for the very realm and client
snapshots it was checked against, so any change to the tenant, its keys or the client (a new
secret, disabled, deleted, new scopes) is a miss and a full check; and only until the client's
previous secret stops being valid, since the entry may have been made with it. Assertions
(``private_key_jwt``, ``client_secret_jwt``) are never remembered: each is good for one
request. Nor are requests with a DPoP proof (RFC 9449: one use each) or a client certificate:
:meth:`~realmgate.server.core.grants.ClientCredentialsGrant.handle_body` checks those in full
and never looks them up here. Bounded, oldest first out.
"""

from __future__ import annotations

import hashlib
import math
import os

from realmgate.server.core.realms import Realm
from realmgate.server.core.tokens import Grant
from realmgate.server.storage.records import ClientRecord

MemoKey = tuple[str, bytes]


def grace_end(client: ClientRecord, now: int) -> float:
    """Until when a check of this client's secret holds: the end of the previous secret's
    grace period while there is one (the check may have matched it), else for ever."""
    ends = client.previous_secret_expires_at or 0
    if client.previous_secret_hash and ends > now:
        return float(ends)
    return math.inf


class GrantMemo:
    __slots__ = ("_entries", "_key", "hits", "maxsize", "misses")

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._key = os.urandom(32)
        self._entries: dict[MemoKey, tuple[Grant, float]] = {}
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"GrantMemo(entries={len(self._entries)}, maxsize={self.maxsize})"

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, tenant: str, authorization: str | None, body: bytes) -> MemoKey:
        if self.maxsize <= 0:  # off: nothing is remembered, nothing to find
            return tenant, b""
        h = hashlib.blake2b(key=self._key, digest_size=16)
        if authorization:
            h.update(authorization.encode("utf-8", "surrogateescape"))
        h.update(b"\n")
        h.update(body)
        return tenant, h.digest()

    def get(self, key: MemoKey, realm: Realm, now: int) -> Grant | None:
        """The grant remembered for ``key``, if it was checked against this realm snapshot
        and is still good at ``now`` (the caller checks the client snapshot)."""
        entry = self._entries.get(key)
        if entry is None or entry[0].realm is not realm or now >= entry[1]:
            self.misses += 1
            return None
        self.hits += 1
        return entry[0]

    def put(self, key: MemoKey, grant: Grant, valid_until: float) -> None:
        if self.maxsize <= 0:
            return
        self._entries.pop(key, None)
        self._entries[key] = (grant, valid_until)
        if len(self._entries) > self.maxsize:
            del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        self._entries.clear()
