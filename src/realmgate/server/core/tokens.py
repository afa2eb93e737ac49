"""Access tokens: JWTs with Keycloak-compatible service-account claims (PRODUCT.md), or the
RFC 9068 profile (header ``typ: at+jwt``) for clients that ask for it.

Tokens are never stored; their ``jti`` identifies them for revocation.
"""

from __future__ import annotations

import uuid
from typing import Any

from realmgate.jose import sign
from realmgate.server.core.policy import custom_claims
from realmgate.server.core.realms import Realm
from realmgate.server.storage.records import ClientRecord

RFC9068_TYP = "at+jwt"


def lifespan(realm: Realm, client: ClientRecord) -> int:
    """The client's lifespan, else the tenant's, never above the tenant's maximum."""
    wanted = client.access_token_lifespan or realm.tenant.access_token_lifespan
    return max(1, min(wanted, realm.tenant.session_max_lifespan))


def not_before_policy(realm: Realm, client: ClientRecord) -> int:
    return max(realm.tenant.not_before, client.not_before)


def access_token_claims(
    realm: Realm,
    client: ClientRecord,
    *,
    scope: str,
    audience: str | list[str],
    now: int,
    expires_in: int,
) -> dict[str, Any]:
    claims = custom_claims(client)
    if client.token_profile == "rfc9068":
        claims.update(
            {
                "iss": realm.issuer,
                "exp": now + expires_in,
                "aud": audience,
                "sub": client.sub,
                "client_id": client.client_id,
                "iat": now,
                "jti": str(uuid.uuid4()),
                "scope": scope,
                "roles": list(client.roles),
                "tenant": realm.shortcode,
            }
        )
        return claims
    claims.update(
        {
            "exp": now + expires_in,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": realm.issuer,
            "aud": audience,
            "sub": client.sub,
            "typ": "Bearer",
            "azp": client.client_id,
            "client_id": client.client_id,
            "preferred_username": f"service-account-{client.client_id}".lower(),
            "scope": scope,
            "realm_access": {"roles": list(client.roles)},
            "tenant": realm.shortcode,
        }
    )
    return claims


def issue_token(
    realm: Realm, client: ClientRecord, *, scope: str, audience: str | list[str], now: int
) -> dict[str, Any]:
    """Sign an access token and return the token response (RFC 6749 §5.1, seed fields)."""
    expires_in = lifespan(realm, client)
    claims = access_token_claims(
        realm, client, scope=scope, audience=audience, now=now, expires_in=expires_in
    )
    typ = RFC9068_TYP if client.token_profile == "rfc9068" else "JWT"
    return {
        "access_token": sign(realm.signing_key, claims, typ=typ),
        "expires_in": expires_in,
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": not_before_policy(realm, client),
        "scope": scope,
    }
