"""An :class:`httpx.Auth` that adds the bearer token and retries one 401."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator

import httpx

from ._async import AsyncTokenProvider
from ._sync import TokenProvider
from ._token import AccessToken


class BearerTokenAuth(httpx.Auth):
    """Authenticate httpx requests with tokens from a provider.

    Works with :class:`httpx.Client` (needs a :class:`TokenProvider`) and
    :class:`httpx.AsyncClient` (an :class:`AsyncTokenProvider`, or a :class:`TokenProvider`
    whose blocking calls then run in a worker thread via :func:`asyncio.to_thread`).

    A 401 answer is retried once with a fresh token (concurrent 401s share one renewal);
    a second 401 is returned to the caller. The request body is buffered before the first
    attempt so that it can be sent again.

    The token goes to every URL the client requests with this auth, including redirect
    targets if the client follows redirects: scope the client to your API.

    An :class:`httpx.Auth` sees responses only, never transport errors: a request of your
    client whose keep-alive connection the server closed is yours to retry (the SDK's own
    requests are sent once more in that case; see ``docs/sdk.md``).
    """

    requires_request_body = True

    def __init__(self, provider: TokenProvider | AsyncTokenProvider) -> None:
        self._provider = provider

    @property
    def provider(self) -> TokenProvider | AsyncTokenProvider:
        return self._provider

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._provider!r})"

    @staticmethod
    def _apply(request: httpx.Request, token: AccessToken) -> None:
        request.headers["Authorization"] = token.authorization_header

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        provider = self._provider
        if not isinstance(provider, TokenProvider):
            raise TypeError("an AsyncTokenProvider needs an httpx.AsyncClient; use TokenProvider")
        request.read()
        token = provider.get_token()
        self._apply(request, token)
        response = yield request
        if response.status_code == 401:
            self._apply(request, provider.force_refresh(stale=token))
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        provider = self._provider
        await request.aread()
        if isinstance(provider, AsyncTokenProvider):
            token = await provider.get_token()
        else:
            token = await asyncio.to_thread(provider.get_token)
        self._apply(request, token)
        response = yield request
        if response.status_code == 401:
            if isinstance(provider, AsyncTokenProvider):
                fresh = await provider.force_refresh(stale=token)
            else:
                fresh = await asyncio.to_thread(provider.force_refresh, token)
            self._apply(request, fresh)
            yield request
