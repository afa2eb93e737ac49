"""The OpenAPI 3.1 document of the token endpoint, introspection, revocation, discovery,
JWKS, the tenant API and the Keycloak-compatible admin API (``GET /openapi.json``;
``openapi_admin.py``). Property-based tests (schemathesis) fuzz the
running server from it."""

from __future__ import annotations

from typing import Any

from realmgate import __version__
from realmgate.server.http.openapi_admin import admin_paths
from realmgate.server.http.openapi_realmgate import realmgate_paths

OAUTH_ERROR = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
JSEND_FAIL = {
    "type": "object",
    "required": ["status", "data", "message"],
    "properties": {
        "status": {"const": "fail"},
        "data": {"type": "object"},
        "message": {"type": "string"},
    },
}
SETTINGS = {
    "type": "object",
    "properties": {
        "shortcode": {"type": "string", "readOnly": True},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "locale": {"type": "string"},
        "timezone": {"type": "string"},
        "defaultTranscriptionLanguage": {"type": ["string", "null"]},
        "transcriptionLanguages": {"type": "array", "items": {"type": "string"}},
        "duplicateCheck": {"type": "boolean"},
        "maxActiveWebhooksPerUser": {"type": "integer", "minimum": 0, "maximum": 1000},
        "accessTokenLifespan": {"type": "integer", "readOnly": True},
        "sessionMaxLifespan": {"type": "integer", "readOnly": True},
        "createdAt": {"type": "string", "readOnly": True},
        "updatedAt": {"type": "string", "readOnly": True},
    },
}
TENANT = {
    "name": "tenant",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The tenant shortcode (realm).",
}

DPOP_HEADER = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "A DPoP proof (RFC 9449) for this request: at the token endpoint it binds "
    "the token to its key (token_type DPoP, cnf.jkt); at the tenant API it goes with "
    "'Authorization: DPoP <token>' and must carry ath, htm and htu of the request.",
}
API_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"dpop": []}]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


CLIENT_AUTH = {
    "client_id": {"type": "string"},
    "client_secret": {"type": "string"},
    "client_assertion_type": {"type": "string"},
    "client_assertion": {"type": "string"},
}
OAUTH_ERRORS = {
    "400": _json(OAUTH_ERROR, "Invalid request (RFC 6749 §5.2)"),
    "401": _json(OAUTH_ERROR, "Client authentication failed"),
    "404": _json(OAUTH_ERROR, "Unknown realm"),
    "413": _json(OAUTH_ERROR, "Body too large"),
    "429": _json(OAUTH_ERROR, "Throttled"),
    "503": _json(OAUTH_ERROR, "Temporarily unavailable"),
}


def document() -> dict[str, Any]:
    oidc = "/realms/{tenant}/protocol/openid-connect"
    return {
        "openapi": "3.1.0",
        "info": {"title": "realmgate", "version": __version__},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "dpop": {"type": "http", "scheme": "DPoP"},
            },
        },
        "paths": {
            f"{oidc}/token": {
                "post": {
                    "summary": "Client credentials grant (RFC 6749 §4.4)",
                    "parameters": [TENANT, DPOP_HEADER],
                    "requestBody": _form(
                        {
                            "grant_type": {"type": "string"},
                            "scope": {"type": "string"},
                            "resource": {"type": "string"},
                            **CLIENT_AUTH,
                        },
                        ["grant_type"],
                    ),
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": [
                                    "access_token",
                                    "expires_in",
                                    "refresh_expires_in",
                                    "token_type",
                                    "not-before-policy",
                                    "scope",
                                ],
                            },
                            "A token",
                        ),
                        **OAUTH_ERRORS,
                    },
                }
            },
            f"{oidc}/token/introspect": {
                "post": {
                    "summary": "Token introspection (RFC 7662)",
                    "parameters": [TENANT],
                    "requestBody": _form({"token": {"type": "string"}, **CLIENT_AUTH}, []),
                    "responses": {
                        "200": _json(
                            {"type": "object", "required": ["active"]}, "Introspection result"
                        ),
                        **OAUTH_ERRORS,
                    },
                }
            },
            f"{oidc}/revoke": {
                "post": {
                    "summary": "Token revocation (RFC 7009)",
                    "parameters": [TENANT],
                    "requestBody": _form(
                        {
                            "token": {"type": "string"},
                            "token_type_hint": {"type": "string"},
                            **CLIENT_AUTH,
                        },
                        [],
                    ),
                    "responses": {"200": {"description": "Revoked (or unknown)"}, **OAUTH_ERRORS},
                }
            },
            f"{oidc}/certs": {
                "get": {
                    "summary": "JWKS",
                    "parameters": [TENANT],
                    "responses": {
                        "200": _json({"type": "object", "required": ["keys"]}, "The keys"),
                        "404": _json(OAUTH_ERROR, "Unknown realm"),
                    },
                }
            },
            "/realms/{tenant}/.well-known/openid-configuration": {
                "get": {
                    "summary": "OpenID Connect discovery",
                    "parameters": [TENANT],
                    "responses": {
                        "200": _json({"type": "object", "required": ["issuer"]}, "Metadata"),
                        "404": _json(OAUTH_ERROR, "Unknown realm"),
                    },
                }
            },
            "/v2/tenants/current/settings": {
                "get": {
                    "summary": "The current tenant's settings",
                    "security": API_SECURITY,
                    "parameters": [DPOP_HEADER],
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"data": SETTINGS}}, "JSend success"
                        ),
                        "400": _json(JSEND_FAIL, "Bad request head"),
                        "401": _json(JSEND_FAIL, "No or invalid token or DPoP proof"),
                        "503": _json(JSEND_FAIL, "DPoP replay check unavailable"),
                    },
                },
                "patch": {
                    "summary": "Change settings (JSON merge patch, RFC 7396)",
                    "security": API_SECURITY,
                    "parameters": [DPOP_HEADER],
                    "requestBody": {
                        "required": True,
                        "content": {"application/merge-patch+json": {"schema": SETTINGS}},
                    },
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"data": SETTINGS}}, "JSend success"
                        ),
                        "400": _json(JSEND_FAIL, "Malformed body"),
                        "401": _json(JSEND_FAIL, "No or invalid token or DPoP proof"),
                        "403": _json(JSEND_FAIL, "Needs tenant-admin"),
                        "413": _json(JSEND_FAIL, "Body too large"),
                        "415": _json(JSEND_FAIL, "Wrong content type"),
                        "422": _json(JSEND_FAIL, "Invalid settings, by field"),
                    },
                },
            },
            **admin_paths(),
            **realmgate_paths(),
        },
    }
