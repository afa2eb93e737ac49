"""An :class:`httpx.Auth` that adds the bearer token and retries one 401."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator

import httpx

from ._async import AsyncTokenProvider
from ._jsend import parse_challenge
from ._sync import TokenProvider
from ._token import AccessToken


class BearerTokenAuth(httpx.Auth):
    """Authenticate httpx requests with tokens from a provider.

    Works with :class:`httpx.Client` (needs a :class:`TokenProvider`) and
    :class:`httpx.AsyncClient` (an :class:`AsyncTokenProvider`, or a :class:`TokenProvider`
    whose blocking calls then run in a worker thread via :func:`asyncio.to_thread`).

    A 401 answer is retried once with a fresh token (concurrent 401s share one renewal);
    a second 401 is returned to the caller.

    A DPoP-bound token (the provider has a ``dpop_key``) goes out as
    ``Authorization: DPoP <token>`` with a new ``DPoP`` proof for each request (its method,
    its URL without query and fragment, ``ath``, and the origin's latest ``DPoP-Nonce``). A 401
    ``use_dpop_nonce`` with a new ``DPoP-Nonce`` is sent once more with the same token.
    The request body is buffered before the first attempt so that it can be sent again.

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

    def _apply(self, request: httpx.Request, token: AccessToken) -> None:
        request.headers["Authorization"] = token.authorization_header
        session = self._provider.dpop_session
        if token.is_dpop and session is not None:
            request.headers["DPoP"] = session.proof(
                request.method, request.url, access_token=token.value
            )
        else:
            request.headers.pop("DPoP", None)

    def _next(self, request: httpx.Request, response: httpx.Response, token: AccessToken) -> str:
        """What to do after ``response``: ``"done"``, ``"nonce"`` (send again with the
        server's new DPoP nonce) or ``"refresh"`` (send again with a new token)."""
        session = self._provider.dpop_session
        fresh_nonce = session is not None and session.remember(request.url, response.headers)
        if response.status_code != 401:
            return "done"
        if token.is_dpop and wants_nonce(response):
            return "nonce" if fresh_nonce else "done"
        return "refresh"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        provider = self._provider
        if not isinstance(provider, TokenProvider):
            raise TypeError("an AsyncTokenProvider needs an httpx.AsyncClient; use TokenProvider")
        request.read()
        token = provider.get_token()
        retries = {"nonce", "refresh"}
        while True:
            self._apply(request, token)
            response = yield request
            step = self._next(request, response, token)
            if step not in retries:
                return
            retries.discard(step)
            if step == "refresh":
                token = provider.force_refresh(stale=token)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        provider = self._provider
        await request.aread()
        if isinstance(provider, AsyncTokenProvider):
            token = await provider.get_token()
        else:
            token = await asyncio.to_thread(provider.get_token)
        retries = {"nonce", "refresh"}
        while True:
            self._apply(request, token)
            response = yield request
            step = self._next(request, response, token)
            if step not in retries:
                return
            retries.discard(step)
            if step == "refresh":
                if isinstance(provider, AsyncTokenProvider):
                    token = await provider.force_refresh(stale=token)
                else:
                    token = await asyncio.to_thread(provider.force_refresh, token)


def wants_nonce(response: httpx.Response) -> bool:
    """A 401 whose ``DPoP`` challenge says ``use_dpop_nonce`` (RFC 9449 §9)."""
    challenge = parse_challenge(response.headers.get("www-authenticate"), "dpop")
    return challenge.get("error") == "use_dpop_nonce"
