"""Validation of client and realm configuration given by an admin (CLI or admin API)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from realmgate.server.core.mtls import parse_san, parse_subject_dn
from realmgate.server.core.policy import RESERVED_CLAIMS
from realmgate.server.storage.records import AuthMethod, ClientRecord
from realmgate.wire.names import is_role

AUTH_METHODS: tuple[AuthMethod, ...] = (
    "client_secret",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
)
# Methods that never accept the client's secret: it is never shown.
KEY_METHODS = frozenset({"private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"})
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


# Sender-constrained tokens ----------------------------------------------------------------
# A client's token binding by name: (dpop_bound, cert_bound).
BINDINGS: dict[str, tuple[bool, bool]] = {
    "none": (False, False),
    "dpop": (True, False),
    "cert": (False, True),
    "dpop+cert": (True, True),
}
SAN_KINDS = ("dns", "uri", "ip", "email")
MAX_SUBJECT_CHARS = 1024
HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def check_binding(value: str) -> tuple[bool, bool]:
    """``none``, ``dpop``, ``cert`` or ``dpop+cert`` as (dpop_bound, cert_bound)."""
    found = BINDINGS.get(value)
    if found is None:
        raise ConfigError(f"the binding must be one of {', '.join(BINDINGS)}, not {value[:30]!r}")
    return found


def binding_name(dpop_bound: bool, cert_bound: bool) -> str:
    return {v: k for k, v in BINDINGS.items()}[(dpop_bound, cert_bound)]


def check_subject_dn(dn: str) -> str:
    """A certificate subject DN as an RFC 4514 string (what tls_client_auth matches), read as
    the matching reads it (:func:`realmgate.server.core.mtls.parse_subject_dn`)."""
    if not dn.strip() or len(dn) > MAX_SUBJECT_CHARS:
        raise ConfigError(f"the subject DN must be 1 to {MAX_SUBJECT_CHARS} characters")
    try:
        parse_subject_dn(dn)
    except ValueError:
        raise ConfigError(
            "the subject DN must be an RFC 4514 string, e.g. 'CN=svc,O=Example,C=DE'"
        ) from None
    return dn


REGEX_CHARS = frozenset("*?()[]{}|^$")


def is_regex_dn(dn: str) -> bool:
    """Whether a Keycloak subject DN read as a regular expression (Keycloak's default,
    ``x509.allow.regex.pattern.comparison``) uses a pattern: realmgate compares names only."""
    return bool(set(dn) & REGEX_CHARS) or ".*" in dn


def _dns_name(name: str) -> bool:
    labels = name.lower().rstrip(".").split(".")
    return len(name) <= 253 and all(
        0 < len(label) <= 63
        and set(label) <= HOST_CHARS
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def check_tls_san(san: str) -> str:
    """A subject alternative name ``dns:<name>``, ``uri:<uri>``, ``ip:<address>`` or
    ``email:<address>`` (RFC 8705 §2.1.2); the kind written in lower case."""
    kind, sep, value = san.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in SAN_KINDS or not value or len(san) > MAX_SUBJECT_CHARS:
        raise ConfigError(
            "the subject alternative name must be dns:<name>, uri:<uri>, ip:<address> or "
            f"email:<address> (at most {MAX_SUBJECT_CHARS} characters)"
        )
    if kind == "dns" and not _dns_name(value):
        raise ConfigError(f"dns:{value[:70]!r} is not a DNS name")
    if kind == "uri":
        parts = urlsplit(value)
        if not parts.scheme or not (parts.netloc or parts.path) or " " in value:
            raise ConfigError(f"uri:{value[:70]!r} is not an absolute URI")
    if kind == "ip":
        try:
            value = str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ConfigError(f"ip:{value[:70]!r} is not an IP address") from None
    if kind == "email":
        local, at, domain = value.rpartition("@")
        if not at or not local or not _dns_name(domain):
            raise ConfigError(f"email:{value[:70]!r} is not an e-mail address")
    try:  # as the matching reads it
        parse_san(f"{kind}:{value}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return f"{kind}:{value}"


def check_client_auth(
    auth_method: str,
    *,
    jwks: dict[str, Any] | None,
    jwks_uri: str | None,
    tls_subject_dn: str | None,
    tls_san: str | None,
) -> None:
    """What a client's authentication method needs of its other fields (RFC 8705 §2)."""
    if auth_method == "tls_client_auth" and (tls_subject_dn is None) == (tls_san is None):
        raise ConfigError(
            "a tls_client_auth client needs exactly one of a subject DN or a subject "
            "alternative name"
        )
    if auth_method != "tls_client_auth" and (tls_subject_dn or tls_san):
        raise ConfigError("a subject DN or alternative name is for tls_client_auth clients only")
    if auth_method == "self_signed_tls_client_auth" and jwks is None:
        raise ConfigError(
            "a self_signed_tls_client_auth client needs a JWKS holding its certificate's key"
        )
    if auth_method == "private_key_jwt" and (jwks is None) == (jwks_uri is None):
        raise ConfigError("a private_key_jwt client needs exactly one of a JWKS or a JWKS URI")


def sender_changes(
    auth_method: str | None,
    dpop_bound: bool | None,
    cert_bound: bool | None,
    tls_subject_dn: str | None,
    tls_san: str | None,
) -> dict[str, Any]:
    """Checked ClientRecord fields of the authentication method and token binding (None: not
    given; ``""``: no subject DN or alternative name). Raises ConfigError."""
    changes: dict[str, Any] = {}
    if auth_method is not None:
        if auth_method not in AUTH_METHODS:
            raise ConfigError(
                f"unknown auth method {auth_method[:40]!r}: use one of {AUTH_METHODS}"
            )
        changes["auth_method"] = auth_method
    if dpop_bound is not None:
        changes["dpop_bound"] = dpop_bound
    if cert_bound is not None:
        changes["cert_bound"] = cert_bound
    if tls_subject_dn is not None:
        changes["tls_subject_dn"] = check_subject_dn(tls_subject_dn) if tls_subject_dn else None
    if tls_san is not None:
        changes["tls_san"] = check_tls_san(tls_san) if tls_san else None
    return changes


def changed_client(client: ClientRecord, changes: dict[str, Any]) -> ClientRecord:
    """``client`` with ``changes``, checked as a whole: a client leaving ``tls_client_auth``
    loses its subject; one cannot become ``client_secret_jwt`` (its secret is not kept)."""
    updated = replace(client, **changes)
    if updated.auth_method != "tls_client_auth":
        updated = replace(updated, tls_subject_dn=None, tls_san=None)
    if updated.auth_method == "client_secret_jwt" and updated.secret_enc is None:
        raise ConfigError("a client is client_secret_jwt only from its creation")
    check_client_auth(
        updated.auth_method,
        jwks=updated.jwks,
        jwks_uri=updated.jwks_uri,
        tls_subject_dn=updated.tls_subject_dn,
        tls_san=updated.tls_san,
    )
    return updated
