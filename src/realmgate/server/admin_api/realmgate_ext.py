"""``/admin/realmgate``: tenants, clients and signing keys as realmgate manages them, on the
admin API's auth model (what Keycloak's API has no words for: onboarding with a first client,
secret rotation with a grace period, ending the previous secret, not-before revocation, key
rotation now or in an emergency).

Bodies are the CLI's ``--json`` documents; ``routes`` holds every extension route (those of
:mod:`~realmgate.server.admin_api.realmgate_ops` too). Roles, as Keycloak's nearest checks:

=====================================================  ===============================
``POST /tenants``                                      ``create-realm`` (master)
``GET /tenants``                                       the tenants the caller may view
``GET /tenants/{t}``, ``.../keys``                     ``view-realm``
``PATCH``, ``DELETE /tenants/{t}``, ``.../revoke-tokens``, ``.../keys/rotate``
                                                       ``manage-realm``
``GET .../clients``, ``.../clients/{c}``               ``view-clients``
``POST .../clients``                                   ``create-client``
``PATCH``, ``DELETE .../clients/{c}`` and its actions  ``manage-clients``
=====================================================  ===============================
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.admin_api.auth import MASTER, allowed
from realmgate.server.admin_api.errors import admin_endpoint, bad_request, forbidden
from realmgate.server.admin_api.realmgate_base import (
    PREFIX,
    answer,
    begin,
    body,
    field,
    no_content,
    str_list,
)
from realmgate.server.admin_api.realmgate_ops import routes as ops_routes
from realmgate.server.core.admin_clients import DEFAULT_SECRET_GRACE
from realmgate.server.core.admin_views import (
    client_view,
    credentials_view,
    key_view,
    not_before_view,
    tenant_config_view,
    tenant_summary,
    tenant_view,
)
from realmgate.server.core.client_config import ConfigError, check_binding

TENANT_FIELDS = ("shortcode", "name", "signingAlg", "clientId")
TENANT_PATCH_FIELDS = ("accessTokenLifespan", "sessionMaxLifespan", "clientScopes", "dpopRequired")
SENDER_FIELDS = ("binding", "tlsSubjectDn", "tlsSan")
CLIENT_FIELDS = ("clientId", "roles", "authMethod", "jwks", "jwksUri", *SENDER_FIELDS)
CLIENT_PATCH_FIELDS = (
    "authMethod",
    *SENDER_FIELDS,
    "enabled",
    "accessTokenLifespan",
    "roles",
    "defaultScopes",
    "optionalScopes",
    "audiences",
    "claims",
    "tokenProfile",
    "jwks",
    "jwksUri",
)


# tenants ----------------------------------------------------------------------------------
@admin_endpoint
async def tenants(request: Request) -> Response:
    call = await begin(request)
    if request.method == "GET":
        records = await call.run(call.admin.list_tenants)
        visible = [t for t in records if allowed(call.caller, t.shortcode, "view-realm")]
        if not visible:
            raise forbidden()
        return answer([tenant_summary(t) for t in visible])
    call.require(MASTER, "create-realm")
    data = await body(request, TENANT_FIELDS)
    shortcode = field(data, "shortcode", str)
    if not shortcode:
        raise bad_request("shortcode is required")
    creds = await call.run(
        call.admin.create_tenant,
        shortcode,
        name=field(data, "name", str),
        signing_alg=field(data, "signingAlg", str),
        client_id=field(data, "clientId", str),
    )
    location = f"{request.base_url}{PREFIX.lstrip('/')}/tenants/{shortcode}"
    return answer(credentials_view(creds), 201, {"Location": location})


def _scopes(data: dict[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """``clientScopes`` as a merge patch: name -> "default" | "optional", or null to remove."""
    raw = field(data, "clientScopes", dict) or {}
    add = {str(k): v for k, v in raw.items() if v is not None}
    if not all(isinstance(v, str) for v in add.values()):
        raise bad_request("clientScopes maps a scope name to 'default', 'optional' or null")
    return add, tuple(str(k) for k, v in raw.items() if v is None)


@admin_endpoint
async def tenant(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    if request.method == "GET":
        call.require(t, "view-realm")
        record = await call.run(call.admin.get_tenant, t)
        clients = await call.run(call.admin.list_clients, t)
        return answer(tenant_view(record, clients))
    call.require(t, "manage-realm")
    if request.method == "DELETE":
        await call.run(call.admin.delete_tenant, t)
        return no_content()
    data = await body(request, TENANT_PATCH_FIELDS)
    scopes, remove = _scopes(data)
    record = await call.run(
        call.admin.configure_tenant,
        t,
        access_token_lifespan=field(data, "accessTokenLifespan", int),
        session_max_lifespan=field(data, "sessionMaxLifespan", int),
        scopes=scopes,
        remove_scopes=remove,
        dpop_required=field(data, "dpopRequired", bool),
    )
    return answer(tenant_config_view(record))


@admin_endpoint
async def tenant_revoke(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    call.require(t, "manage-realm")
    at = await call.run(call.admin.revoke_tenant_tokens, t)
    return answer(not_before_view(t, at))


# clients ----------------------------------------------------------------------------------
def _sender(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """``binding`` (none, dpop, cert, dpop+cert), ``tlsSubjectDn`` and ``tlsSan`` (null or
    "": none) as keyword arguments of the admin services."""
    options: dict[str, Any] = {}
    binding = field(data, "binding", str)
    if binding is not None:
        try:
            options["dpop_bound"], options["cert_bound"] = check_binding(binding)
        except ConfigError as exc:
            raise bad_request(str(exc)) from None
    for name, key in (("tlsSubjectDn", "tls_subject_dn"), ("tlsSan", "tls_san")):
        if name in data:
            value = field(data, name, str)
            options[key] = value or (None if creating else "")
    return options


@admin_endpoint
async def clients(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    if request.method == "GET":
        call.require(t, "view-clients")
        records = await call.run(call.admin.list_clients, t)
        return answer([client_view(c) for c in records])
    call.require(t, "create-client")
    data = await body(request, CLIENT_FIELDS)
    client_id = field(data, "clientId", str)
    if not client_id:
        raise bad_request("clientId is required")
    creds = await call.run(
        call.admin.create_client,
        t,
        client_id,
        roles=str_list(data, "roles") or (),
        auth_method=field(data, "authMethod", str) or "client_secret",
        jwks=field(data, "jwks", dict),
        jwks_uri=field(data, "jwksUri", str),
        **_sender(data, creating=True),
    )
    location = f"{request.base_url}{PREFIX.lstrip('/')}/tenants/{t}/clients/{client_id}"
    return answer(credentials_view(creds), 201, {"Location": location})


@admin_endpoint
async def client(request: Request) -> Response:
    t, c = request.path_params["tenant"], request.path_params["client_id"]
    call = await begin(request)
    if request.method == "GET":
        call.require(t, "view-clients")
        return answer(client_view(await call.run(call.admin.get_client, t, c)))
    call.require(t, "manage-clients")
    if request.method == "DELETE":
        await call.run(call.admin.delete_client, t, c)
        return no_content()
    data = await body(request, CLIENT_PATCH_FIELDS)
    lifespan = field(data, "accessTokenLifespan", int)
    options = {
        "access_token_lifespan": lifespan or None,
        "reset_lifespan": "accessTokenLifespan" in data and not lifespan,
        "roles": str_list(data, "roles"),
        "default_scopes": str_list(data, "defaultScopes"),
        "optional_scopes": str_list(data, "optionalScopes"),
        "audiences": str_list(data, "audiences"),
        "claims": field(data, "claims", dict),
        "token_profile": field(data, "tokenProfile", str),
        "jwks": field(data, "jwks", dict),
        "jwks_uri": field(data, "jwksUri", str),
        "auth_method": field(data, "authMethod", str),
        **_sender(data, creating=False),
    }
    enabled = field(data, "enabled", bool)
    record = await call.run(call.admin.get_client, t, c)
    if set(data) - {"enabled"}:
        record = await call.run(call.admin.configure_client, t, c, **options)
    if enabled is not None:
        record = await call.run(call.admin.set_client_enabled, t, c, enabled)
    return answer(client_view(record))


@admin_endpoint
async def client_action(request: Request) -> Response:
    t, c = request.path_params["tenant"], request.path_params["client_id"]
    action = request.url.path.rsplit("/", 1)[-1]
    call = await begin(request)
    call.require(t, "manage-clients")
    if action == "rotate-secret":
        data = await body(request, ("grace",))
        grace = field(data, "grace", int)
        creds = await call.run(
            call.admin.rotate_secret, t, c, grace=DEFAULT_SECRET_GRACE if grace is None else grace
        )
        return answer(credentials_view(creds))
    if action == "end-previous-secret":
        return answer(client_view(await call.run(call.admin.end_previous_secret, t, c)))
    at = await call.run(call.admin.revoke_client_tokens, t, c)
    return answer(not_before_view(t, at, c))


# keys -------------------------------------------------------------------------------------
@admin_endpoint
async def keys(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    call.require(t, "view-realm")
    return answer([key_view(k) for k in await call.run(call.admin.list_keys, t)])


@admin_endpoint
async def keys_rotate(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    call.require(t, "manage-realm")
    data = await body(request, ("algorithm", "emergency"))
    key = await call.run(
        call.admin.rotate_key,
        t,
        signing_alg=field(data, "algorithm", str),
        emergency=bool(field(data, "emergency", bool)),
    )
    return answer(key_view(key))


_T = PREFIX + "/tenants/{tenant}"
_C = _T + "/clients/{client_id}"
routes = [
    Route(PREFIX + "/tenants", tenants, methods=["GET", "POST"]),
    Route(_T, tenant, methods=["GET", "PATCH", "DELETE"]),
    Route(_T + "/revoke-tokens", tenant_revoke, methods=["POST"]),
    Route(_T + "/clients", clients, methods=["GET", "POST"]),
    Route(_C, client, methods=["GET", "PATCH", "DELETE"]),
    *(
        Route(f"{_C}/{action}", client_action, methods=["POST"])
        for action in ("rotate-secret", "end-previous-secret", "revoke-tokens")
    ),
    Route(_T + "/keys", keys, methods=["GET"]),
    Route(_T + "/keys/rotate", keys_rotate, methods=["POST"]),
    *ops_routes,
]

__all__ = ["routes"]
