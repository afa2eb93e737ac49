"""Pure ASGI middleware that requires a valid bearer token (no Starlette needed).

.. code-block:: python

    verifier = AsyncVerifier.from_realm("https://sso.example.com", "acme", audience="api")
    app = BearerAuthMiddleware(app, verifier, path_prefixes=["/v2"])

The verified :class:`~realmgate.verifier.AccessTokenClaims` are put into
``scope["state"]["token_claims"]`` (``request.state.token_claims`` in Starlette and FastAPI)
and ``scope["realmgate.claims"]``. Refusals: 401 (missing or invalid token) or 403 (missing
role or scope), with a JSON body and an RFC 6750 ``WWW-Authenticate`` challenge. Only ``http``
scopes are checked: ``websocket`` and ``lifespan`` scopes pass through untouched. CORS
preflight requests carry no token, so put a CORS middleware outside this one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._errors import InvalidTokenError, TokenError
from realmgate.verifier._http import bearer_token, challenge, error_body
from realmgate.verifier._verifier import AsyncVerifier, Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_KEY = "token_claims"
SCOPE_KEY = "realmgate.claims"


class BearerAuthMiddleware:
    """Verify ``Authorization: Bearer`` on every ``http`` request (or those under
    ``path_prefixes``, matched on whole path segments: ``/v2`` covers ``/v2`` and ``/v2/x``,
    not ``/v2x``).

    ``roles`` and ``scopes`` are required in addition to the verifier's own; ``realm`` is
    the optional ``realm`` of the challenges. A sync :class:`Verifier` runs in a worker
    thread; an :class:`AsyncVerifier` runs on the event loop.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier | AsyncVerifier,
        *,
        path_prefixes: Iterable[str] | None = None,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        realm: str | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.path_prefixes = (
            None if path_prefixes is None else tuple(p.rstrip("/") for p in path_prefixes)
        )
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        self.realm = realm

    def _protects(self, path: str) -> bool:
        if self.path_prefixes is None:
            return True
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.path_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protects(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        try:
            claims = await self._verify(_authorization(scope))
        except TokenError as error:
            await _refuse(send, error, self.realm)
            return
        if claims is None:
            await _refuse(send, None, self.realm)
            return
        state = dict(scope.get("state") or {})
        state[STATE_KEY] = claims
        await self.app({**scope, "state": state, SCOPE_KEY: claims}, receive, send)

    async def _verify(self, authorization: str | None) -> AccessTokenClaims | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        if isinstance(self.verifier, AsyncVerifier):
            return await self.verifier.verify(token, roles=self.roles, scopes=self.scopes)
        import anyio.to_thread

        verifier = self.verifier
        return await anyio.to_thread.run_sync(
            lambda: verifier.verify(token, roles=self.roles, scopes=self.scopes)
        )


def _authorization(scope: Scope) -> str | None:
    values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidTokenError("The request has several Authorization headers")
    return bytes(values[0]).decode("latin-1")


async def _refuse(send: Send, error: TokenError | None, realm: str | None) -> None:
    body = json.dumps(error_body(error)).encode()
    status = 401 if error is None else error.status_code
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"www-authenticate", challenge(error, realm).encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
