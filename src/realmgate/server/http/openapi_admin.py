"""The Keycloak-compatible admin API in the OpenAPI document (``/admin/realms``): paths,
Keycloak's representations as far as realmgate reads and answers them, and every status an
operation can answer (the fuzz tests hold the server to it)."""

from __future__ import annotations

from typing import Any

from realmgate.jose import SUPPORTED_ALGORITHMS

KC_ERROR = {
    "type": "object",
    "description": "Keycloak's error bodies: {error[, error_description]} or {errorMessage}.",
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "errorMessage": {"type": "string"},
    },
}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}
_STRS = {"type": "array", "items": _STR}
_ATTRS = {"type": "object", "additionalProperties": _STR}

REALM = {
    "type": "object",
    "description": "Keycloak's RealmRepresentation. Fields realmgate does not act on are kept "
    "and echoed; a field Keycloak does not have is 400.",
    "properties": {
        "id": _STR,
        "realm": _STR,
        "displayName": _STR,
        "displayNameHtml": _STR,
        "enabled": _BOOL,
        "accessTokenLifespan": _INT,
        "notBefore": _INT,
        "defaultSignatureAlgorithm": {"type": "string", "enum": list(SUPPORTED_ALGORITHMS)},
        "defaultLocale": _STR,
        "attributes": _ATTRS,
    },
}
CLIENT = {
    "type": "object",
    "description": "Keycloak's ClientRepresentation. realmgate's clients are confidential "
    "service-account clients; the secret is never answered here.",
    "properties": {
        "id": _STR,
        "clientId": _STR,
        "name": _STR,
        "description": _STR,
        "enabled": _BOOL,
        "secret": {"type": "string", "writeOnly": True},
        "clientAuthenticatorType": {
            "type": "string",
            "enum": [
                "client-secret",
                "client-jwt",
                "client-secret-jwt",
                "client-x509",
                "realmgate-x509-self-signed",
            ],
        },
        "publicClient": {"const": False},
        "bearerOnly": {"const": False},
        "serviceAccountsEnabled": {"const": True},
        "protocol": {"const": "openid-connect"},
        "standardFlowEnabled": _BOOL,
        "directAccessGrantsEnabled": _BOOL,
        "fullScopeAllowed": _BOOL,
        "redirectUris": _STRS,
        "webOrigins": _STRS,
        "defaultClientScopes": _STRS,
        "optionalClientScopes": _STRS,
        "attributes": _ATTRS,
        "notBefore": {"type": "integer", "readOnly": True},
        "access": {"type": "object", "readOnly": True},
    },
}
ROLE = {
    "type": "object",
    "properties": {
        "id": _STR,
        "name": _STR,
        "description": _STR,
        "composite": _BOOL,
        "clientRole": _BOOL,
        "containerId": _STR,
        "attributes": {"type": "object"},
    },
}
ROLES = {"type": "array", "items": ROLE}
USER = {
    "type": "object",
    "properties": {
        "id": _STR,
        "username": _STR,
        "enabled": _BOOL,
        "serviceAccountClientId": _STR,
        "createdTimestamp": _INT,
    },
}
CREDENTIAL = {
    "type": "object",
    "required": ["type", "value"],
    "properties": {"type": {"const": "secret"}, "value": _STR},
}
KEYS = {
    "type": "object",
    "required": ["active", "keys"],
    "properties": {
        "active": {"type": "object", "additionalProperties": _STR},
        "keys": {"type": "array", "items": {"type": "object"}},
    },
}
CLIENT_SCOPES = {"type": "array", "items": {"type": "object"}}


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


