"""DPoP (RFC 9449) on the server: proofs at the token endpoint and at the tenant API.

A proof is checked by :func:`realmgate.jose.dpop.check_proof` (every RFC 9449 §4.3 item but
the two that need state); this module adds those two, the same on every node:

- **nonces** (§8, §9, setting ``dpop_nonce``): :class:`~realmgate.verifier._dpop.DpopNonces`,
  a stateless HMAC of the time window under a secret derived from the install's pepper, so
  every node hands out and accepts the same nonces without talking to the others;
- **replay** (§11.1): a proof's ``jti`` is recorded once, until the proof could no longer be
  accepted anyway, in the store's ``used_assertions`` (client id ``#dpop``, the SHA-256 of the
  ``jti``) or, with ``redis_url``, as a Redis ``SET NX`` with an expiry: a proof used at one
  node is refused at every other.

The URL a proof's ``htu`` is compared with is built from the configured public base URLs
(``issuer_base_url`` or ``mtls_base_url`` for the token endpoint, ``api_base_url`` for the
tenant API), never from the request's ``Host``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import anyio.to_thread

from realmgate.jose.dpop import ALREADY_USED, DPOP_ALGS, DpopError, DpopProof, check_proof
from realmgate.verifier._dpop import DpopNonces
from realmgate.wire.errors import InvalidDpopProof, TemporarilyUnavailable, UseDpopNonce

if TYPE_CHECKING:
    from realmgate.server.core.realms import Directory
    from realmgate.server.storage.protocols import Store

log = logging.getLogger("realmgate.dpop")

REPLAY_CLIENT = "#dpop"  # the used_assertions namespace of DPoP proofs (no client has it)
NONCE_LABEL = "realmgate:dpop-nonce:v1"
FUTURE_SKEW = 5  # seconds a proof's iat may be ahead of our clock (jose.dpop's rule)
ALGS_CHALLENGE = " ".join(DPOP_ALGS)
TOKEN_PATH = "/realms/{tenant}/protocol/openid-connect/token"
MAX_BATCH = 256  # replay rows per transaction


class ProofReplay(Protocol):
    """Records proofs' ``(tenant, jti key, expires_at)`` rows, many at once; per row, True the
    first time on any node."""

    def use_many(self, rows: Sequence[tuple[str, str, int]]) -> list[bool]: ...


class StoreReplay:
    """Replay through the store's ``used_assertions`` table (shared by every node)."""

    def __init__(self, store: Store):
        self._store = store

    def use_many(self, rows: Sequence[tuple[str, str, int]]) -> list[bool]:
        return self._store.use_assertions([(t, REPLAY_CLIENT, k, e) for t, k, e in rows])


class RedisReplay:
    """Replay through Redis: ``SET key 1 NX EXAT expires_at``, one pipeline per batch."""

    def __init__(self, url: str):
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def use_many(self, rows: Sequence[tuple[str, str, int]]) -> list[bool]:
        pipe = self._redis.pipeline(transaction=False)
        for tenant, key, expires_at in rows:
            pipe.set(f"realmgate:dpop:{tenant}:{key}", b"1", nx=True, exat=expires_at)
        return [bool(ok) for ok in pipe.execute()]


class ReplayUnavailable(Exception):
    """The replay store could not be written."""


