"""The JSON views of admin objects: what ``realmgate ... --json`` prints and what the
``/admin/realmgate`` extension endpoints answer, from one place.

The local CLI (straight on the database), the admin API and the remote CLI (over HTTPS) all
render records through these functions, so a script sees the same document whichever way it
runs. No view ever holds secret material (hashes, encrypted keys); a client secret appears
only in :func:`credentials_view`, which renders the one answer that hands it out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from realmgate.server.core.admin_clients import IssuedCredentials
from realmgate.server.core.client_config import binding_name
from realmgate.server.core.tenant_settings import represent
from realmgate.server.storage.records import AuditEvent, ClientRecord, KeyRecord, TenantRecord


def ts(value: int | float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC (``2026-12-05T10:00:00+00:00``); None stays None."""
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat()


def parse_time(value: str) -> int:
    """Unix seconds, or an ISO 8601 time (UTC unless it says otherwise), as Unix seconds:
    the ``since``/``until`` of an audit query. Raises ValueError."""
    value = value.strip()
    try:
        return int(value, 10)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def credentials_view(creds: IssuedCredentials) -> dict[str, Any]:
    """A client's credentials as handed out once (no secret for ``private_key_jwt``)."""
    data = {"tenantShortcode": creds.tenant, "clientId": creds.client_id}
    if creds.client_secret:
        data["clientSecret"] = creds.client_secret
    return data


def client_view(c: ClientRecord) -> dict[str, Any]:
    return {
        "tenant": c.tenant,
        "clientId": c.client_id,
        "serviceAccountId": c.sub,
        "enabled": c.enabled,
        "authMethod": c.auth_method,
        "roles": list(c.roles),
        "accessTokenLifespan": c.access_token_lifespan,
        "defaultScopes": None if c.default_scopes is None else list(c.default_scopes),
        "optionalScopes": None if c.optional_scopes is None else list(c.optional_scopes),
        "audiences": None if c.audiences is None else list(c.audiences),
        "claims": c.claims,
        "tokenProfile": c.token_profile,
        "jwks": c.jwks,
        "jwksUri": c.jwks_uri,
        "binding": binding_name(c.dpop_bound, c.cert_bound),
        "tlsSubjectDn": c.tls_subject_dn,
        "tlsSan": c.tls_san,
        "notBefore": ts(c.not_before) if c.not_before else None,
        "previousSecretValidUntil": ts(c.previous_secret_expires_at),
        "createdAt": ts(c.created_at),
        "updatedAt": ts(c.updated_at),
    }


def key_view(k: KeyRecord) -> dict[str, Any]:
    return {
        "kid": k.kid,
        "alg": k.alg,
        "status": k.status,
        "createdAt": ts(k.created_at),
        "verifyUntil": ts(k.verify_until),
    }


def tenant_summary(t: TenantRecord) -> dict[str, Any]:
    """A tenant as ``tenant list`` shows it."""
    return represent(t) | {"signingAlgorithm": t.signing_alg}


def tenant_view(t: TenantRecord, clients: list[ClientRecord]) -> dict[str, Any]:
    """A tenant as ``tenant show`` shows it: its settings and the ids of its clients."""
    return represent(t) | {
        "signingAlgorithm": t.signing_alg,
        "dpopRequired": t.dpop_required,
        "notBefore": t.not_before,
        "clients": [c.client_id for c in clients],
    }


def tenant_config_view(t: TenantRecord) -> dict[str, Any]:
    """A tenant after ``tenant set``: its settings with its lifespans and client scopes."""
    return represent(t) | {"clientScopes": t.client_scopes, "dpopRequired": t.dpop_required}


def not_before_view(tenant: str, at: int, client_id: str | None = None) -> dict[str, Any]:
    """The answer to a not-before revocation (of a tenant, or of one of its clients)."""
    data: dict[str, Any] = {"tenant": tenant, "notBefore": ts(at)}
    if client_id is not None:
        data["clientId"] = client_id
    return data


def audit_view(e: AuditEvent) -> dict[str, Any]:
    return {
        "at": ts(e.at),
        "actor": e.actor,
        "action": e.action,
        "tenant": e.tenant,
        "target": e.target,
        "details": e.details,
    }


def key_policy_view(tenant: str, period: int | None, default: int) -> dict[str, Any]:
    """A tenant's scheduled key rotation: its own period (None: the server's), in force."""
    effective = default if period is None else period
    return {"tenant": tenant, "rotationPeriod": period, "effectiveRotationPeriod": effective}


__all__ = [
    "audit_view",
    "client_view",
    "credentials_view",
    "key_policy_view",
    "key_view",
    "not_before_view",
    "parse_time",
    "tenant_config_view",
    "tenant_summary",
    "tenant_view",
    "ts",
]
