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

from ._sync import TokenProvider
from ._token import AccessToken

__all__ = ["RequestsBearerAuth"]


class RequestsBearerAuth(AuthBase):
    """Add ``Authorization: Bearer <token>`` to requests; retry one 401 with a fresh token.

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
        r.headers["Authorization"] = token.authorization_header
        body: Any = r.body
        position = body.tell() if hasattr(body, "tell") else None
        # Per-request state lives in the hook's closure, not on this shared object.
        hook = functools.partial(self._retry_401, token=token, position=position)
        r.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return r

    def _retry_401(
        self,
        response: requests.Response,
        *,
        token: AccessToken,
        position: int | None,
        **kwargs: Any,
    ) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_realmgate_retry", False):
            return response
        if response.request.headers.get("Authorization") != token.authorization_header:
            return response  # the token was stripped (redirect) or replaced: leave it alone
        body: Any = response.request.body
        if body is not None and not isinstance(body, bytes | str):
            if position is None or not hasattr(body, "seek"):
                return response  # a one-shot stream cannot be sent again
            body.seek(position)
        fresh = self._provider.force_refresh(stale=token)
        # Release the connection of the rejected response before re-sending.
        _ = response.content
        response.close()
        retry = response.request.copy()
        retry._realmgate_retry = True  # type: ignore[attr-defined]
        cookies: Any = getattr(retry, "_cookies", None)
        if cookies is not None:
            extract_cookies_to_jar(cookies, response.request, response.raw)  # type: ignore[no-untyped-call]
            retry.prepare_cookies(cookies)
        retry.headers["Authorization"] = fresh.authorization_header
        second = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
