"""The revocation deny-list of one node: revoked token ids in memory, bounded, never forgotten
while their token could still be accepted.

Every revocation (RFC 7009) is a row in the database until the token's ``exp`` and reaches each
node through the change feed (:meth:`~realmgate.server.core.realms.Directory.apply_changes`).
Each node keeps a copy here so that introspection and the tenant API ask no database:

- An entry lives until its token's ``exp`` plus the largest leeway any check of realmgate
  grants (:data:`~realmgate.verifier.DEFAULT_LEEWAY`): until then a verifier with that
  leeway would still take the token. Entries are kept in a heap by that time, so pruning pops
  only what is due instead of scanning them all (one bucket per second).
- At most ``maxsize`` entries. When one more comes, the entry due first is dropped from memory
  (it is still in the database) and the list *spills*: until the last dropped entry would have
  been due, an id that is not in memory may be one that was dropped, and :meth:`lookup` says
  so (``None``) so that the caller asks the database. The answer is always right; only its cost
  changes, and only while more than ``maxsize`` revoked tokens are in force at once.
"""

from __future__ import annotations

import heapq
import sys
from typing import Any

from realmgate.verifier import DEFAULT_LEEWAY

Key = tuple[str, str]  # (tenant, jti)


class DenyList:
    __slots__ = ("_due", "_entries", "_times", "margin", "maxsize", "spilled", "spilled_until")

    def __init__(self, maxsize: int, margin: int = DEFAULT_LEEWAY):
        if maxsize < 0 or margin < 0:
            raise ValueError("maxsize and margin must not be negative")
        self.maxsize = maxsize
        self.margin = margin
        # key -> its bucket; a bucket is [until, key, key, ...]: the ids due at one second
        # (until then a check may still accept the token). An id re-added with a later time
        # stays in its old bucket as a stale item, skipped when that bucket goes.
        self._entries: dict[Key, list[Any]] = {}
        self._due: dict[int, list[Any]] = {}  # until -> bucket
        self._times: list[int] = []  # heap of the buckets' times
        self.spilled = 0  # entries dropped before they were due (still in the database)
        self.spilled_until = 0  # until when a miss must ask the database

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"DenyList(entries={len(self._entries)}, maxsize={self.maxsize})"

    def add(self, tenant: str, jti: str, expires_at: int) -> None:
        """Remember a revocation of a token that expires at ``expires_at`` (seconds)."""
        key = (sys.intern(tenant), jti)
        until = int(expires_at) + self.margin
        known = self._entries.get(key)
        if known is not None and known[0] >= until:
            return
        bucket = self._due.get(until)
        if bucket is None:
            bucket = self._due[until] = [until]
            heapq.heappush(self._times, until)
        bucket.append(key)
        self._entries[key] = bucket
        if len(self._entries) > self.maxsize:
            self._drop_first()

    def _drop_first(self) -> None:
        """Drop the entry due first from memory; misses ask the database until it is due."""
        entries = self._entries
        while self._times:
            until = self._times[0]
            bucket = self._due[until]
            while len(bucket) > 1:
                key = bucket.pop()
                if entries.get(key) is bucket:
                    del entries[key]
                    self.spilled += 1
                    self.spilled_until = max(self.spilled_until, until)
                    if len(bucket) == 1:
                        del self._due[heapq.heappop(self._times)]
                    return
            del self._due[heapq.heappop(self._times)]

    def prune(self, now: float) -> int:
        """Forget the entries whose token no check accepts any more; how many went."""
        entries, pruned = self._entries, 0
        while self._times and self._times[0] < now:
            bucket = self._due.pop(heapq.heappop(self._times))
            for key in bucket[1:]:
                if entries.get(key) is bucket:
                    del entries[key]
                    pruned += 1
        return pruned

    def lookup(self, tenant: str, jti: str, now: float) -> bool | None:
        """True: revoked. False: not revoked. None: not known here while entries have been
        dropped that may still be in force: the database knows."""
        if (tenant, jti) in self._entries:
            return True
        if now <= self.spilled_until:
            return None
        return False
