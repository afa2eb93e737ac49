"""What the sync and async token providers share (everything but the I/O and the locking)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from ._config import ClientConfig
from ._dpop import DpopKey, DpopSession
from ._errors import TokenError
from ._flow import TokenFetcher
from ._retry import RetryPolicy
from ._secret import scrub
from ._state import Mode, RenewalState
from ._token import RenewalPolicy

logger = logging.getLogger("realmgate.client")

F = TypeVar("F")

DEFAULT_TIMEOUT = 10.0
"""Default timeout (seconds) of the HTTP client a provider creates for itself."""


class ProviderBase(Generic[F]):
    """Configuration, renewal state and logging shared by both providers."""

    _config: ClientConfig
    _fetcher: TokenFetcher
    _state: RenewalState[F]
    _clock: Callable[[], float]
    _dpop: DpopSession | None

    def _init_base(
        self,
        config: ClientConfig,
        renewal: RenewalPolicy | None,
        retry: RetryPolicy | None,
        clock: Callable[[], float],
        dpop_key: DpopKey | None = None,
    ) -> None:
        if dpop_key is not None and not isinstance(dpop_key, DpopKey):
            raise TypeError("dpop_key must be a realmgate.client.DpopKey")
        self._config = config
        self._clock = clock
        self._dpop = DpopSession(dpop_key) if dpop_key is not None else None
        self._fetcher = TokenFetcher(config, retry or RetryPolicy(), clock, self._dpop)
        self._state = RenewalState(renewal or RenewalPolicy())

    @property
    def config(self) -> ClientConfig:
        """The client configuration (the secret stays wrapped in :class:`Secret`)."""
        return self._config

    @property
    def dpop_key(self) -> DpopKey | None:
        """The DPoP key token requests are signed with (``None``: bearer tokens)."""
        return self._dpop.key if self._dpop is not None else None

    @property
    def dpop_session(self) -> DpopSession | None:
        """The DPoP key and the servers' latest nonces (what the auth plug-ins use)."""
        return self._dpop

    @property
    def token_endpoint(self) -> str | None:
        """The token endpoint URL (``None`` until discovery, if enabled, has run)."""
        return self._fetcher.token_endpoint

    @property
    def renewal_policy(self) -> RenewalPolicy:
        return self._state.policy

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tenant={self._config.tenant!r}, "
            f"client_id={self._config.client_id!r}, sso_base_url={self._config.sso_base_url!r})"
        )

    def _fetch_failed(self, mode: Mode, exc: BaseException) -> None:
        """Record a failed flight (call under the lock) and log advisory failures."""
        now = self._clock()
        self._state.failed(now, exc)
        if mode is Mode.ADVISORY and isinstance(exc, Exception):
            token = self._state.token
            remaining = token.remaining(now) if token is not None else 0.0
            reason = str(exc) if isinstance(exc, TokenError) else type(exc).__name__
            logger.warning(
                "advisory renewal of the access token for client %s of tenant %s failed; "
                "the current token stays in use (expires in %.0fs): %s",
                self._config.client_id,
                self._config.tenant,
                remaining,
                scrub(reason, self._config.client_secret),
            )


def interrupted() -> TokenError:
    """What callers sharing a flight see when its leader was interrupted."""
    return TokenError("the token renewal shared with another caller was interrupted")
