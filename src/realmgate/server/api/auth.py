"""Bearer authentication for the tenant API, through :mod:`realmgate.verifier`.

The realm is found from the token's issuer; only that realm's keys can verify it, so a token
of tenant A can never act on tenant B. The tenant's not-before policy is enforced here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from realmgate.server.core.introspection import realm_resolver, token_kid
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.core.token_state import inactive_reason
from realmgate.verifier import (
    AccessTokenClaims,
    InvalidTokenError,
    TokenPolicy,
    unverified_issuer,
    verify_token,
)


class MissingToken(Exception):
    """No bearer credentials at all (RFC 6750 §3.1: the challenge carries no error code)."""


@dataclass(frozen=True, slots=True)
class Caller:
    realm: Realm
    claims: AccessTokenClaims


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise MissingToken()
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken()
    token = token.strip()
    if not token or " " in token:
        raise InvalidTokenError("The Authorization header is malformed")
    return token


async def authenticate(directory: Directory, authorization: str | None) -> Caller:
    token = bearer_token(authorization)
    issuer = unverified_issuer(token)
    prefix = f"{directory.settings.sso_base}/realms/"
    tenant = issuer[len(prefix) :] if issuer.startswith(prefix) else ""
    realm = await directory.realm(tenant) if tenant else None
    if realm is None:
        raise InvalidTokenError("The access token's issuer is not trusted")
    realm = await directory.realm_with_kid(realm, token_kid(token))
    now = time.time()
    policy = TokenPolicy(issuers=(realm.issuer,), audience=directory.settings.audience)
    claims = verify_token(token, realm_resolver(realm, now), policy, now=now)
    if await inactive_reason(directory, realm, claims) is not None:
        raise InvalidTokenError("The access token was revoked")
    return Caller(realm, claims)
