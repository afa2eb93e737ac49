"""Keycloak's client endpoints (``ClientsResource``, ``ClientResource``) under
``/admin/realms/{realm}/clients``.

- ``GET`` lists (``clientId`` exact, or a substring with ``search=true``; ``first``/``max``;
  ``q`` as ``key:value`` attribute pairs; ``viewableOnly``): full representations for a caller
  who may view clients, ``{id, clientId, description}`` for one who may only query them.
- ``POST`` creates (201, ``Location: .../clients/{id}``, empty body); the new secret (or the one
  given) stays readable once through ``GET .../client-secret`` for the reveal window.
- ``/{id}``: ``GET`` (view-clients), ``PUT`` (manage-clients, partial; 204), ``DELETE`` (204).
  An unknown id is 404 ``Could not find client`` to a caller who may list clients, else 403.
- ``/{id}/client-secret``: ``GET`` reveals the revealable secret once, else 410 saying how to
  get a new one; ``POST`` regenerates it (the old one is refused at once).
- ``/{id}/service-account-user``: the service account (the ``sub`` of the client's tokens).
- ``/{id}/roles[/{name}]``: the client roles; only ``realm-management`` has any (the realm's
  admin roles).

The realm's ``realm-management`` client is derived, not stored: it is listed, has the admin
roles, and cannot be changed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.admin_api.auth import (
    AdminCaller,
    admin_caller,
    admin_service,
    allowed,
    require,
)
from realmgate.server.admin_api.common import (
    created,
    is_id,
    location,
    no_content,
    ok,
    path_realm,
    run,
)
from realmgate.server.admin_api.errors import (
    ApiError,
    admin_endpoint,
    bad_request,
    error,
    error_message,
    forbidden,
    not_found,
)
from realmgate.server.admin_api.params import page, query_bool, read_object
from realmgate.server.admin_api.reps_client import (
    CLIENT,
    JWKS_METHODS,
    REALM_MANAGEMENT,
    ClientInput,
    admin_role_rep,
    client_access,
    client_brief,
    client_input,
    client_rep,
    realm_management_id,
    realm_management_rep,
    secret_rep,
    service_account_rep,
    user_access,
    without_jwks,
)
from realmgate.server.core.admin import ADMIN_ROLE_NAMES
from realmgate.server.storage.records import ClientRecord, TenantRecord

CLIENT_NOT_FOUND = "Could not find client"
ROLE_NOT_FOUND = "Could not find role"


def _access(caller: AdminCaller, realm: str) -> dict[str, bool]:
    return client_access(
        allowed(caller, realm, "view-clients"), allowed(caller, realm, "manage-clients")
    )


async def path_client(
    request: Request, caller: AdminCaller, tenant: TenantRecord
) -> ClientRecord | None:
    """The client of the path (``{id}``: Keycloak's id); None for ``realm-management``."""
    internal_id: str = request.path_params["id"]
    if internal_id == realm_management_id(tenant):
        return None
    store = admin_service(request, caller).store
    found = None
    if is_id(internal_id):
        found = await run(store.find_client, tenant.shortcode, internal_id=internal_id)
    if found is None:
        # Keycloak: "we do this to make sure somebody can't phish ids"
        if allowed(caller, tenant.shortcode, "list-clients"):
            raise not_found(CLIENT_NOT_FOUND)
        raise forbidden()
    return found


def _scopes(names: list[str] | None, tenant: TenantRecord) -> tuple[str, ...] | None:
    """Keycloak ignores client scopes the realm does not have."""
    if names is None:
        return None
    return tuple(n for n in names if n in tenant.client_scopes)


def _matches(client: ClientRecord, query: str) -> bool:
    """``q=key:value key2:value2``: every pair among the client's attributes."""
    attributes = client.extra.get("attributes") or {}
    for pair in query.split():
        key, _, value = pair.partition(":")
        if attributes.get(key) != value:
            return False
    return True


@admin_endpoint
async def list_clients(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    require(caller, tenant.shortcode, "list-clients")
    client_id = request.query_params.get("clientId", "").strip()
    search = query_bool(request, "search", False)
    query = request.query_params.get("q")
    records = await run(admin_service(request, caller).list_clients, tenant.shortcode)
    entries: list[tuple[str, ClientRecord | None]] = [(c.client_id, c) for c in records]
    entries.append((REALM_MANAGEMENT, None))
    entries.sort(key=lambda e: e[0])
    if query:
        entries = [e for e in entries if e[1] is not None and _matches(e[1], query)]
    elif client_id and search:
        needle = client_id.lower()
        entries = [e for e in entries if needle in e[0].lower()]
    elif client_id:
        entries = [e for e in entries if e[0] == client_id]
    entries = page(request, entries)
    view = allowed(caller, tenant.shortcode, "view-clients")
    if not view and query_bool(request, "viewableOnly", False):
        return ok([])
    access = _access(caller, tenant.shortcode)
    reps: list[dict[str, Any]] = []
    for _, record in entries:
        if record is None:
            rep = realm_management_rep(tenant, access)
            reps.append(rep if view else {"id": rep["id"], "clientId": REALM_MANAGEMENT})
        else:
            reps.append(client_rep(record, tenant, access) if view else client_brief(record))
    return ok(reps)


@admin_endpoint
async def create_client(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    require(caller, tenant.shortcode, "create-client")
    given = client_input(await read_object(request, CLIENT), creating=True)
    assert given.client_id is not None  # client_input refused a missing one
    if given.client_id == REALM_MANAGEMENT:
        raise error_message(409, f"Client {REALM_MANAGEMENT} already exists")
    auth_method = given.auth_method or "client_secret"
    keyed = auth_method in JWKS_METHODS
    extra = without_jwks(given.extra) if keyed else given.extra
    issued = await run(
        admin_service(request, caller).create_client,
        tenant.shortcode,
        given.client_id,
        auth_method=auth_method,
        jwks=given.jwks if keyed else None,
        jwks_uri=given.jwks_uri if keyed else None,
        dpop_bound=bool(given.dpop_bound),
        cert_bound=bool(given.cert_bound),
        # a subject is client-x509's only (as in Keycloak, ignored for other authenticators)
        tls_subject_dn=(given.tls_subject_dn or None) if auth_method == X509 else None,
        tls_san=(given.tls_san or None) if auth_method == X509 else None,
        internal_id=given.internal_id,
        name=given.name,
        description=given.description,
        enabled=given.enabled is not False,
        secret=given.secret,
        access_token_lifespan=given.access_token_lifespan or None,
        default_scopes=_scopes(given.default_scopes, tenant),
        optional_scopes=_scopes(given.optional_scopes, tenant),
        extra=extra or None,
        reveal=True,
    )
    return created(location(request, tenant.shortcode, "clients", issued.internal_id))


X509 = "tls_client_auth"


def _unchangeable() -> ApiError:
    return bad_request(f"realmgate's {REALM_MANAGEMENT} client cannot be changed")


async def _update(
    request: Request, caller: AdminCaller, tenant: TenantRecord, client: ClientRecord
) -> None:
    given: ClientInput = client_input(await read_object(request, CLIENT), creating=False)
    if given.auth_method == "client_secret_jwt" != client.auth_method:
        raise bad_request(
            "realmgate makes a client client-secret-jwt only at its creation (its secret is not "
            "kept) ('clientAuthenticatorType')"
        )
    if given.secret is not None:
        raise bad_request(
            "realmgate cannot set the secret of an existing client ('secret'): regenerate it "
            "with POST .../client-secret"
        )
    if given.internal_id is not None and given.internal_id != client.internal_id:
        raise bad_request("a client's id cannot change ('id')")
    extra = dict(given.extra)
    if "attributes" in extra:
        attributes = {**(client.extra.get("attributes") or {}), **extra["attributes"]}
        extra["attributes"] = attributes
    admin = admin_service(request, caller)
    method = given.auth_method or client.auth_method
    keyed = method in JWKS_METHODS
    if keyed:
        extra = without_jwks(extra)
    method_changes: dict[str, Any] = {
        "auth_method": given.auth_method if given.auth_method != client.auth_method else None,
        "dpop_bound": given.dpop_bound,
        "cert_bound": given.cert_bound,
        "tls_subject_dn": given.tls_subject_dn if method == X509 else None,
        "tls_san": given.tls_san if method == X509 else None,
    }
    if keyed and (given.jwks is not None or given.jwks_uri is not None):
        method_changes["jwks"] = given.jwks
        method_changes["jwks_uri"] = given.jwks_uri if given.jwks is None else None
    if any(v is not None for v in method_changes.values()):
        await run(admin.configure_client, tenant.shortcode, client.client_id, **method_changes)
    await run(
        admin.update_client_fields,
        tenant.shortcode,
        client.client_id,
        name=given.name,
        description=given.description,
        enabled=given.enabled,
        access_token_lifespan=given.access_token_lifespan,
        default_scopes=_scopes(given.default_scopes, tenant),
        optional_scopes=_scopes(given.optional_scopes, tenant),
        extra=extra or None,
        new_client_id=given.client_id,
    )


@admin_endpoint
async def client(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_client(request, caller, tenant)
    realm = tenant.shortcode
    if request.method == "GET":
        require(caller, realm, "view-clients")
        access = _access(caller, realm)
        if record is None:
            return ok(realm_management_rep(tenant, access))
        return ok(client_rep(record, tenant, access))
    require(caller, realm, "manage-clients")
    if record is None:
        raise _unchangeable()
    if request.method == "DELETE":
        await run(admin_service(request, caller).delete_client, realm, record.client_id)
    else:
        await _update(request, caller, tenant, record)
    return no_content()


@admin_endpoint
async def client_secret(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_client(request, caller, tenant)
    realm = tenant.shortcode
    require(caller, realm, "view-clients" if request.method == "GET" else "manage-clients")
    if record is None:
        raise bad_request(f"{REALM_MANAGEMENT} is a bearer-only client: it has no secret")
    admin = admin_service(request, caller)
    if request.method == "POST":
        return ok(
            secret_rep(await run(admin.regenerate_secret, realm, record.client_id)), secret=True
        )
    secret = await run(admin.reveal_secret, realm, record.client_id)
    if secret is None:
        raise error(
            410,
            f"The secret of client '{record.client_id}' cannot be read: realmgate keeps only a "
            "hash of it. Regenerate it (POST .../client-secret) to get a new one.",
        )
    return ok(secret_rep(secret), secret=True)


@admin_endpoint
async def service_account_user(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_client(request, caller, tenant)
    realm = tenant.shortcode
    require(caller, realm, "view-clients")
    if record is None:
        raise error(400, f"Service account not enabled for the client '{REALM_MANAGEMENT}'")
    access = user_access(
        allowed(caller, realm, "view-users"), allowed(caller, realm, "manage-users")
    )
    return ok(service_account_rep(record, access))


@admin_endpoint
async def client_roles(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_client(request, caller, tenant)
    require(caller, tenant.shortcode, "list-clients")
    if record is not None:
        return ok([])
    names = list(ADMIN_ROLE_NAMES)
    search = request.query_params.get("search", "").strip().lower()
    if search:
        names = [n for n in names if search in n]
    reps = [admin_role_rep(tenant, n) for n in sorted(names)]
    if not query_bool(request, "briefRepresentation", True):
        reps = [r | {"attributes": {}} for r in reps]
    return ok(page(request, reps))


@admin_endpoint
async def client_role(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    record = await path_client(request, caller, tenant)
    require(caller, tenant.shortcode, "view-clients")
    name: str = request.path_params["name"]
    if record is not None or name not in ADMIN_ROLE_NAMES:
        raise not_found(ROLE_NOT_FOUND)
    return ok(admin_role_rep(tenant, name) | {"attributes": {}})


_BASE = "/admin/realms/{realm}/clients"
routes = [
    Route(_BASE, list_clients, methods=["GET"]),
    Route(_BASE, create_client, methods=["POST"]),
    Route(_BASE + "/{id}", client, methods=["GET", "PUT", "DELETE"]),
    Route(_BASE + "/{id}/client-secret", client_secret, methods=["GET", "POST"]),
    Route(_BASE + "/{id}/service-account-user", service_account_user, methods=["GET"]),
    Route(_BASE + "/{id}/roles", client_roles, methods=["GET"]),
    Route(_BASE + "/{id}/roles/{name}", client_role, methods=["GET"]),
]

__all__ = ["path_client", "routes"]
