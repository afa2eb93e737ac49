"""Mapping between storage records and table rows (options blobs stay JSON in the database).

Records read for the servers' caches are kept by the ten thousand, so their small repeated
parts are shared: short enumerated strings (roles, methods, algorithms) are interned and equal
JSON values of tenants (settings, client scopes: mostly the defaults) are one object. Records
are immutable and nothing mutates their dicts in place (changes copy them first).
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any, TypeVar, cast

from realmgate.server.storage.records import (
    DEFAULT_CLIENT_SCOPES,
    ClientRecord,
    KeyRecord,
    RoleRecord,
    TenantRecord,
)

J = TypeVar("J")
S = TypeVar("S", bound=str)
MAX_SHARED = 4096  # distinct shared JSON values kept
_shared: dict[str, Any] = {}


def shared(value: J) -> J:
    """One object for every equal JSON value (bounded: past ``MAX_SHARED`` values, a copy)."""
    key = json.dumps(value, sort_keys=True, separators=(",", ":"))
    found = _shared.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    if len(_shared) < MAX_SHARED:
        _shared[key] = value
    return value


def intern_name(value: S) -> S:
    """Short names (roles, methods, algorithms) as one shared string each."""
    return cast(S, sys.intern(value)) if len(value) <= 64 else value


def _opt_tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(intern_name(v) for v in value)


def _list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def tenant_from_row(
    row: Any, shortcode: str | None = None, *, shared_json: bool = False
) -> TenantRecord:
    """``shortcode``: the caller's equal string, kept instead of the row's copy;
    ``shared_json``: share equal settings and client scopes with other records."""
    options = dict(row.options or {})
    settings = dict(row.settings)
    client_scopes = dict(options.get("client_scopes", DEFAULT_CLIENT_SCOPES))
    extra = dict(options.get("extra") or {})
    if shared_json:
        settings, client_scopes = shared(settings), shared(client_scopes)
        extra = extra if extra else shared(extra)
    return TenantRecord(
        shortcode=row.shortcode if shortcode is None else shortcode,
        name=row.name,
        signing_alg=intern_name(row.signing_alg),
        settings=settings,
        access_token_lifespan=row.access_token_lifespan,
        session_max_lifespan=row.session_max_lifespan,
        not_before=row.not_before,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        client_scopes=client_scopes,
        enabled=bool(row.enabled),
        realm_id=row.realm_id,
        extra=extra,
        key_rotation_period=options.get("key_rotation_period"),
        dpop_required=bool(row.dpop_required),
    )


def client_from_row(
    row: Any, tenant: str | None = None, client_id: str | None = None, *, shared_json: bool = False
) -> ClientRecord:
    """``tenant``, ``client_id``: the caller's equal strings, kept instead of the row's;
    ``shared_json``: an empty ``claims`` or ``extra`` is one shared dict."""
    options = dict(row.options or {})
    claims = dict(options.get("claims") or {})
    extra = dict(options.get("extra") or {})
    if shared_json:  # the empty ones: one shared dict each
        claims = claims if claims else shared(claims)
        extra = extra if extra else shared(extra)
    return ClientRecord(
        tenant=row.tenant if tenant is None else tenant,
        client_id=row.client_id if client_id is None else client_id,
        sub=row.sub,
        enabled=bool(row.enabled),
        roles=tuple(intern_name(r) for r in row.roles),
        secret_hash=bytes(row.secret_hash),
        created_at=row.created_at,
        updated_at=row.updated_at,
        access_token_lifespan=row.access_token_lifespan,
        previous_secret_hash=_bytes(row.previous_secret_hash),
        previous_secret_expires_at=row.previous_secret_expires_at,
        auth_method=intern_name(row.auth_method),
        secret_enc=_bytes(row.secret_enc),
        previous_secret_enc=_bytes(row.previous_secret_enc),
        not_before=row.not_before,
        default_scopes=_opt_tuple(options.get("default_scopes")),
        optional_scopes=_opt_tuple(options.get("optional_scopes")),
        audiences=_opt_tuple(options.get("audiences")),
        claims=claims,
        token_profile=intern_name(options.get("token_profile", "jwt")),
        jwks=options.get("jwks"),
        jwks_uri=options.get("jwks_uri"),
        version=row.version,
        internal_id=row.internal_id,
        name=options.get("name"),
        description=options.get("description"),
        extra=extra,
        admin_roles=tuple(intern_name(r) for r in options.get("admin_roles") or ()),
        reveal_enc=_bytes(row.reveal_enc),
        reveal_until=row.reveal_until,
        dpop_bound=bool(row.dpop_bound),
        cert_bound=bool(row.cert_bound),
        tls_subject_dn=row.tls_subject_dn,
        tls_san=row.tls_san,
    )


def key_from_row(row: Any) -> KeyRecord:
    return KeyRecord(
        tenant=row.tenant,
        kid=row.kid,
        alg=intern_name(row.alg),
        private_key_enc=bytes(row.private_key_enc),
        public_jwk=dict(row.public_jwk),
        status=row.status,
        created_at=row.created_at,
        verify_until=row.verify_until,
    )


def tenant_values(t: TenantRecord) -> dict[str, Any]:
    return {
        "shortcode": t.shortcode,
        "name": t.name,
        "signing_alg": t.signing_alg,
        "settings": t.settings,
        "access_token_lifespan": t.access_token_lifespan,
        "session_max_lifespan": t.session_max_lifespan,
        "not_before": t.not_before,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "version": t.version,
        "options": {
            "client_scopes": t.client_scopes,
            **({"extra": t.extra} if t.extra else {}),
            **(
                {"key_rotation_period": t.key_rotation_period}
                if t.key_rotation_period is not None
                else {}
            ),
        },
        "enabled": t.enabled,
        "realm_id": t.realm_id,  # given once, at creation (an update keeps the stored one)
        "dpop_required": t.dpop_required,
    }


def client_values(c: ClientRecord) -> dict[str, Any]:
    return {
        "tenant": c.tenant,
        "client_id": c.client_id,
        "sub": c.sub,
        "enabled": c.enabled,
        "roles": list(c.roles),
        "secret_hash": c.secret_hash,
        "previous_secret_hash": c.previous_secret_hash,
        "previous_secret_expires_at": c.previous_secret_expires_at,
        "access_token_lifespan": c.access_token_lifespan,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "auth_method": c.auth_method,
        "secret_enc": c.secret_enc,
        "previous_secret_enc": c.previous_secret_enc,
        "not_before": c.not_before,
        "options": {
            "default_scopes": _list(c.default_scopes),
            "optional_scopes": _list(c.optional_scopes),
            "audiences": _list(c.audiences),
            "claims": c.claims,
            "token_profile": c.token_profile,
            "jwks": c.jwks,
            "jwks_uri": c.jwks_uri,
            **({"name": c.name} if c.name is not None else {}),
            **({"description": c.description} if c.description is not None else {}),
            **({"extra": c.extra} if c.extra else {}),
            **({"admin_roles": list(c.admin_roles)} if c.admin_roles else {}),
        },
        "internal_id": c.internal_id,  # given once, at creation (an update keeps it)
        "reveal_enc": c.reveal_enc,
        "reveal_until": c.reveal_until,
        "dpop_bound": c.dpop_bound,
        "cert_bound": c.cert_bound,
        "tls_subject_dn": c.tls_subject_dn,
        "tls_san": c.tls_san,
    }


def role_from_row(row: Any) -> RoleRecord:
    return RoleRecord(
        tenant=row.tenant,
        name=intern_name(row.name),
        id=row.id,
        description=row.description,
        created_at=row.created_at,
    )


def role_values(r: RoleRecord) -> dict[str, Any]:
    return {
        "tenant": r.tenant,
        "name": r.name,
        "id": r.id or str(uuid.uuid4()),  # roles that clients' writes create have none yet
        "description": r.description,
        "created_at": r.created_at,
    }


def key_values(k: KeyRecord) -> dict[str, Any]:
    return {
        "tenant": k.tenant,
        "kid": k.kid,
        "alg": k.alg,
        "private_key_enc": k.private_key_enc,
        "public_jwk": k.public_jwk,
        "status": k.status,
        "created_at": k.created_at,
        "verify_until": k.verify_until,
    }
