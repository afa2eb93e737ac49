"""Token signatures made together: the token requests of a worker that reach their signature in
one turn of the event loop are signed one after the other, by one callback, and then answered.

Why. Under load a worker interleaves, request by request, the kernel's socket work, the HTTP
server's parsing, realmgate's checks and the signature. Each signature then starts with
OpenSSL's signing code and tables (P-256's precomputed multiples of the generator are about
150 KB) out of the CPU's caches, and so does the Python code around it. Measured on the real
server (one worker on its own core, ES256, 16 connections; ``docs/benchmarks.md``): the
signature of a request costs 37 µs there, a second signature right after it 24 µs, the same as
in a loop. Made one after the other, the signatures of a turn run warm, and so do the checks and
the answers, which now also run one after the other: 25 µs less per token.

What does not change: every request is checked in full (or recognised, when remembered) before
it waits; its claims, ``iat``, ``exp`` and ``jti`` included, are fixed by its grant and the time
it was checked, as before; only the moment of the signature moves, to the end of the turn. A
request alone in its turn waits for nothing but its own signature. A turn's signatures are cut
into batches of ``max_batch``, and each batch's requests are answered before the next batch is
signed, so a burst of slow (RSA) signatures does not hold the first answers back. A signature
that fails fails its own request only; a request cancelled while it waits is not signed.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from realmgate.server.core.binding import Binding

MAX_BATCH = 32


class Signable(Protocol):
    def response_json(self, now: int, binding: Binding | None = None) -> bytes: ...


_Waiting = tuple[Signable, int, Binding | None, "asyncio.Future[bytes]"]


class SigningBatch:
    """The signatures waiting for the end of the current turn of the event loop (one per
    worker: the token path runs on the loop's thread only)."""

    __slots__ = ("_loop", "_waiting", "max_batch")

    def __init__(self, max_batch: int = MAX_BATCH):
        self.max_batch = max(1, max_batch)
        # Invariant: a flush is scheduled on ``_loop`` exactly when this list is not empty.
        self._waiting: list[_Waiting] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    async def response_json(
        self, grant: Signable, now: int, binding: Binding | None = None
    ) -> bytes:
        """``grant.response_json(now, binding)``, made with the other signatures of this turn."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop: what waited on the old one ended with it
            self._loop, self._waiting = loop, []
        future: asyncio.Future[bytes] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush, loop)
        self._waiting.append((grant, now, binding, future))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._waiting[: self.max_batch]
        self._waiting = self._waiting[self.max_batch :]
        for grant, now, binding, future in batch:
            if future.cancelled():  # its request went away while it waited
                continue
            try:
                future.set_result(grant.response_json(now, binding))
            except Exception as exc:  # the request's own failure, raised in its task
                future.set_exception(exc)
        if self._waiting:  # after this batch's answers, which set_result queued first
            loop.call_soon(self._flush, loop)
