"""Keycloak's realm role endpoints (``RoleContainerResource``) under
``/admin/realms/{realm}/roles``.

- ``GET``: the realm roles by name, ``first``/``max`` (python-keycloak pages with ``max=100``
  until a short page), ``search`` (substring), ``briefRepresentation`` (default true: without
  ``attributes``). Needs view-realm or any ``query-*`` role.
- ``POST {name, description}``: manage-realm; 201 with ``Location: .../roles/{name}`` and an
  empty body; 409 ``Role with name X already exists``; no name: 400 ``HTTP 400 Bad Request``.
- ``GET /{name}``: view-realm; 404 ``Could not find role``.
- ``DELETE /{name}``: manage-realm; 204 (the role is taken from every client holding it).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.admin_api.auth import admin_caller, admin_service, require
from realmgate.server.admin_api.common import created, location, no_content, ok, path_realm, run
from realmgate.server.admin_api.errors import admin_endpoint, error
from realmgate.server.admin_api.params import page, query_bool, read_object
from realmgate.server.admin_api.reps_realm import ROLE, role_input, role_rep


@admin_endpoint
async def list_roles(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    require(caller, tenant.shortcode, "list-roles")
    search = request.query_params.get("search", "").strip() or None
    brief = query_bool(request, "briefRepresentation", True)
    roles = await run(admin_service(request, caller).list_roles, tenant.shortcode, search=search)
    container = tenant.realm_id or tenant.shortcode
    return ok([role_rep(r, container, brief=brief) for r in page(request, roles)])


@admin_endpoint
async def create_role(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    require(caller, tenant.shortcode, "manage-realm")
    given = role_input(await read_object(request, ROLE))
    if given.name is None:
        raise error(400, "HTTP 400 Bad Request")
    role = await run(
        admin_service(request, caller).create_role,
        tenant.shortcode,
        given.name,
        given.description,
    )
    return created(location(request, tenant.shortcode, "roles", role.name))


@admin_endpoint
async def role(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    name: str = request.path_params["name"]
    admin = admin_service(request, caller)
    if request.method == "GET":
        require(caller, tenant.shortcode, "view-realm")
        record = await run(admin.get_role, tenant.shortcode, name)
        return ok(role_rep(record, tenant.realm_id or tenant.shortcode, brief=False))
    require(caller, tenant.shortcode, "manage-realm")
    await run(admin.delete_role, tenant.shortcode, name)
    return no_content()


routes = [
    Route("/admin/realms/{realm}/roles", list_roles, methods=["GET"]),
    Route("/admin/realms/{realm}/roles", create_role, methods=["POST"]),
    Route("/admin/realms/{realm}/roles/{name}", role, methods=["GET", "DELETE"]),
]

__all__ = ["routes"]
