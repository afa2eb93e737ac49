"""Keycloak's user endpoints, for the only users realmgate has: the clients' service accounts
(``UsersResource``, ``UserResource``, ``RoleMapperResource``, ``ClientRoleMappingsResource``).

- ``GET /users``: service-account users (``username``/``search``/``exact``, ``first``/``max``).
- ``GET /users/{id}``: view-users; 404 ``User not found`` (403 to a caller who may not query).
- ``/users/{id}/role-mappings``: all mappings; ``/realm`` (GET, POST ``[{id, name}]``, DELETE:
  an empty body removes them all, as Keycloak does) and ``/clients/{client}`` for the
  ``realm-management`` admin roles, each with ``/composite`` and ``/available``. A role whose
  id and name do not match is 404 ``Role not found``. Mapping needs manage-users; an admin role
  also needs the caller to hold that power already (Keycloak's ``checkAdminRoles``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.admin_api.auth import (
    CREATE_REALM_ROLE,
    MASTER,
    REALM_ADMIN,
    AdminCaller,
    Check,
    admin_caller,
    admin_service,
    allowed,
    require,
)
from realmgate.server.admin_api.common import is_id, no_content, ok, path_realm, run
from realmgate.server.admin_api.errors import admin_endpoint, forbidden, not_found
from realmgate.server.admin_api.params import as_list, page, query_bool, read_json
from realmgate.server.admin_api.reps_client import (
    REALM_MANAGEMENT,
    admin_role_rep,
    realm_management_id,
    realm_management_role_id,
    service_account_rep,
    user_access,
)
from realmgate.server.admin_api.reps_realm import ROLE, role_refs, role_rep
from realmgate.server.core.admin import ADMIN_ROLE_NAMES
from realmgate.server.storage.records import ClientRecord, TenantRecord

USER_NOT_FOUND = "User not found"
ROLE_NOT_FOUND = "Role not found"
MASTER_ROLES = frozenset({"admin", CREATE_REALM_ROLE})
# The power an admin role grants, which the caller needs to map it (checkAdminRoles).
POWER: dict[str, Check | None] = {
    "manage-clients": "manage-clients",
    "create-client": "manage-clients",
    "view-clients": "view-clients",
    "manage-users": "manage-users",
    "view-users": "view-users",
    "manage-realm": "manage-realm",
    "view-realm": "view-realm",
    "manage-events": "view-events",
    "view-events": "view-events",
    "query-clients": None,
    "query-users": None,
    "query-realms": None,
    "query-groups": None,
}


def _may_query(caller: AdminCaller, realm: str) -> bool:
    return allowed(caller, realm, "view-users") or (
        caller.realm == realm and "query-users" in caller.admin_roles
    )


async def path_user(request: Request, caller: AdminCaller, tenant: TenantRecord) -> ClientRecord:
    """The service account of the path (``{id}``: the tokens' ``sub``), as its client."""
    sub: str = request.path_params["id"]
    store = admin_service(request, caller).store
    found = None
    if is_id(sub):
        found = await run(store.find_client, tenant.shortcode, sub=sub)
    if found is None:
        if _may_query(caller, tenant.shortcode):
            raise not_found(USER_NOT_FOUND)
        raise forbidden()
    return found


def _access(caller: AdminCaller, realm: str) -> dict[str, bool]:
    return user_access(allowed(caller, realm, "view-users"), allowed(caller, realm, "manage-users"))


@admin_endpoint
async def list_users(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    if not _may_query(caller, tenant.shortcode):
        raise forbidden()
    params = request.query_params
    exact = query_bool(request, "exact", False)
    username = (params.get("username") or params.get("search") or "").strip().lower()
    clients = await run(admin_service(request, caller).list_clients, tenant.shortcode)
    reps = [service_account_rep(c) for c in clients]
    if username:
        reps = [
            r
            for r in reps
            if (r["username"] == username if exact else username.strip("*") in r["username"])
        ]
    reps.sort(key=lambda r: str(r["username"]))
    if query_bool(request, "briefRepresentation", False):
        reps = [{k: r[k] for k in ("id", "username", "enabled", "createdTimestamp")} for r in reps]
    return ok(page(request, reps, default_max=100))


@admin_endpoint
async def user(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_user(request, caller, tenant)
    require(caller, tenant.shortcode, "view-users")
    return ok(service_account_rep(record, _access(caller, tenant.shortcode)))


def _check_realm_roles(caller: AdminCaller, tenant: TenantRecord, names: list[str]) -> None:
    """Mapping ``master``'s ``admin`` / ``create-realm`` needs a caller who holds them."""
    if tenant.shortcode != MASTER:
        return
    for name in names:
        if name in MASTER_ROLES and not (
            caller.is_master_admin or (caller.realm == MASTER and name in caller.realm_roles)
        ):
            raise forbidden()


def _check_admin_roles(caller: AdminCaller, realm: str, names: list[str]) -> None:
    for name in names:
        if caller.is_master_admin or (caller.realm == realm and name in caller.admin_roles):
            continue
        if name == REALM_ADMIN:
            raise forbidden()
        power = POWER.get(name)
        if power is not None and not allowed(caller, realm, power):
            raise forbidden()


@admin_endpoint
async def all_mappings(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_user(request, caller, tenant)
    require(caller, tenant.shortcode, "view-users")
    roles = await run(admin_service(request, caller).role_mappings, tenant.shortcode, record.sub)
    rep: dict[str, Any] = {}
    container = tenant.realm_id or tenant.shortcode
    if roles:
        rep["realmMappings"] = [role_rep(r, container) for r in roles]
    if record.admin_roles:
        rep["clientMappings"] = {
            REALM_MANAGEMENT: {
                "id": realm_management_id(tenant),
                "client": REALM_MANAGEMENT,
                "mappings": [admin_role_rep(tenant, n) for n in sorted(record.admin_roles)],
            }
        }
    return ok(rep)


@admin_endpoint
async def realm_mappings(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_user(request, caller, tenant)
    realm = tenant.shortcode
    admin = admin_service(request, caller)
    container = tenant.realm_id or realm
    if request.method == "GET":
        require(caller, realm, "view-users")
        held = await run(admin.role_mappings, realm, record.sub)
        if request.url.path.endswith("/available"):
            names = {r.name for r in held}
            every = await run(admin.list_roles, realm)
            return ok([role_rep(r, container) for r in every if r.name not in names])
        return ok([role_rep(r, container) for r in held])
    require(caller, realm, "manage-users")
    body = await read_json(request)
    if request.method == "DELETE" and body is None:
        held = await run(admin.role_mappings, realm, record.sub)
        refs: list[tuple[str | None, str]] = [(r.id, r.name) for r in held]
    else:
        refs = role_refs(as_list(body, ROLE))
    _check_realm_roles(caller, tenant, [name for _, name in refs])
    if refs and request.method == "POST":
        await run(admin.add_role_mappings, realm, record.sub, refs)
    elif refs:
        await run(admin.remove_role_mappings, realm, record.sub, refs)
    return no_content()


def _client_refs(tenant: TenantRecord, refs: list[tuple[str | None, str]]) -> list[str]:
    names = []
    for role_id, name in refs:
        if name not in ADMIN_ROLE_NAMES or role_id != realm_management_role_id(tenant, name):
            raise not_found(ROLE_NOT_FOUND)
        names.append(name)
    return names


@admin_endpoint
async def client_mappings(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_user(request, caller, tenant)
    realm = tenant.shortcode
    if request.path_params["client"] != realm_management_id(tenant):
        store = admin_service(request, caller).store
        other_id: str = request.path_params["client"]
        other = None
        if is_id(other_id):
            other = await run(store.find_client, realm, internal_id=other_id)
        if other is None:
            raise not_found("Client not found")
        require(caller, realm, "view-users" if request.method == "GET" else "manage-users")
        if request.method == "GET":
            return ok([])
        raise not_found(ROLE_NOT_FOUND)  # clients other than realm-management have no roles
    if request.method == "GET":
        require(caller, realm, "view-users")
        held = set(record.admin_roles)
        if request.url.path.endswith("/available"):
            names = sorted(set(ADMIN_ROLE_NAMES) - held)
        else:
            names = sorted(held)
        return ok([admin_role_rep(tenant, n) for n in names])
    require(caller, realm, "manage-users")
    body = await read_json(request)
    if request.method == "DELETE" and body is None:
        names = list(record.admin_roles)
    else:
        names = _client_refs(tenant, role_refs(as_list(body, ROLE)))
    _check_admin_roles(caller, realm, names)
    if request.method == "POST":
        wanted = tuple(dict.fromkeys([*record.admin_roles, *names]))
    else:
        wanted = tuple(n for n in record.admin_roles if n not in names)
    if wanted != record.admin_roles:
        admin = admin_service(request, caller)
        await run(admin.set_admin_roles, realm, record.client_id, wanted)
    return no_content()


_USER = "/admin/realms/{realm}/users/{id}"
_REALM = _USER + "/role-mappings/realm"
_CLIENT = _USER + "/role-mappings/clients/{client}"
routes = [
    Route("/admin/realms/{realm}/users", list_users, methods=["GET"]),
    Route(_USER, user, methods=["GET"]),
    Route(_USER + "/role-mappings", all_mappings, methods=["GET"]),
    Route(_REALM, realm_mappings, methods=["GET", "POST", "DELETE"]),
    Route(_REALM + "/composite", realm_mappings, methods=["GET"]),
    Route(_REALM + "/available", realm_mappings, methods=["GET"]),
    Route(_CLIENT, client_mappings, methods=["GET", "POST", "DELETE"]),
    Route(_CLIENT + "/composite", client_mappings, methods=["GET"]),
    Route(_CLIENT + "/available", client_mappings, methods=["GET"]),
]

__all__ = ["routes"]
