"""The blocking token provider (threads, :class:`httpx.Client`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Self

import httpx

from ._base import DEFAULT_TIMEOUT, ProviderBase, interrupted
from ._config import AuthMethod, ClientConfig
from ._dpop import DpopKey
from ._flow import run_sync
from ._retry import RetryPolicy
from ._secret import Secret
from ._state import Join, Lead, Mode, Use
from ._token import AccessToken, RenewalPolicy


class TokenProvider(ProviderBase[Future[AccessToken]]):
    """Obtains and proactively renews client-credentials access tokens (thread-safe).

    Any number of threads may call :meth:`get_token` concurrently: each renewal makes exactly
    one token request (*single flight*). Renewal follows the two windows of
    :class:`RenewalPolicy`: in the advisory window one caller renews while the others keep
    using the valid token (a failure is logged as a warning, not raised); in the mandatory
    window every caller waits for the shared renewal and a failure raises.

    Token requests that meet 429, 5xx or network errors are retried per :class:`RetryPolicy`;
    400/401/403/404 raise :class:`TokenRequestError` at once.

    Args:
        sso_base_url, tenant, client_id, client_secret, scope, auth_method, token_endpoint,
            discovery: see :class:`ClientConfig`.
        http_client: the client to send token requests with; by default the provider
            creates (and :meth:`close` closes) its own with a ``timeout``-second timeout.
            Token requests never use the client's ``auth`` and never follow redirects.
        renewal: the renewal windows (default :class:`RenewalPolicy()`).
        retry: the retry policy (default :class:`RetryPolicy()`).
        clock: a monotonic clock in seconds (injectable for tests).
        sleep: the blocking sleep used between retries (injectable for tests).
        dpop_key: a :class:`DpopKey`: every token request carries a DPoP proof signed with
            it (RFC 9449), so the server can bind the token to the key (``token_type``
            ``"DPoP"``). A ``400 use_dpop_nonce`` answer is retried once with the server's
            ``DPoP-Nonce``; the latest nonce of each origin is kept for later proofs.
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
        http_client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
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
        self._client = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        config: ClientConfig,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
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
        http_client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
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

    def get_token(self) -> AccessToken:
        """A valid access token, renewing it first if it is in the mandatory window.

        Raises:
            TokenError: if a needed renewal failed.
        """
        return self._obtain(force=False, stale=None)

    def force_refresh(self, stale: AccessToken | None = None) -> AccessToken:
        """Obtain a new token now (joining a renewal already in progress).

        Args:
            stale: the token the caller saw rejected (e.g. by a 401). If another caller has
                already replaced it, the newer token is returned without a new request.
        """
        return self._obtain(force=True, stale=stale)

    def invalidate(self) -> None:
        """Drop the current token; the next :meth:`get_token` obtains a new one."""
        with self._lock:
            self._state.invalidate()

    def close(self) -> None:
        """Close the HTTP client if the provider created it."""
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

    # ------------------------------------------------------------------ internals

    def _obtain(self, *, force: bool, stale: AccessToken | None) -> AccessToken:
        while True:
            with self._lock:
                step = self._state.plan(self._clock(), force=force, stale=stale)
                if isinstance(step, Lead):
                    flight: Future[AccessToken] = Future()
                    self._state.begin(flight, step.mode)
            if isinstance(step, Use):
                return step.token
            if isinstance(step, Join):
                try:
                    return step.flight.result()
                except Exception:
                    if step.mode is Mode.ADVISORY:
                        continue  # re-plan: the token may now need a mandatory renewal
                    raise
            token = self._lead(flight, step.mode)
            if token is not None:
                return token

    def _lead(self, flight: Future[AccessToken], mode: Mode) -> AccessToken | None:
        flow = self._fetcher.fetch(retries=mode is Mode.MANDATORY)
        try:
            token = run_sync(flow, self._client, self._sleep)
        except BaseException as exc:
            with self._lock:
                self._fetch_failed(mode, exc)
            flight.set_exception(exc if isinstance(exc, Exception) else interrupted())
            if mode is Mode.ADVISORY and isinstance(exc, Exception):
                return None  # logged by _fetch_failed; re-plan
            raise
        with self._lock:
            self._state.succeeded(token)
        flight.set_result(token)
        return token
