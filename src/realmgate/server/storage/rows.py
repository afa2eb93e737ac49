"""Mapping between storage records and table rows (options blobs stay JSON in the database)."""

from __future__ import annotations

from typing import Any

from realmgate.server.storage.records import (
    DEFAULT_CLIENT_SCOPES,
    ClientRecord,
    KeyRecord,
    TenantRecord,
)


def _opt_tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def tenant_from_row(row: Any) -> TenantRecord:
    options = dict(row.options or {})
    return TenantRecord(
        shortcode=row.shortcode,
        name=row.name,
        signing_alg=row.signing_alg,
        settings=dict(row.settings),
        access_token_lifespan=row.access_token_lifespan,
        session_max_lifespan=row.session_max_lifespan,
        not_before=row.not_before,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        client_scopes=dict(options.get("client_scopes", DEFAULT_CLIENT_SCOPES)),
    )


def client_from_row(row: Any) -> ClientRecord:
    options = dict(row.options or {})
    return ClientRecord(
        tenant=row.tenant,
        client_id=row.client_id,
        sub=row.sub,
        enabled=bool(row.enabled),
        roles=tuple(row.roles),
        secret_hash=bytes(row.secret_hash),
        created_at=row.created_at,
        updated_at=row.updated_at,
        access_token_lifespan=row.access_token_lifespan,
        previous_secret_hash=_bytes(row.previous_secret_hash),
        previous_secret_expires_at=row.previous_secret_expires_at,
        auth_method=row.auth_method,
        secret_enc=_bytes(row.secret_enc),
        previous_secret_enc=_bytes(row.previous_secret_enc),
        not_before=row.not_before,
        default_scopes=_opt_tuple(options.get("default_scopes")),
        optional_scopes=_opt_tuple(options.get("optional_scopes")),
        audiences=_opt_tuple(options.get("audiences")),
        claims=dict(options.get("claims") or {}),
        token_profile=options.get("token_profile", "jwt"),
        jwks=options.get("jwks"),
        jwks_uri=options.get("jwks_uri"),
        version=row.version,
    )


def key_from_row(row: Any) -> KeyRecord:
    return KeyRecord(
        tenant=row.tenant,
        kid=row.kid,
        alg=row.alg,
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
        },
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
        },
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
