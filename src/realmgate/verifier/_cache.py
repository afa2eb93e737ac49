"""The JWKS caches that resource servers use: :class:`JwksCache` (threads, ``httpx.Client``)
and :class:`AsyncJwksCache` (``httpx.AsyncClient``), two drivers of one sans-I/O core.

Only call them for issuers you trust (:class:`~realmgate.verifier.Verifier` does so): the cache
fetches from whatever issuer it is asked about.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio

from realmgate.verifier._core import PublicKey
from realmgate.verifier._errors import JwksFetchError
from realmgate.verifier._jwks import (
    DEFAULT_HTTP_TIMEOUT,
    DEFAULT_JWKS_TTL,
    DEFAULT_MIN_REFETCH_INTERVAL,
    JwksCore,
    Reply,
    check_size,
)

logger = logging.getLogger("realmgate.verifier")

if TYPE_CHECKING:  # httpx (and its CLI's imports) load on the first fetch, not at import
    import httpx

    _Flow = Generator[httpx.Request, Reply, int]


def _transport_failure(request: httpx.Request, exc: httpx.HTTPError) -> JwksFetchError:
    return JwksFetchError(f"{request.url} failed: {type(exc).__name__}")


def _warn(issuer: str, exc: JwksFetchError, cached: int) -> None:
    logger.warning(
        "could not refresh the signature keys of %s (%s); %d cached key(s) stay in use",
        issuer,
        exc,
        cached,
    )


class _CacheBase:
    def __init__(
        self,
        *,
        ttl: float,
        min_refetch_interval: float,
        clock: Callable[[], float],
        jwks_uris: Mapping[str, str] | None,
    ) -> None:
        self._core = JwksCore(
            ttl=ttl, min_refetch_interval=min_refetch_interval, clock=clock, jwks_uris=jwks_uris
        )

    @property
    def ttl(self) -> float:
        return self._core.ttl

    @property
    def min_refetch_interval(self) -> float:
        return self._core.min_refetch_interval

    @property
    def fetches(self) -> int:
        """How many times a JWKS was fetched (or tried), for metrics."""
        return self._core.fetches

    def pin(self, issuer: str, jwks_uri: str) -> None:
        """Fetch ``issuer``'s keys from ``jwks_uri`` directly, without discovery."""
        self._core.pin(issuer, jwks_uri)

    def get(self, issuer: str, kid: str) -> tuple[PublicKey, str] | None:
        """The cached key ``kid`` of ``issuer`` and its algorithm, without any I/O.

        It has the :data:`~realmgate.verifier.KeyResolver` signature."""
        return self._core.get(issuer, kid)

    def kids(self, issuer: str) -> frozenset[str]:
        """The key ids currently cached for ``issuer``."""
        return self._core.kids(issuer)


