"""A :mod:`requests` authentication plug-in (needs the ``requests`` extra).

Usage::

    from realmgate.client import TokenProvider
    from realmgate.client.requests_auth import RequestsBearerAuth

    session = requests.Session()
    session.auth = RequestsBearerAuth(TokenProvider.from_env())
"""

from __future__ import annotations

import functools
from typing import Any

try:
    import requests
    from requests.auth import AuthBase
    from requests.cookies import extract_cookies_to_jar
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise ImportError(
        "realmgate.client.requests_auth needs 'requests': pip install 'realmgate[requests]'"
    ) from exc

from ._jsend import parse_challenge
from ._sync import TokenProvider
from ._token import AccessToken

__all__ = ["RequestsBearerAuth"]


class RequestsBearerAuth(AuthBase):
    """Add ``Authorization: Bearer <token>`` to requests; retry one 401 with a fresh token.

    With a DPoP-bound token (a provider with a ``dpop_key``): ``Authorization: DPoP <token>``
    and a new ``DPoP`` proof per request (``ath``, the request's method and URL without query
    and fragment, the origin's latest ``DPoP-Nonce``); a 401 ``use_dpop_nonce`` carrying a new
    nonce is sent once more with the same token.

    The retry re-sends the prepared request through the same connection adapter (as
    :class:`requests.auth.HTTPDigestAuth` does); a second 401 is returned to the caller.
    The token is never re-added to a request from which ``requests`` stripped it (a redirect
    to another host). Safe to share between threads and sessions. Transport errors are
    ``requests``' own (retried per the adapter's ``max_retries``), never this plug-in's.
    """

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider

    @property
    def provider(self) -> TokenProvider:
        return self._provider

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._provider!r})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._provider.get_token()
        self._apply(r, token)
        body: Any = r.body
        position = body.tell() if hasattr(body, "tell") else None
        # Per-request state lives in the hook's closure, not on this shared object.
        hook = functools.partial(self._retry_401, token=token, position=position)
        r.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return r

    def _apply(self, r: requests.PreparedRequest, token: AccessToken) -> None:
        r.headers["Authorization"] = token.authorization_header
        session = self._provider.dpop_session
        if token.is_dpop and session is not None:
            r.headers["DPoP"] = session.proof(str(r.method), str(r.url), access_token=token.value)
        else:
            r.headers.pop("DPoP", None)

    def _next(self, response: requests.Response, token: AccessToken) -> str | None:
        """``None`` (return the response), ``"nonce"`` or ``"refresh"`` (send it again)."""
        session = self._provider.dpop_session
        url = str(response.request.url)
        fresh_nonce = session is not None and session.remember(url, response.headers)
        if response.status_code != 401:
            return None
        if token.is_dpop:
            challenge = parse_challenge(response.headers.get("www-authenticate"), "dpop")
            if challenge.get("error") == "use_dpop_nonce":
                return "nonce" if fresh_nonce else None
        return "refresh"

    def _retry_401(
        self,
        response: requests.Response,
        *,
        token: AccessToken,
        position: int | None,
        **kwargs: Any,
    ) -> requests.Response:
        if getattr(response.request, "_realmgate_retry", False):
            return response
        retries = {"nonce", "refresh"}
        while True:
            step = self._next(response, token)
            if step is None or step not in retries:
                return response
            retries.discard(step)
            if response.request.headers.get("Authorization") != token.authorization_header:
                return response  # the token was stripped (redirect) or replaced: leave it alone
            body: Any = response.request.body
            if body is not None and not isinstance(body, bytes | str):
                if position is None or not hasattr(body, "seek"):
                    return response  # a one-shot stream cannot be sent again
                body.seek(position)
            if step == "refresh":
                token = self._provider.force_refresh(stale=token)
            response = self._send_again(response, token, **kwargs)

    def _send_again(
        self, response: requests.Response, token: AccessToken, **kwargs: Any
    ) -> requests.Response:
        # Release the connection of the rejected response before re-sending.
        _ = response.content
        response.close()
        retry = response.request.copy()
        retry._realmgate_retry = True  # type: ignore[attr-defined]
        cookies: Any = getattr(retry, "_cookies", None)
        if cookies is not None:
            extract_cookies_to_jar(cookies, response.request, response.raw)  # type: ignore[no-untyped-call]
            retry.prepare_cookies(cookies)
        self._apply(retry, token)
        second = response.connection.send(retry, **kwargs)
        second.history = [*response.history, response]
        second.request = retry
        return second