R = _param("realm", "path", _STR, "The realm (tenant shortcode).")
CID = _param("id", "path", _STR, "The client's id (Keycloak's UUID, not its clientId).")
UID = _param("id", "path", _STR, "The service account's user id (the tokens' sub).")
ROLE_NAME = _param("name", "path", _STR, "The role's name.")
CLIENT_PARAM = _param("client", "path", _STR, "The id of the client whose roles are mapped.")
PAGING = [
    _param("first", "query", _INT, "The index of the first result (Keycloak's paging)."),
    _param("max", "query", _INT, "At most this many results."),
]
BRIEF = _param("briefRepresentation", "query", _BOOL, "The brief representation.")
SEARCH = _param("search", "query", _STR, "A substring of the name.")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "Invalid input (errorMessage names the field) or unreadable JSON",
        401: "No, expired, invalid or revoked token",
        403: "The token lacks the role, or is of another realm than the path's and not master",
        404: "No such realm, client, user or role",
        405: "Method not allowed",
        409: "Exists already",
        410: "The secret cannot be read any more (only its hash is kept): regenerate it",
        413: "Body over admin_max_body_bytes",
        415: "The body is not JSON",
        429: "Over the admin client's rate (Retry-After)",
    }
    base = (400, 401, 403, 404, 429)
    return {str(s): _json(KC_ERROR, texts[s]) for s in sorted({*base, *statuses})}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": False, "content": {"application/json": {"schema": schema}}}


_WRITE = (400, 409, 413, 415)
_SEC: list[dict[str, list[str]]] = [{"bearer": []}]


def _op(
    summary: str,
    params: list[dict[str, Any]],
    responses: dict[str, Any],
    *statuses: int,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["Keycloak admin"],
        "security": _SEC,
        "parameters": params,
        "responses": {**responses, **_errors(*statuses)},
    }
    if body is not None:
        op["requestBody"] = _body(body)
    return op


_NO_CONTENT = {"204": {"description": "Done"}}
_CREATED = {
    "201": {
        "description": "Created: Location names it; the body is empty",
        "headers": {"Location": {"schema": _STR}},
    }
}


PARTIAL_RESULTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "overwritten": {"type": "integer"},
        "added": {"type": "integer"},
        "skipped": {"type": "integer"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": dict.fromkeys(("action", "resourceType", "resourceName", "id"), _STR),
            },
        },
    },
}


