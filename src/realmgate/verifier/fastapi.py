"""FastAPI dependency that requires a valid access token (needs ``realmgate[fastapi]``).

.. code-block:: python

    verifier = AsyncVerifier.from_realm("https://sso.example.com", "acme", audience="api")
    require_admin = RequireToken(verifier, roles=["tenant-admin"])

    @app.patch("/settings")
    async def patch(claims: Annotated[AccessTokenClaims, Depends(require_admin)]) -> ...: ...

Refusals raise :class:`fastapi.HTTPException` 401 or 403 whose ``detail`` is
``{"error": ..., "error_description": ...}`` and whose ``WWW-Authenticate`` header is the
RFC 6750 (``Bearer``) or RFC 9449 (``DPoP``) challenge. The bearer scheme appears in the
OpenAPI document. DPoP-bound and certificate-bound tokens are checked as by
:class:`~realmgate.verifier.asgi.BearerAuthMiddleware` (same options: ``public_url`` enables
DPoP).

This module imports FastAPI; :mod:`realmgate.verifier` itself never imports it.
"""

# No ``from __future__ import annotations``: FastAPI reads the signature of ``__call__``.

from collections.abc import Iterable, Sequence
from typing import Annotated

from fastapi import HTTPException, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from realmgate.jose.dpop import DPOP_ALGS
from realmgate.verifier._binding import (
    Credentials,
    ProtectedRequest,
    SenderConstraint,
    parse_authorization,
)
from realmgate.verifier._certs import TrustedProxyCerts
from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._dpop import DpopNonces, ReplayCache
from realmgate.verifier._errors import TokenError, UseDpopNonceError
from realmgate.verifier._verifier import AsyncVerifier, Verifier
from realmgate.verifier.asgi import (
    check_public_url,
    protected_request,
    refusal_body,
    verify_protected,
)

__all__ = ["RequireToken"]

# Only documents the scheme in OpenAPI; the header is parsed by :func:`parse_authorization`.
_bearer_scheme = HTTPBearer(auto_error=False)


class RequireToken:
    """A dependency returning the verified :class:`AccessTokenClaims` of the request.

    ``roles`` and ``scopes`` are required in addition to the verifier's own; ``realm`` is the
    optional ``realm`` of the challenges. A sync :class:`Verifier` runs in a worker thread.
    ``public_url``, ``dpop_nonces``, ``replay_cache``, ``trusted_certs``, ``dpop_max_age`` and
    ``dpop_algs``: as for :class:`~realmgate.verifier.asgi.BearerAuthMiddleware`. With nonces,
    a successful DPoP request's response carries the current ``DPoP-Nonce``.
    """

    def __init__(
        self,
        verifier: Verifier | AsyncVerifier,
        *,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        realm: str | None = None,
        public_url: str | None = None,
        dpop_nonces: DpopNonces | None = None,
        replay_cache: ReplayCache | None = None,
        trusted_certs: TrustedProxyCerts | None = None,
        dpop_max_age: int = 60,
        dpop_algs: Sequence[str] = DPOP_ALGS,
    ) -> None:
        self.verifier = verifier
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        self.realm = realm
        self.public_url = check_public_url(public_url)
        self.trusted_certs = trusted_certs
        self.binding = SenderConstraint(
            dpop=public_url is not None,
            replay_cache=replay_cache,
            nonces=dpop_nonces,
            max_age=dpop_max_age,
            algs=dpop_algs,
        )

    async def __call__(
        self,
        request: Request,
        response: Response,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)],
    ) -> AccessTokenClaims:
        try:
            credentials = parse_authorization(
                request.headers.get("authorization"), dpop=self.binding.dpop
            )
            if credentials is None:
                raise self._refusal(None)
            claims = await self._verify(credentials, self._request(request))
        except TokenError as error:
            raise self._refusal(error) from None
        if credentials.scheme == "DPoP":
            nonce = self.binding.response_nonce(self.verifier.clock())
            if nonce is not None:
                response.headers["DPoP-Nonce"] = nonce
        return claims

    def _request(self, request: Request) -> ProtectedRequest:
        return protected_request(request.scope, self.public_url, self.trusted_certs)

    async def _verify(
        self, credentials: Credentials, request: ProtectedRequest
    ) -> AccessTokenClaims:
        return await verify_protected(
            self.verifier, credentials, request, self.binding, self.roles, self.scopes
        )

    def _refusal(self, error: TokenError | None) -> HTTPException:
        headers = {"WWW-Authenticate": self.binding.challenge(error, self.realm)}
        if isinstance(error, UseDpopNonceError):
            headers["DPoP-Nonce"] = error.nonce
        return HTTPException(
            status_code=401 if error is None else error.status_code,
            detail=refusal_body(error, self.binding),
            headers=headers,
        )
