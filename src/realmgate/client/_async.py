"""The asyncio token provider (:class:`httpx.AsyncClient`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Self

import httpx

from ._base import DEFAULT_TIMEOUT, ProviderBase
from ._config import AuthMethod, ClientConfig
from ._dpop import DpopKey
from ._flow import run_async
from ._retry import RetryPolicy
from ._secret import Secret
from ._state import Join, Mode, Use
from ._token import AccessToken, RenewalPolicy


def _retrieve(task: asyncio.Task[AccessToken]) -> None:
    # Mark the outcome as retrieved even if every awaiting caller was cancelled.
    if not task.cancelled():
        task.exception()


class AsyncTokenProvider(ProviderBase["asyncio.Task[AccessToken]"]):
    """The asyncio counterpart of :class:`TokenProvider`; same renewal and retry behaviour.

    Any number of tasks may await :meth:`get_token` concurrently: each renewal makes exactly
    one token request. Planning a renewal never awaits, so it is atomic with respect to
    other tasks; the renewal itself runs as a separate task that every caller awaits through
    :func:`asyncio.shield`, so a cancelled caller neither cancels the renewal nor strands
    the others. Nothing blocks the event loop. Use one provider per event loop.

    Args: as for :class:`TokenProvider`, with ``http_client`` an :class:`httpx.AsyncClient`
    and ``sleep`` an async sleep (default :func:`asyncio.sleep`).
    """

    def __init__(
        self,
        *,
        sso_base_url: str,
        tenant: str,
        client_id: str,
        client_secret: str | Secret | None = None,
        scope: str | Iterable[str] | None = None,
        auth_method: AuthMethod = "client_secret_post",
        token_endpoint: str | None = None,
        discovery: bool = False,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        dpop_key: DpopKey | None = None,
    ) -> None:
        config = ClientConfig(
            sso_base_url=sso_base_url,
            tenant=tenant,
            client_id=client_id,
            client_secret=client_secret
            if isinstance(client_secret, Secret)
            else Secret(client_secret or ""),
            scope=scope if scope is None or isinstance(scope, str) else " ".join(scope),
            auth_method=auth_method,
            token_endpoint=token_endpoint,
            discovery=discovery,
        )
        self._init_base(config, renewal, retry, clock, dpop_key)
        self._owns_client = http_client is None
        self._client = (
            http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        )
        self._sleep = sleep

    @classmethod
    def from_config(
        cls,
        config: ClientConfig,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        dpop_key: DpopKey | None = None,
    ) -> Self:
        """Build a provider from a :class:`ClientConfig`."""
        return cls(
            sso_base_url=config.sso_base_url,
            tenant=config.tenant,
            client_id=config.client_id,
            client_secret=config.client_secret,
            scope=config.scope,
            auth_method=config.auth_method,
            token_endpoint=config.token_endpoint,
            discovery=config.discovery,
            http_client=http_client,
            timeout=timeout,
            renewal=renewal,
            retry=retry,
            clock=clock,
            sleep=sleep,
            dpop_key=dpop_key,
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        auth_method: AuthMethod = "client_secret_post",
        discovery: bool = False,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        dpop_key: DpopKey | None = None,
    ) -> Self:
        """Build a provider from the ``REALMGATE_*`` variables.

        See :meth:`ClientConfig.from_env` for the variables.
        """
        config = ClientConfig.from_env(environ, auth_method=auth_method, discovery=discovery)
        return cls.from_config(
            config,
            http_client=http_client,
            timeout=timeout,
            renewal=renewal,
            retry=retry,
            clock=clock,
            sleep=sleep,
            dpop_key=dpop_key,
        )

    # ------------------------------------------------------------------ public API

    async def get_token(self) -> AccessToken:
        """A valid access token, renewing it first if it is in the mandatory window."""
        return await self._obtain(force=False, stale=None)

    async def force_refresh(self, stale: AccessToken | None = None) -> AccessToken:
        """Obtain a new token now; see :meth:`TokenProvider.force_refresh`."""
        return await self._obtain(force=True, stale=stale)

    def invalidate(self) -> None:
        """Drop the current token; the next :meth:`get_token` obtains a new one."""
        self._state.invalidate()

    async def aclose(self) -> None:
        """Close the HTTP client if the provider created it."""
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

    # ------------------------------------------------------------------ internals

    async def _obtain(self, *, force: bool, stale: AccessToken | None) -> AccessToken:
        while True:
            step = self._state.plan(self._clock(), force=force, stale=stale)
            if isinstance(step, Use):
                return step.token
            if isinstance(step, Join):
                flight, mode = step.flight, step.mode
            else:
                flight, mode = asyncio.ensure_future(self._fly(step.mode)), step.mode
                self._state.begin(flight, mode)
                flight.add_done_callback(_retrieve)
            try:
                return await asyncio.shield(flight)
            except Exception:
                if mode is Mode.ADVISORY:
                    continue  # logged by the flight; re-plan
                raise

    async def _fly(self, mode: Mode) -> AccessToken:
        flow = self._fetcher.fetch(retries=mode is Mode.MANDATORY)
        try:
            token = await run_async(flow, self._client, self._sleep)
        except BaseException as exc:
            self._fetch_failed(mode, exc)
            raise
        self._state.succeeded(token)
        return token