def admin_paths() -> dict[str, Any]:
    realms = "/admin/realms"
    realm = realms + "/{realm}"
    clients = realm + "/clients"
    client = clients + "/{id}"
    user = realm + "/users/{id}"
    realm_maps = user + "/role-mappings/realm"
    client_maps = user + "/role-mappings/clients/{client}"
    roles_get = _op("Roles held", [R, UID], {"200": _json(ROLES, "Roles")}, 400)
    client_roles_get = _op(
        "Client roles held", [R, UID, CLIENT_PARAM], {"200": _json(ROLES, "Roles")}, 400
    )
    return {
        realms: {
            "get": _op("Realms the caller administers", [BRIEF], {"200": _json({}, "Realms")}),
            "post": _op(
                "Create a realm (a full representation imports it)",
                [],
                _CREATED,
                *_WRITE,
                body=REALM,
            ),
        },
        realm: {
            "get": _op("A realm", [R], {"200": _json(REALM, "The realm")}),
            "put": _op("Update a realm (partial)", [R], _NO_CONTENT, *_WRITE, body=REALM),
            "delete": _op("Delete a realm", [R], _NO_CONTENT, 400),
        },
        realm + "/keys": {
            "get": _op("Signing key metadata", [R], {"200": _json(KEYS, "Keys")}),
        },
        realm + "/partialImport": {
            "post": _op(
                "Import clients, realm roles and service accounts (ifResourceExists FAIL, SKIP "
                "or OVERWRITE)",
                [R],
                {"200": _json(PARTIAL_RESULTS, "PartialImportResults")},
                *_WRITE,
                body={"type": "object"},
            ),
        },
        realm + "/client-scopes": {
            "get": _op("Client scopes", [R], {"200": _json(CLIENT_SCOPES, "Scopes")}),
        },
        clients: {
            "get": _op(
                "Clients",
                [
                    R,
                    _param("clientId", "query", _STR, "Exact clientId (substring with search)"),
                    _param("search", "query", _BOOL, "clientId is a substring"),
                    _param("q", "query", _STR, "key:value attribute pairs"),
                    _param("viewableOnly", "query", _BOOL, "Only the viewable clients"),
                    *PAGING,
                ],
                {"200": _json({"type": "array", "items": CLIENT}, "Clients")},
                400,
            ),
            "post": _op("Create a client", [R], _CREATED, *_WRITE, body=CLIENT),
        },
        client: {
            "get": _op("A client", [R, CID], {"200": _json(CLIENT, "The client")}),
            "put": _op("Update a client (partial)", [R, CID], _NO_CONTENT, *_WRITE, body=CLIENT),
            "delete": _op("Delete a client", [R, CID], _NO_CONTENT, 400),
        },
        client + "/client-secret": {
            "get": _op(
                "Read the new secret once (within the reveal window)",
                [R, CID],
                {"200": _json(CREDENTIAL, "The secret")},
                400,
                410,
            ),
            "post": _op(
                "Regenerate the secret (the old one is refused at once)",
                [R, CID],
                {"200": _json(CREDENTIAL, "The new secret")},
            ),
        },
        client + "/service-account-user": {
            "get": _op("The service account", [R, CID], {"200": _json(USER, "User")}, 400),
        },
        client + "/roles": {
            "get": _op(
                "Client roles (realm-management: the admin roles)",
                [R, CID, SEARCH, BRIEF, *PAGING],
                {"200": _json(ROLES, "Roles")},
                400,
            ),
        },
        client + "/roles/{name}": {
            "get": _op("A client role", [R, CID, ROLE_NAME], {"200": _json(ROLE, "Role")}),
        },
        realm + "/roles": {
            "get": _op(
                "Realm roles",
                [R, SEARCH, BRIEF, *PAGING],
                {"200": _json(ROLES, "Roles")},
                400,
            ),
            "post": _op("Create a realm role", [R], _CREATED, *_WRITE, body=ROLE),
        },
        realm + "/roles/{name}": {
            "get": _op("A realm role", [R, ROLE_NAME], {"200": _json(ROLE, "Role")}),
            "delete": _op("Delete a realm role", [R, ROLE_NAME], _NO_CONTENT),
        },
        realm + "/users": {
            "get": _op(
                "Service-account users",
                [
                    R,
                    _param("username", "query", _STR, "Username (substring unless exact)"),
                    _param("exact", "query", _BOOL, "Exact username"),
                    SEARCH,
                    BRIEF,
                    *PAGING,
                ],
                {"200": _json({"type": "array", "items": USER}, "Users")},
                400,
            ),
        },
        user: {"get": _op("A service-account user", [R, UID], {"200": _json(USER, "User")})},
        user + "/role-mappings": {
            "get": _op("All role mappings", [R, UID], {"200": _json({}, "Mappings")}),
        },
        realm_maps: {
            "get": roles_get,
            "post": _op("Map realm roles", [R, UID], _NO_CONTENT, *_WRITE, body=ROLES),
            "delete": _op(
                "Unmap realm roles (no body: all)", [R, UID], _NO_CONTENT, *_WRITE, body=ROLES
            ),
        },
        realm_maps + "/composite": {"get": roles_get},
        realm_maps + "/available": {"get": roles_get},
        client_maps: {
            "get": client_roles_get,
            "post": _op(
                "Map client roles", [R, UID, CLIENT_PARAM], _NO_CONTENT, *_WRITE, body=ROLES
            ),
            "delete": _op(
                "Unmap client roles (no body: all)",
                [R, UID, CLIENT_PARAM],
                _NO_CONTENT,
                *_WRITE,
                body=ROLES,
            ),
        },
        client_maps + "/composite": {"get": client_roles_get},
        client_maps + "/available": {"get": client_roles_get},
    }


__all__ = ["KC_ERROR", "admin_paths"]
