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
