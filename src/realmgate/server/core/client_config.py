"""Validation of client and realm configuration given by an admin (CLI or admin API)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from realmgate.server.core.policy import RESERVED_CLAIMS
from realmgate.wire.names import is_role

MIN_LIFESPAN = 60
MAX_LIFESPAN = 366 * 24 * 3600
SCOPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/")
MAX_CLAIMS_BYTES = 4096
MAX_EXTRA_BYTES = 65536  # Keycloak fields kept and echoed, as JSON
MAX_SECRET_CHARS = 512
# Client roles of a realm's ``realm-management`` client (Keycloak's AdminRoles), carried in
# tokens as resource_access.realm-management.roles.
ADMIN_ROLE_NAMES: tuple[str, ...] = (
    "realm-admin",
    "manage-realm",
    "view-realm",
    "manage-clients",
    "view-clients",
    "query-clients",
    "create-client",
    "manage-users",
    "view-users",
    "query-users",
    "query-realms",
    "view-events",
    "manage-events",
)


class ConfigError(ValueError):
    """A configuration value is invalid; the message says which and why."""


def check_lifespan(name: str, value: int) -> int:
    if not MIN_LIFESPAN <= value <= MAX_LIFESPAN:
        raise ConfigError(f"{name} must be between {MIN_LIFESPAN} and {MAX_LIFESPAN} seconds")
    return value


def check_scope_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= SCOPE_CHARS:
        raise ConfigError(f"invalid scope name {name[:70]!r}")
    return name


def check_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    for role in roles:
        if not is_role(role):
            raise ConfigError(f"invalid role {role[:70]!r}")
    return tuple(dict.fromkeys(roles))


def check_audiences(audiences: tuple[str, ...]) -> tuple[str, ...]:
    for aud in audiences:
        parts = urlsplit(aud)
        if not parts.scheme or not parts.netloc or parts.fragment or len(aud) > 2048:
            raise ConfigError(f"audience {aud[:70]!r} must be an absolute URI without a fragment")
    return tuple(dict.fromkeys(audiences))


def check_claims(claims: dict[str, Any]) -> dict[str, Any]:
    reserved = sorted(set(claims) & RESERVED_CLAIMS)
    if reserved:
        raise ConfigError(f"reserved claims cannot be set: {', '.join(reserved)}")
    if len(json.dumps(claims)) > MAX_CLAIMS_BYTES:
        raise ConfigError(f"custom claims must stay under {MAX_CLAIMS_BYTES} bytes of JSON")
    return claims


def check_jwks(jwks: Any) -> dict[str, Any]:
    """A public JWKS for private_key_jwt: asymmetric signature keys only, no private parts."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ConfigError('the JWKS must be a JSON object with a non-empty "keys" array')
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
            raise ConfigError("the JWKS may hold only RSA, EC and OKP public keys")
        if any(p in jwk for p in ("d", "p", "q", "dp", "dq", "qi")):
            raise ConfigError("the JWKS holds a private key: register the public key only")
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"the JWKS cannot be read: {type(exc).__name__}") from None
    return jwks


def check_jwks_uri(uri: str) -> str:
    parts = urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigError("the JWKS URI must be https (http only on loopback)")
    return uri


def check_admin_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [r for r in roles if r not in ADMIN_ROLE_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown realm-management roles: {', '.join(r[:70] for r in unknown[:5])}"
        )
    return tuple(dict.fromkeys(roles))


def check_extra(extra: Any) -> dict[str, Any]:
    """Keycloak fields kept and echoed: a JSON object of bounded size."""
    if not isinstance(extra, dict):
        raise ConfigError("the extra fields must be a JSON object")
    try:
        size = len(json.dumps(extra))
    except (TypeError, ValueError):
        raise ConfigError("the extra fields must be JSON") from None
    if size > MAX_EXTRA_BYTES:
        raise ConfigError(f"the extra fields must stay under {MAX_EXTRA_BYTES} bytes of JSON")
    return extra


def check_secret(secret: str) -> str:
    if not secret or len(secret) > MAX_SECRET_CHARS:
        raise ConfigError(f"a client secret must be 1 to {MAX_SECRET_CHARS} characters")
    return secret


def check_text(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise ConfigError(f"{name} must be at most {limit} characters")
    return value
