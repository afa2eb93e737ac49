"""Typed access-token claims."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    issuer: str
    subject: str
    audience: tuple[str, ...]
    expires_at: int
    issued_at: int | None
    token_id: str | None
    client_id: str | None
    scopes: frozenset[str]
    roles: frozenset[str]
    tenant: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    # The ``cnf`` claim (RFC 7800) of a sender-constrained token: ``{"jkt": ...}`` for DPoP
    # (RFC 9449 §6), ``{"x5t#S256": ...}`` for a client certificate (RFC 8705 §3.1).
    confirmation: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> AccessTokenClaims:
        aud = claims.get("aud")
        audience = (
            (aud,) if isinstance(aud, str) else tuple(a for a in aud or () if isinstance(a, str))
        )
        scope = claims.get("scope")
        realm_access = claims.get("realm_access")
        # Keycloak-style realm_access.roles, or the top-level "roles" of RFC 9068 §2.2.3.1.
        roles = realm_access.get("roles") if isinstance(realm_access, dict) else claims.get("roles")
        client_id = claims.get("client_id", claims.get("azp"))
        tenant = claims.get("tenant")
        cnf = claims.get("cnf")
        return cls(
            issuer=str(claims["iss"]),
            subject=str(claims.get("sub", "")),
            audience=audience,
            expires_at=int(claims["exp"]),
            issued_at=int(claims["iat"]) if isinstance(claims.get("iat"), int | float) else None,
            token_id=str(claims["jti"]) if claims.get("jti") is not None else None,
            client_id=str(client_id) if client_id is not None else None,
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
            tenant=str(tenant) if isinstance(tenant, str) else None,
            raw=claims,
            # A ``cnf`` that is not an object still marks the token as bound: ``{}`` then,
            # which no request can satisfy.
            confirmation=dict(cnf) if isinstance(cnf, dict) else None if cnf is None else {},
        )
