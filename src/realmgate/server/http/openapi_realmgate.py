"""realmgate's admin extensions in the OpenAPI document (``/admin/realmgate``): onboarding,
clients and their secrets, keys and their rotation period, tenant settings, the throttle and
the audit trail. Bodies are the CLI's ``--json`` documents (``core/admin_views.py``); errors
are Keycloak's shapes, as on ``/admin/realms``; every status an operation can answer is
listed (the fuzz tests hold the server to it)."""

from __future__ import annotations

from typing import Any

from realmgate.server.http.openapi_admin import KC_ERROR

_STR = {"type": "string"}
_INT = {"type": "integer"}
_STRS = {"type": "array", "items": _STR}
_OBJ: dict[str, Any] = {"type": "object"}
_TIME = {"type": ["string", "null"], "description": "ISO 8601, UTC"}

CREDENTIALS = {
    "type": "object",
    "description": "Credentials handed out once (no clientSecret for private_key_jwt, "
    "tls_client_auth and self_signed_tls_client_auth).",
    "required": ["tenantShortcode", "clientId"],
    "properties": {"tenantShortcode": _STR, "clientId": _STR, "clientSecret": _STR},
}
TENANT = {
    "type": "object",
    "description": "The tenant settings with its lifespans (and, shown, its clients' ids).",
    "required": ["shortcode", "name"],
    "properties": {
        "shortcode": _STR,
        "name": _STR,
        "accessTokenLifespan": _INT,
        "dpopRequired": {"type": "boolean"},
    },
}
CLIENT = {
    "type": "object",
    "description": "A client, never its secret.",
    "required": ["tenant", "clientId", "enabled", "roles"],
    "properties": {
        "tenant": _STR,
        "clientId": _STR,
        "enabled": {"type": "boolean"},
        "authMethod": _STR,
        "binding": {"enum": ["none", "dpop", "cert", "dpop+cert"]},
        "tlsSubjectDn": {"type": ["string", "null"]},
        "tlsSan": {"type": ["string", "null"]},
    },
}
AUTH_METHOD = {
    "enum": [
        "client_secret",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ]
}
# Sender-constrained tokens (RFC 9449 DPoP, RFC 8705 mTLS) and the tls_client_auth subject:
# an RFC 4514 DN, or a SAN "dns:", "uri:", "ip:", "email:" (null or "": none).
SENDER = {
    "binding": {"type": "string", "enum": ["none", "dpop", "cert", "dpop+cert"]},
    "tlsSubjectDn": {"type": ["string", "null"]},
    "tlsSan": {"type": ["string", "null"]},
}
KEY = {
    "type": "object",
    "required": ["kid", "alg", "status"],
    "properties": {"kid": _STR, "alg": _STR, "status": _STR, "createdAt": _TIME},
}
NOT_BEFORE = {
    "type": "object",
    "required": ["tenant", "notBefore"],
    "properties": {"tenant": _STR, "clientId": _STR, "notBefore": _TIME},
}
KEY_POLICY = {
    "type": "object",
    "description": "rotationPeriod: the tenant's own period in seconds (0: never; null: the "
    "server's key_rotation_period).",
    "required": ["tenant", "rotationPeriod", "effectiveRotationPeriod"],
    "properties": {
        "tenant": _STR,
        "rotationPeriod": {"type": ["integer", "null"]},
        "effectiveRotationPeriod": _INT,
    },
}
THROTTLE = {
    "type": "object",
    "required": ["tenant", "clients", "sources"],
    "properties": {
        "tenant": _STR,
        "clients": {"type": "array", "items": _OBJ},
        "sources": {"type": "array", "items": _OBJ},
    },
}
UNBLOCKED = {
    "type": "object",
    "required": ["tenant", "unblocked"],
    "properties": {"tenant": _STR, "unblocked": _OBJ},
}
AUDIT = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["at", "actor", "action", "tenant", "target", "details"],
        "properties": {"at": _TIME, "actor": _STR, "action": _STR, "target": _STR},
    },
}


def _param(name: str, where: str, description: str, schema: Any = _STR) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


T = _param("tenant", "path", "The tenant shortcode.")
C = _param("clientId", "path", "The client id.")


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_TEXTS = {
    400: "Invalid input (errorMessage says which) or unreadable JSON",
    401: "No, expired, invalid or revoked token",
    403: "The token lacks the role, or is of another tenant and not master's admin",
    404: "No such tenant or client (or route)",
    409: "Exists already, or changed concurrently",
    413: "Body over admin_max_body_bytes",
    415: "The body is not JSON",
    429: "Over the admin client's rate (Retry-After)",
}


def _op(
    summary: str,
    params: list[dict[str, Any]],
    ok: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    statuses = (400, 401, 403, 404, 429) + ((409, 413, 415) if body is not None else ())
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["realmgate admin"],
        "security": [{"bearer": []}],
        "parameters": params,
        "responses": {**ok, **{str(s): _json(KC_ERROR, _TEXTS[s]) for s in statuses}},
    }
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


def _ok(schema: Any, description: str, status: int = 200) -> dict[str, Any]:
    return {str(status): _json(schema, description)}


_DONE = {"204": {"description": "Done"}}


