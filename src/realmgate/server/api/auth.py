"""Bearer authentication for the tenant API, through :mod:`realmgate.verifier`.

The realm is found from the token's issuer; only that realm's keys can verify it, so a token
of tenant A can never act on tenant B. The tenant's not-before policy is enforced here.

:class:`BearerAuth` remembers the tokens it verified (a bounded LRU keyed by the exact token
text, as Envoy's JWT filter does): clients reuse one token for its whole life, so a repeated
token skips the signature check. Everything that can change is still checked on every request:
expiry, the signing key still being trusted, revocation, the tenant's and the client's
not-before times and the client being enabled. Failures are never cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from realmgate.server.core.introspection import realm_resolver, token_kid
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.core.token_state import inactive_reason
from realmgate.verifier import (
    DEFAULT_LEEWAY,
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
    """Verify the bearer token of ``authorization`` completely (no cache)."""
    caller, _ = await _verify(directory, bearer_token(authorization))
    return caller


async def _verify(directory: Directory, token: str) -> tuple[Caller, str]:
    """The caller and the kid that verified the token."""
    issuer = unverified_issuer(token)
    prefix = f"{directory.settings.sso_base}/realms/"
    tenant = issuer[len(prefix) :] if issuer.startswith(prefix) else ""
    realm = await directory.realm(tenant) if tenant else None
    if realm is None:
        raise InvalidTokenError("The access token's issuer is not trusted")
    kid = token_kid(token)
    realm = await directory.realm_with_kid(realm, kid)
    now = time.time()
    policy = TokenPolicy(issuers=(realm.issuer,), audience=directory.settings.audience)
    claims = verify_token(token, realm_resolver(realm, now), policy, now=now)
    if await inactive_reason(directory, realm, claims) is not None:
        raise InvalidTokenError("The access token was revoked")
    assert isinstance(kid, str)  # verify_token refused tokens without a usable kid
    return Caller(realm, claims), kid


@dataclass(frozen=True, slots=True)
class _Verified:
    tenant: str
    kid: str
    claims: AccessTokenClaims


class BearerAuth:
    """Bearer authentication with a cache of verified tokens (``cache_size`` 0: no cache)."""

    def __init__(self, directory: Directory, cache_size: int = 4096):
        self.directory = directory
        self.cache_size = cache_size
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self.hits = 0

    async def authenticate(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        entry = self._verified.get(token)
        if entry is not None:
            caller = await self._recheck(token, entry)
            if caller is not None:
                self.hits += 1
                return caller
        caller, kid = await _verify(self.directory, token)
        if self.cache_size > 0:
            self._verified[token] = _Verified(caller.realm.shortcode, kid, caller.claims)
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return caller

    async def _recheck(self, token: str, entry: _Verified) -> Caller | None:
        """The caller when the cached verification still holds; else forget it (None)."""
        now = time.time()
        realm = await self.directory.realm(entry.tenant)
        if (
            realm is None
            or entry.claims.expires_at + DEFAULT_LEEWAY <= now
            or realm.verify_key(entry.kid, now) is None
        ):
            self._verified.pop(token, None)
            return None
        if await inactive_reason(self.directory, realm, entry.claims) is not None:
            raise InvalidTokenError("The access token was revoked")
        self._verified.move_to_end(token)
        return Caller(realm, entry.claims)
