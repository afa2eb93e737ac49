"""Keycloak's realm endpoints: ``/admin/realms`` and ``/admin/realms/{realm}`` (with its keys
and client scopes), as ``RealmsAdminResource``/``RealmAdminResource`` answer them.

- ``GET /admin/realms``: the realms the caller may view (``briefRepresentation``: the brief
  form); those it only administers partly come back as ``{"realm": name}``; none -> 403.
- ``POST /admin/realms`` (master ``admin`` or ``create-realm``): 201, ``Location``, empty body;
  a realm is created disabled unless the representation says ``"enabled": true``, as Keycloak
  does. It gets a signing key and no client. A representation with sub-resources (clients,
  roles, users, components, ...) is a realm import (:mod:`.realm_import`).
- ``GET /admin/realms/{realm}``: view-realm; a caller with other admin roles of the realm gets
  ``{"realm": name}`` (``requireViewRealmNameList``).
- ``PUT``: manage-realm, the non-null fields are applied (partial update); 204.
- ``DELETE``: manage-realm; 204. ``master`` cannot be deleted.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.admin_api.auth import admin_caller, admin_service, allowed, require
from realmgate.server.admin_api.common import (
    created,
    location,
    no_content,
    ok,
    path_realm,
    run,
)
from realmgate.server.admin_api.errors import admin_endpoint, bad_request, forbidden
from realmgate.server.admin_api.params import query_bool, read_object
from realmgate.server.admin_api.realm_import import has_imports, import_realm
from realmgate.server.admin_api.reps_realm import (
    REALM,
    client_scopes_rep,
    keys_rep,
    realm_brief,
    realm_input,
    realm_rep,
)


@admin_endpoint
async def list_realms(request: Request) -> Response:
    caller = await admin_caller(request)
    brief = query_bool(request, "briefRepresentation", False)
    admin = admin_service(request, caller)
    reps = []
    for tenant in sorted(await run(admin.list_tenants), key=lambda t: t.shortcode):
        if allowed(caller, tenant.shortcode, "view-realm"):
            reps.append(realm_brief(tenant) if brief else realm_rep(tenant))
        elif caller.is_realm_admin(tenant.shortcode):
            reps.append({"realm": tenant.shortcode})
    if not reps:
        raise forbidden()
    return ok(reps)


@admin_endpoint
async def create_realm(request: Request) -> Response:
    caller = await admin_caller(request)
    require(caller, "", "create-realm")
    rep = await read_object(request, REALM)
    if has_imports(rep):  # a full realm representation: the importer
        return await import_realm(request, caller, rep)
    given = realm_input(rep)
    if not given.realm or not given.realm.strip():
        raise bad_request("Realm name cannot be empty")
    admin = admin_service(request, caller)
    tenant = await run(
        admin.create_realm,
        given.realm,
        display_name=given.display_name,
        enabled=bool(given.enabled),
        access_token_lifespan=given.access_token_lifespan,
        not_before=given.not_before or 0,
        signing_alg=given.signing_alg,
        extra=given.extra or None,
        dpop_required=bool(given.dpop_required),
    )
    return created(location(request, tenant.shortcode))


@admin_endpoint
async def realm(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    if request.method == "GET":
        if allowed(caller, tenant.shortcode, "view-realm"):
            return ok(realm_rep(tenant))
        if caller.is_realm_admin(tenant.shortcode):
            return ok({"realm": tenant.shortcode})
        raise forbidden()
    require(caller, tenant.shortcode, "manage-realm")
    admin = admin_service(request, caller)
    if request.method == "DELETE":
        await run(admin.delete_tenant, tenant.shortcode)
        return no_content()
    given = realm_input(await read_object(request, REALM))
    if given.realm is not None and given.realm != tenant.shortcode:
        raise bad_request("realmgate cannot rename a realm ('realm')")
    extra = dict(given.extra)
    if "attributes" in extra:  # merged, as Keycloak sets each attribute given
        extra["attributes"] = {**(tenant.extra.get("attributes") or {}), **extra["attributes"]}
    await run(
        admin.update_realm,
        tenant.shortcode,
        display_name=given.display_name,
        enabled=given.enabled,
        access_token_lifespan=given.access_token_lifespan,
        not_before=given.not_before,
        signing_alg=given.signing_alg,
        extra=extra or None,
        dpop_required=given.dpop_required,
    )
    return no_content()


@admin_endpoint
async def keys(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    require(caller, tenant.shortcode, "view-realm")
    records = await run(admin_service(request, caller).list_keys, tenant.shortcode)
    return ok(keys_rep(tenant, records))


@admin_endpoint
async def client_scopes(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    require(caller, tenant.shortcode, "list-clients")
    return ok(client_scopes_rep(tenant))


routes = [
    Route("/admin/realms", list_realms, methods=["GET"]),
    Route("/admin/realms", create_realm, methods=["POST"]),
    Route("/admin/realms/{realm}", realm, methods=["GET", "PUT", "DELETE"]),
    Route("/admin/realms/{realm}/keys", keys, methods=["GET"]),
    Route("/admin/realms/{realm}/client-scopes", client_scopes, methods=["GET"]),
]

__all__ = ["routes"]