class JwksCache(_CacheBase):
    """Thread-safe JWKS cache over an ``httpx.Client``.

    Args:
        client: the client to fetch with (its transport, proxies, TLS settings); by default
            one is created with a timeout of ``timeout`` seconds and closed by :meth:`close`.
        ttl: seconds a JWKS is used before it is fetched again (default 300).
        min_refetch_interval: minimum seconds between two fetches for one issuer, so that
            unknown ``kid`` values cannot make it hammer the server (default 30).
        clock: monotonic seconds, injectable for tests.
        jwks_uris: JWKS URLs of issuers that skip discovery.
    """

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        ttl: float = DEFAULT_JWKS_TTL,
        min_refetch_interval: float = DEFAULT_MIN_REFETCH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        jwks_uris: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
    ) -> None:
        super().__init__(
            ttl=ttl, min_refetch_interval=min_refetch_interval, clock=clock, jwks_uris=jwks_uris
        )
        self._owns_client = client is None
        if client is None:
            import httpx

            client = httpx.Client(timeout=timeout)
        self._client = client
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, issuer: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(issuer, threading.Lock())

    def ensure(self, issuer: str, kid: str | None = None) -> None:
        """Fetch ``issuer``'s keys if a fetch is due (see :meth:`JwksCore.needs_refresh`).

        Never raises for a failed fetch: it is logged and the cached keys stay in use. One
        thread fetches while the others for the same issuer wait for its result."""
        if not self._core.needs_refresh(issuer, kid):
            return
        with self._lock(issuer):
            if not self._core.needs_refresh(issuer, kid):
                return
            try:
                self._run(self._core.refresh_flow(issuer))
            except JwksFetchError as exc:
                _warn(issuer, exc, len(self._core.kids(issuer)))

    def resolve(self, issuer: str, kid: str) -> tuple[PublicKey, str] | None:
        """:meth:`ensure` then :meth:`get`: a :data:`~realmgate.verifier.KeyResolver`."""
        self.ensure(issuer, kid)
        return self.get(issuer, kid)

    def refresh(self, issuer: str) -> int:
        """Fetch ``issuer``'s keys now, ignoring TTL and rate limit; return how many are
        cached. Raises :class:`JwksFetchError` (e.g. to fail a warm-up at start)."""
        with self._lock(issuer):
            return self._run(self._core.refresh_flow(issuer))

    def _run(self, flow: _Flow) -> int:
        try:
            request = next(flow)
            while True:
                reply = self._send(request)
                try:
                    request = flow.send(reply)
                except StopIteration as done:
                    count: int = done.value
                    return count
        finally:
            flow.close()

    def _send(self, request: httpx.Request) -> Reply:
        import httpx

        try:
            response = self._client.send(request, stream=True)
            try:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    check_size(len(body), request.url)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise _transport_failure(request, exc) from None
        return Reply(response.status_code, bytes(body))

    def close(self) -> None:
        """Close the HTTP client if the cache created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncJwksCache(_CacheBase):
    """JWKS cache over an ``httpx.AsyncClient``; same arguments as :class:`JwksCache`.

    Use it from one event loop. :meth:`ensure` is a coroutine; :meth:`get` never does I/O, so
    it serves as the synchronous resolver of :func:`~realmgate.verifier.verify_token` after
    ``await cache.ensure(issuer, kid)``.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        ttl: float = DEFAULT_JWKS_TTL,
        min_refetch_interval: float = DEFAULT_MIN_REFETCH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        jwks_uris: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
    ) -> None:
        super().__init__(
            ttl=ttl, min_refetch_interval=min_refetch_interval, clock=clock, jwks_uris=jwks_uris
        )
        self._owns_client = client is None
        if client is None:
            import httpx

            client = httpx.AsyncClient(timeout=timeout)
        self._client = client
        self._locks: dict[str, anyio.Lock] = {}

    def _lock(self, issuer: str) -> anyio.Lock:
        lock = self._locks.get(issuer)
        if lock is None:
            lock = self._locks[issuer] = anyio.Lock()
        return lock

    async def ensure(self, issuer: str, kid: str | None = None) -> None:
        """Fetch ``issuer``'s keys if a fetch is due; failures are logged, never raised."""
        if not self._core.needs_refresh(issuer, kid):
            return
        async with self._lock(issuer):
            if not self._core.needs_refresh(issuer, kid):
                return
            try:
                await self._run(self._core.refresh_flow(issuer))
            except JwksFetchError as exc:
                _warn(issuer, exc, len(self._core.kids(issuer)))

    async def resolve(self, issuer: str, kid: str) -> tuple[PublicKey, str] | None:
        """``await`` :meth:`ensure` then :meth:`get`."""
        await self.ensure(issuer, kid)
        return self.get(issuer, kid)

    async def refresh(self, issuer: str) -> int:
        """Fetch ``issuer``'s keys now; raises :class:`JwksFetchError`."""
        async with self._lock(issuer):
            return await self._run(self._core.refresh_flow(issuer))

    async def _run(self, flow: _Flow) -> int:
        try:
            request = next(flow)
            while True:
                reply = await self._send(request)
                try:
                    request = flow.send(reply)
                except StopIteration as done:
                    count: int = done.value
                    return count
        finally:
            flow.close()

    async def _send(self, request: httpx.Request) -> Reply:
        import httpx

        try:
            response = await self._client.send(request, stream=True)
            try:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    check_size(len(body), request.url)
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise _transport_failure(request, exc) from None
        return Reply(response.status_code, bytes(body))

    async def aclose(self) -> None:
        """Close the HTTP client if the cache created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