def _fields(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


def realmgate_paths() -> dict[str, Any]:
    x = "/admin/realmgate"
    tenant = x + "/tenants/{tenant}"
    client = tenant + "/clients/{clientId}"
    scopes = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
    client_patch = _fields(
        enabled={"type": "boolean"},
        accessTokenLifespan=_INT,
        roles=_STRS,
        defaultScopes=_STRS,
        optionalScopes=_STRS,
        audiences=_STRS,
        claims=_OBJ,
        tokenProfile=_STR,
        jwks=_OBJ,
        jwksUri=_STR,
        authMethod=AUTH_METHOD,
        **SENDER,
    )
    return {
        x + "/tenants": {
            "get": _op("Tenants the caller may view", [], _ok({"type": "array"}, "Tenants")),
            "post": _op(
                "Onboard a tenant (master: create-realm): its first client's credentials",
                [],
                _ok(CREDENTIALS, "Created", 201),
                body=_fields(shortcode=_STR, name=_STR, signingAlg=_STR, clientId=_STR),
            ),
        },
        tenant: {
            "get": _op("A tenant, with its clients' ids", [T], _ok(TENANT, "The tenant")),
            "patch": _op(
                "Lifespans, client scopes (null removes a scope), DPoP required of every client",
                [T],
                _ok(TENANT, "The tenant"),
                body=_fields(
                    accessTokenLifespan=_INT,
                    sessionMaxLifespan=_INT,
                    clientScopes=scopes,
                    dpopRequired={"type": "boolean"},
                ),
            ),
            "delete": _op("Delete a tenant with its clients and keys", [T], _DONE),
        },
        tenant + "/revoke-tokens": {
            "post": _op("Not-before: the tenant's tokens until now", [T], _ok(NOT_BEFORE, "Done")),
        },
        tenant + "/clients": {
            "get": _op("Clients", [T], _ok({"type": "array", "items": CLIENT}, "Clients")),
            "post": _op(
                "Create a client: its credentials, once",
                [T],
                _ok(CREDENTIALS, "Created", 201),
                body=_fields(
                    clientId=_STR,
                    roles=_STRS,
                    authMethod=AUTH_METHOD,
                    jwks=_OBJ,
                    jwksUri=_STR,
                    **SENDER,
                ),
            ),
        },
        client: {
            "get": _op("A client", [T, C], _ok(CLIENT, "The client")),
            "patch": _op(
                "Change a client (accessTokenLifespan 0: the tenant's)",
                [T, C],
                _ok(CLIENT, "The client"),
                body=client_patch,
            ),
            "delete": _op("Delete a client", [T, C], _DONE),
        },
        client + "/rotate-secret": {
            "post": _op(
                "A new secret; the previous one works for grace seconds",
                [T, C],
                _ok(CREDENTIALS, "The new secret, once"),
                body=_fields(grace=_INT),
            ),
        },
        client + "/end-previous-secret": {
            "post": _op("End the previous secret now", [T, C], _ok(CLIENT, "The client")),
        },
        client + "/revoke-tokens": {
            "post": _op("Not-before: the client's tokens until now", [T, C], _ok(NOT_BEFORE, "")),
        },
        tenant + "/keys": {
            "get": _op("Signing keys", [T], _ok({"type": "array", "items": KEY}, "Keys")),
        },
        tenant + "/keys/rotate": {
            "post": _op(
                "Sign with a new key (emergency: the old one is removed at once)",
                [T],
                _ok(KEY, "The new key"),
                body=_fields(algorithm=_STR, emergency={"type": "boolean"}),
            ),
        },
        tenant + "/key-policy": {
            "get": _op("The scheduled rotation's period", [T], _ok(KEY_POLICY, "Policy")),
            "put": _op(
                "Set the tenant's own rotation period",
                [T],
                _ok(KEY_POLICY, "Policy"),
                body=_fields(rotationPeriod={"type": ["integer", "null"]}),
            ),
        },
        tenant + "/settings": {
            "get": _op("The tenant settings", [T], _ok(TENANT, "Settings")),
            "patch": _op(
                "Change the tenant settings (JSON merge patch)",
                [T],
                _ok(TENANT, "Settings"),
                body=_OBJ,
            ),
        },
        tenant + "/throttle": {
            "get": _op("What the throttle blocks for the tenant", [T], _ok(THROTTLE, "Blocks")),
            "delete": _op(
                "Unblock a client, a source, or everything of the tenant, on every node",
                [
                    T,
                    _param("clientId", "query", "Unblock this client."),
                    _param("source", "query", "Unblock this address (IPv6: its /64)."),
                ],
                _ok(UNBLOCKED, "What was unblocked"),
            ),
        },
        x + "/audit": {
            "get": _op(
                "The audit trail, newest first (no tenant: master admin only)",
                [
                    _param("tenant", "query", "Only this tenant."),
                    _param("actor", "query", "Only this actor."),
                    _param("action", "query", "Only this action; 'client.*': a prefix."),
                    _param("since", "query", "From (ISO 8601 or Unix seconds)."),
                    _param("until", "query", "Up to (ISO 8601 or Unix seconds)."),
                    _param("first", "query", "Skip this many.", _INT),
                    _param("max", "query", "At most this many (1-10000, default 100).", _INT),
                ],
                _ok(AUDIT, "Events"),
            ),
        },
    }


__all__ = ["realmgate_paths"]