class GroupCommit:
    """The replay records of concurrent requests written together: one worker-thread trip and
    one transaction (one commit, one fsync on SQLite) per batch instead of one per request,
    whatever the number of requests waiting. Each request still waits for its own row to be
    committed before it is answered, so a proof is refused on every node once any node
    accepted it."""

    def __init__(self, replay: ProofReplay, max_batch: int = MAX_BATCH):
        self.replay = replay
        self.max_batch = max_batch
        self.batches = 0  # batches written (for tests and metrics)
        self._pending: list[tuple[tuple[str, str, int], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def use(self, tenant: str, key: str, expires_at: int) -> bool:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._pending.append(((tenant, key, expires_at), done))
        if self._writer is None:
            self._writer = loop.create_task(self._write())
        return await done

    async def _write(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                rows = [row for row, _ in batch]
                try:
                    fresh = await anyio.to_thread.run_sync(self.replay.use_many, rows)
                except Exception:
                    log.warning("DPoP replay store unavailable", exc_info=True)
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(ReplayUnavailable())
                    continue
                self.batches += 1
                for (_, done), ok in zip(batch, fresh, strict=True):
                    if not done.done():
                        done.set_result(ok)
        finally:
            self._writer = None


class ServerDpop:
    """The server's DPoP checks: proofs, nonces and replay (one per process)."""

    def __init__(
        self,
        *,
        max_age: int,
        nonces: DpopNonces | None,
        replay: ProofReplay,
        clock: Callable[[], float] = time.time,
    ):
        self.max_age = max_age
        self.nonces = nonces
        self.replay = GroupCommit(replay)
        self.clock = clock

    @classmethod
    def for_directory(cls, directory: Directory) -> ServerDpop:
        settings = directory.settings
        nonces = None
        if settings.dpop_nonce:
            secret = directory.vault.hasher.hash(NONCE_LABEL)  # the same on every node
            nonces = DpopNonces(secret, settings.dpop_nonce_lifetime)
        replay: ProofReplay
        if settings.redis_url:
            replay = RedisReplay(settings.redis_url)
        else:
            replay = StoreReplay(directory.store)
        return cls(max_age=settings.dpop_proof_max_age, nonces=nonces, replay=replay)

    def __repr__(self) -> str:
        return f"ServerDpop(max_age={self.max_age}, nonces={self.nonces is not None})"

    def nonce(self) -> str | None:
        """The current nonce to hand out (``DPoP-Nonce``), None when nonces are off."""
        return None if self.nonces is None else self.nonces.current(self.clock())

    def check(
        self,
        proof: str,
        *,
        method: str,
        urls: Sequence[str],
        access_token: str | None = None,
        resource: bool = False,
    ) -> DpopProof:
        """Every stateless check of ``proof`` for a request to one of ``urls`` (the first is
        the main one), and its nonce; :class:`InvalidDpopProof` or :class:`UseDpopNonce`.
        The ``jti`` is not recorded yet: call :meth:`use` once the request is authorized."""
        now = self.clock()
        first: DpopError | None = None
        checked: DpopProof | None = None
        for url in urls:
            try:
                checked = check_proof(
                    proof, method=method, url=url, now=now, max_age=self.max_age,
                    access_token=access_token,
                )  # fmt: skip
                break
            except DpopError as exc:
                first = first or exc
            except Exception:  # a proof must never cost a 500
                log.error("unexpected error checking a DPoP proof", exc_info=True)
                raise InvalidDpopProof() from None
        if checked is None:
            raise InvalidDpopProof(str(first) if first else None)
        if self.nonces is not None and (
            checked.nonce is None or not self.nonces.valid(checked.nonce, now)
        ):
            raise UseDpopNonce(
                self.nonces.current(now),
                ("Resource" if resource else "Authorization")
                + " server requires nonce in DPoP proof",
            )
        return checked

    async def use(self, tenant: str, proof: DpopProof) -> None:
        """Record the proof's ``jti`` (on every node); :class:`InvalidDpopProof` if it was
        used before."""
        now = self.clock()
        key = hashlib.sha256(proof.jti.encode("utf-8", "surrogateescape")).hexdigest()
        # Accepted at most until iat + max_age; kept one second longer than that.
        expires_at = int(max(proof.iat, now)) + self.max_age + 1
        try:
            fresh = await self.replay.use(tenant, key, expires_at)
        except ReplayUnavailable:
            raise TemporarilyUnavailable() from None
        if not fresh:
            raise InvalidDpopProof(ALREADY_USED)

    def token_urls(self, settings_base: str, mtls_base: str | None, tenant: str) -> list[str]:
        path = TOKEN_PATH.format(tenant=tenant)
        urls = [settings_base + path]
        if mtls_base:
            urls.append(mtls_base.rstrip("/") + path)
        return urls
