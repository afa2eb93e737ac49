"""Token introspection (RFC 7662) and revocation (RFC 7009).

Both endpoints take an authenticated client of the token's own tenant. Introspection answers
``{"active": false}`` for anything invalid, expired, revoked, of another tenant or issued
before a not-before time, and the token's claims when it is in force. Revocation puts the
token's ``jti`` on the tenant's deny-list (shared by all nodes, kept until the token's
``exp``) and answers 200 for unknown or invalid tokens. A sender-constrained token's
introspection shows its ``cnf`` and, when DPoP-bound, ``"token_type": "DPoP"`` (RFC 9449 §6.2,
RFC 8705 §3.2). A client may revoke its own tokens;
a client with the role ``tenant-admin`` may revoke any token of its tenant.

Both take a token as in force exactly when the tenant API does: the same check with the same
leeway (:data:`~realmgate.verifier.DEFAULT_LEEWAY` on ``exp``, ``nbf`` and ``iat``), so a token
just past its ``exp`` is active here as long as the API still accepts it, and can be revoked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from realmgate.jose import TokenDecodeError, peek_header
from realmgate.server.core.admin import TENANT_ADMIN_ROLE
from realmgate.server.core.client_auth import ClientAuthenticator, extract_credentials
from realmgate.server.core.grants import TokenRequest
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.core.token_state import inactive_reason
from realmgate.server.storage.records import ClientRecord
from realmgate.verifier import (
    DEFAULT_LEEWAY,
    AccessTokenClaims,
    PublicKey,
    TokenError,
    TokenPolicy,
    verify_token,
)
from realmgate.wire.errors import (
    InvalidRequest,
    RealmDisabled,
    RealmNotFound,
    UnauthorizedClient,
)

INACTIVE: dict[str, Any] = {"active": False}
# A revoked token's exp is trusted only after its signature checked; still, cap how long
# a deny-list entry can live.
MAX_REVOCATION_SECONDS = 366 * 24 * 3600


def token_kid(token: str) -> object:
    """The unverified ``kid``, only to decide whether the realm's keys need a reload."""
    try:
        return peek_header(token).get("kid")
    except TokenDecodeError:
        return None


def realm_resolver(realm: Realm, now: float) -> Callable[[str, str], tuple[PublicKey, str] | None]:
    def resolve(issuer: str, kid: str) -> tuple[PublicKey, str] | None:
        key = realm.verify_key(kid, now) if issuer == realm.issuer else None
        return None if key is None else (key.key, key.alg)

    return resolve


class TokenIntrospection:
    def __init__(
        self,
        directory: Directory,
        authenticator: ClientAuthenticator,
        clock: Callable[[], float] = time.time,
    ):
        self.directory = directory
        self.authenticator = authenticator
        self.clock = clock

    async def _caller(self, request: TokenRequest) -> tuple[Realm, ClientRecord, str]:
        realm = await self.directory.realm(request.tenant)
        if realm is None:
            raise RealmNotFound()
        if not realm.tenant.enabled:  # as Keycloak's introspection and revocation endpoints
            raise RealmDisabled()
        creds = extract_credentials(
            request.form, request.authorization, realm.shortcode, cert=request.cert
        )
        client = await self.authenticator.authenticate(
            realm, creds, int(self.clock()), request.source
        )
        token = request.form.get("token")
        if token is None:
            raise InvalidRequest("Missing parameter: token")
        return realm, client, token

    def _verify(self, realm: Realm, token: str) -> AccessTokenClaims | None:
        now = self.clock()
        policy = TokenPolicy(issuers=(realm.issuer,), audience=None, leeway=DEFAULT_LEEWAY)
        try:
            return verify_token(token, realm_resolver(realm, now), policy, now=now)
        except TokenError:
            return None

    async def introspect(self, request: TokenRequest) -> dict[str, Any]:
        realm, _, token = await self._caller(request)
        realm = await self.directory.realm_with_kid(realm, token_kid(token))
        claims = self._verify(realm, token)
        if claims is None or await inactive_reason(self.directory, realm, claims) is not None:
            return INACTIVE
        body = dict(claims.raw)
        body["active"] = True
        cnf = body.get("cnf")
        if isinstance(cnf, dict) and "jkt" in cnf:
            body["token_type"] = "DPoP"
        body.setdefault("token_type", "Bearer")
        if "preferred_username" in body:
            body.setdefault("username", body["preferred_username"])
        return body

    async def revoke(self, request: TokenRequest) -> None:
        realm, caller, token = await self._caller(request)
        realm = await self.directory.realm_with_kid(realm, token_kid(token))
        # A token past exp and its leeway needs no revocation; a bad one is answered 200 all
        # the same.
        claims = self._verify(realm, token)
        if claims is None or claims.token_id is None:
            return
        if claims.client_id != caller.client_id and TENANT_ADMIN_ROLE not in caller.roles:
            raise UnauthorizedClient("The token was not issued to this client.")
        expires_at = min(claims.expires_at, int(self.clock()) + MAX_REVOCATION_SECONDS)
        await anyio.to_thread.run_sync(
            self.directory.store.revoke_token, realm.shortcode, claims.token_id, expires_at
        )
        self.directory.mark_revoked(realm.shortcode, claims.token_id, expires_at)
