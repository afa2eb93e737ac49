"""FastAPI dependency that requires a valid bearer token (needs ``realmgate[fastapi]``).

.. code-block:: python

    verifier = AsyncVerifier.from_realm("https://sso.example.com", "acme", audience="api")
    require_admin = RequireToken(verifier, roles=["tenant-admin"])

    @app.patch("/settings")
    async def patch(claims: Annotated[AccessTokenClaims, Depends(require_admin)]) -> ...: ...

Refusals raise :class:`fastapi.HTTPException` 401 or 403 whose ``detail`` is
``{"error": ..., "error_description": ...}`` and whose ``WWW-Authenticate`` header is the
RFC 6750 challenge. The bearer scheme appears in the OpenAPI document.

This module imports FastAPI; :mod:`realmgate.verifier` itself never imports it.
"""

# No ``from __future__ import annotations``: FastAPI reads the signature of ``__call__``.

from collections.abc import Iterable
from typing import Annotated

import anyio.to_thread
from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._errors import TokenError
from realmgate.verifier._http import bearer_token, challenge, error_body
from realmgate.verifier._verifier import AsyncVerifier, Verifier

__all__ = ["RequireToken"]

# Only documents the scheme in OpenAPI; the header is parsed by :func:`bearer_token`.
_bearer_scheme = HTTPBearer(auto_error=False)


class RequireToken:
    """A dependency returning the verified :class:`AccessTokenClaims` of the request.

    ``roles`` and ``scopes`` are required in addition to the verifier's own; ``realm`` is the
    optional ``realm`` of the challenges. A sync :class:`Verifier` runs in a worker thread.
    """

    def __init__(
        self,
        verifier: Verifier | AsyncVerifier,
        *,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        realm: str | None = None,
    ) -> None:
        self.verifier = verifier
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        self.realm = realm

    async def __call__(
        self,
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)],
    ) -> AccessTokenClaims:
        try:
            token = bearer_token(request.headers.get("authorization"))
            if token is None:
                raise self._refusal(None)
            return await self._verify(token)
        except TokenError as error:
            raise self._refusal(error) from None

    async def _verify(self, token: str) -> AccessTokenClaims:
        if isinstance(self.verifier, AsyncVerifier):
            return await self.verifier.verify(token, roles=self.roles, scopes=self.scopes)
        verifier = self.verifier
        return await anyio.to_thread.run_sync(
            lambda: verifier.verify(token, roles=self.roles, scopes=self.scopes)
        )

    def _refusal(self, error: TokenError | None) -> HTTPException:
        return HTTPException(
            status_code=401 if error is None else error.status_code,
            detail=error_body(error),
            headers={"WWW-Authenticate": challenge(error, self.realm)},
        )
