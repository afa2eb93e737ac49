"""Typed clients for the tenant API (``/v2/tenants/current/settings``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Final, Self, Unpack

import httpx

from . import _resend as resend
from ._async import AsyncTokenProvider
from ._config import ClientConfig, normalize_base_url
from ._dpop import DpopKey
from ._errors import ApiConnectionError, ConfigurationError
from ._httpx_auth import BearerTokenAuth
from ._jsend import unwrap
from ._retry import RetryPolicy
from ._settings import SettingsChanges, TenantSettings, merge_patch
from ._sync import TokenProvider
from ._token import RenewalPolicy

SETTINGS_PATH: Final = "/v2/tenants/current/settings"
DEFAULT_API_TIMEOUT: Final = 30.0
_JSON = "application/json"
_MERGE_PATCH = "application/merge-patch+json"


def _patch_body(changes: Mapping[str, object] | None, kwargs: Mapping[str, object]) -> bytes:
    merged: dict[str, object] = dict(changes or {})
    merged.update(kwargs)
    return json.dumps(merge_patch(merged), separators=(",", ":")).encode()


def _api_config(environ: Mapping[str, str] | None) -> tuple[ClientConfig, str]:
    config = ClientConfig.from_env(environ)
    if config.api_base_url is None:
        raise ConfigurationError("missing required environment variable(s): REALMGATE_API_URL")
    return config, config.api_base_url


def _connection_error(method: str, url: str, exc: httpx.RequestError) -> ApiConnectionError:
    return ApiConnectionError(f"{method} {url} failed: {type(exc).__name__}")


class TenantApiClient:
    """Blocking client of the tenant API, authenticated by a :class:`TokenProvider`.

    A 401 is retried once with a fresh token (see :class:`BearerTokenAuth`). A ``GET`` whose
    reused keep-alive connection the server closed before answering is sent once more on a
    new connection; a ``PATCH`` is not (it may have been applied: read the settings back).
    Errors are raised as :class:`ApiAuthError` (401/403), :class:`ApiFailError` (JSend ``fail``),
    :class:`ApiServerError` (JSend ``error``/5xx), :class:`ApiResponseError` (malformed
    answer), :class:`ApiConnectionError` (network) or :class:`TokenError` (no token).

    Args:
        api_base_url: the API base URL, e.g. ``https://api.example.com``.
        token_provider: the provider of access tokens.
        http_client: the client to use (its ``auth`` is overridden per request); by default
            one is created with a ``timeout``-second timeout and closed by :meth:`close`.
        close_provider: also close ``token_provider`` in :meth:`close`.
    """

    def __init__(
        self,
        api_base_url: str,
        token_provider: TokenProvider,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = DEFAULT_API_TIMEOUT,
        close_provider: bool = False,
    ) -> None:
        self._settings_url = normalize_base_url(api_base_url, "api_base_url") + SETTINGS_PATH
        self._provider = token_provider
        self._auth = BearerTokenAuth(token_provider)
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._close_provider = close_provider

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = DEFAULT_API_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        dpop_key: DpopKey | None = None,
    ) -> Self:
        """Build a client and its token provider from the ``REALMGATE_*`` variables
        (``REALMGATE_API_URL`` is required here); ``dpop_key`` makes its tokens DPoP-bound."""
        config, api_base_url = _api_config(environ)
        provider = TokenProvider.from_config(
            config, http_client=http_client, renewal=renewal, retry=retry, dpop_key=dpop_key
        )
        return cls(
            api_base_url, provider, http_client=http_client, timeout=timeout, close_provider=True
        )

    @property
    def token_provider(self) -> TokenProvider:
        return self._provider

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings_url!r}, {self._provider!r})"

    def get_settings(self) -> TenantSettings:
        """``GET /v2/tenants/current/settings``."""
        return self._call("GET", None)

    def update_settings(
        self,
        changes: Mapping[str, object] | None = None,
        /,
        **kwargs: Unpack[SettingsChanges],
    ) -> TenantSettings:
        """``PATCH /v2/tenants/current/settings`` with a JSON merge patch; returns the result.

        Pass changes as keyword arguments (snake_case) or as a mapping (snake_case or
        camelCase keys). ``None`` clears ``default_transcription_language``.

        Raises:
            ValueError: for unknown or read-only fields (before any request is made).
            TypeError: for values of the wrong type.
        """
        return self._call("PATCH", _patch_body(changes, kwargs))

    def _call(self, method: str, body: bytes | None) -> TenantSettings:
        headers = {"Accept": _JSON}
        if body is not None:
            headers["Content-Type"] = _MERGE_PATCH
        try:
            response = resend.request(
                self._client,
                method,
                self._settings_url,
                resend=method == "GET",  # a PATCH may have been applied: see _resend
                content=body,
                headers=headers,
                auth=self._auth,
            )
        except httpx.RequestError as exc:
            raise _connection_error(method, self._settings_url, exc) from exc
        return TenantSettings.from_json(unwrap(response))

    def close(self) -> None:
        """Close the HTTP client it created (and the provider if ``close_provider``)."""
        if self._owns_client:
            self._client.close()
        if self._close_provider:
            self._provider.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTenantApiClient:
    """The asyncio counterpart of :class:`TenantApiClient`."""

    def __init__(
        self,
        api_base_url: str,
        token_provider: AsyncTokenProvider,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_API_TIMEOUT,
        close_provider: bool = False,
    ) -> None:
        self._settings_url = normalize_base_url(api_base_url, "api_base_url") + SETTINGS_PATH
        self._provider = token_provider
        self._auth = BearerTokenAuth(token_provider)
        self._owns_client = http_client is None
        self._client = (
            http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        )
        self._close_provider = close_provider

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_API_TIMEOUT,
        renewal: RenewalPolicy | None = None,
        retry: RetryPolicy | None = None,
        dpop_key: DpopKey | None = None,
    ) -> Self:
        """See :meth:`TenantApiClient.from_env`."""
        config, api_base_url = _api_config(environ)
        provider = AsyncTokenProvider.from_config(
            config, http_client=http_client, renewal=renewal, retry=retry, dpop_key=dpop_key
        )
        return cls(
            api_base_url, provider, http_client=http_client, timeout=timeout, close_provider=True
        )

    @property
    def token_provider(self) -> AsyncTokenProvider:
        return self._provider

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings_url!r}, {self._provider!r})"

    async def get_settings(self) -> TenantSettings:
        """``GET /v2/tenants/current/settings``."""
        return await self._call("GET", None)

    async def update_settings(
        self,
        changes: Mapping[str, object] | None = None,
        /,
        **kwargs: Unpack[SettingsChanges],
    ) -> TenantSettings:
        """See :meth:`TenantApiClient.update_settings`."""
        return await self._call("PATCH", _patch_body(changes, kwargs))

    async def _call(self, method: str, body: bytes | None) -> TenantSettings:
        headers = {"Accept": _JSON}
        if body is not None:
            headers["Content-Type"] = _MERGE_PATCH
        try:
            response = await resend.arequest(
                self._client,
                method,
                self._settings_url,
                resend=method == "GET",
                content=body,
                headers=headers,
                auth=self._auth,
            )
        except httpx.RequestError as exc:
            raise _connection_error(method, self._settings_url, exc) from exc
        return TenantSettings.from_json(unwrap(response))

    async def aclose(self) -> None:
        """Close the HTTP client it created (and the provider if ``close_provider``)."""
        if self._owns_client:
            await self._client.aclose()
        if self._close_provider:
            await self._provider.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
