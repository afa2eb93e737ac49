"""Who calls the admin API, what they may do, how fast, and the admin services they get.

Keycloak's model (KEYCLOAK-ADMIN.md §1): an admin is an ordinary client whose token comes from
the ordinary token endpoint. The bearer token is verified exactly like the tenant API's
(:class:`~realmgate.server.api.auth.BearerAuth`: issuer -> realm, that realm's keys, expiry,
revocation, not-before, client still enabled); roles are read from the token, as Keycloak's
``KeycloakIdentity`` does:

- a ``master`` token with realm role ``admin`` may do everything on every realm; with
  ``create-realm`` (or ``admin``) it may create realms;
- a token of realm R with client roles of R's ``realm-management`` client
  (``resource_access.realm-management.roles``) acts on realm R only: ``realm-admin`` is
  everything, the other roles as in :data:`CHECKS`;
- anything else is 403; a missing, expired, invalid or revoked token is 401 (python-keycloak
  refreshes its token only on 401).

Use in an endpoint::

    caller = await admin_caller(request)      # 401 / 429, as ApiError
    require(caller, realm, "view-clients")     # 403, as ApiError
    admin = admin_service(request, caller)     # core Admin acting as the caller
    record = await anyio.to_thread.run_sync(admin.get_client, realm, client_id)

with the endpoint wrapped in :func:`~realmgate.server.admin_api.errors.admin_endpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from starlette.requests import Request

from realmgate.server.admin_api.errors import forbidden, too_many_requests, unauthorized
from realmgate.server.api.auth import MissingToken
from realmgate.server.core.admin import Admin
from realmgate.server.core.throttle import RateLimiter
from realmgate.server.http.request_head import head_of
from realmgate.server.http.state import AppState
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store
from realmgate.server.vault import Vault
from realmgate.verifier import TokenError

MASTER = "master"
ADMIN_ROLE = "admin"  # master realm role: every realm
CREATE_REALM_ROLE = "create-realm"  # master realm role: may create realms
REALM_ADMIN = "realm-admin"  # realm-management client role: everything on its realm
REALM_MANAGEMENT = "realm-management"
STATE_KEY = "admin_api"  # app.state attribute holding the AdminContext

Check = Literal[
    "view-realm",
    "manage-realm",
    "list-clients",
    "view-clients",
    "manage-clients",
    "create-client",
    "list-roles",
    "view-users",
    "manage-users",
    "view-events",
    "create-realm",
]
ALL_CHECKS: tuple[Check, ...] = get_args(Check)

_QUERY = frozenset({"query-clients", "query-users", "query-realms", "query-groups"})
# Same-realm checks: the realm-management client roles any of which passes
# (Keycloak's fgap/RealmPermissions, ClientPermissions, RolePermissions, UserPermissions).
CHECKS: dict[Check, frozenset[str]] = {
    "view-realm": frozenset({"view-realm", "manage-realm"}),
    "manage-realm": frozenset({"manage-realm"}),
    "list-clients": frozenset({"view-clients", "manage-clients", "query-clients"}),
    "view-clients": frozenset({"view-clients", "manage-clients"}),
    "manage-clients": frozenset({"manage-clients"}),
    "create-client": frozenset({"manage-clients", "create-client"}),
    "list-roles": frozenset({"view-realm", "manage-realm"}) | _QUERY,
    "view-users": frozenset({"view-users", "manage-users"}),
    "manage-users": frozenset({"manage-users"}),
    "view-events": frozenset({"view-events", "manage-events"}),
    "create-realm": frozenset(),  # master realm roles only
}


@dataclass(frozen=True)
class AdminCaller:
    """The authenticated admin: its realm and client, and the roles its token carries."""

    realm: str
    client_id: str
    realm_roles: frozenset[str]  # realm_access.roles
    admin_roles: frozenset[str]  # resource_access.realm-management.roles
    source: str | None  # the client's address, for the audit trail

    @property
    def actor(self) -> str:
        """The audit trail's actor: ``admin:{realm}/{clientId}``."""
        return f"admin:{self.realm}/{self.client_id}"

    @property
    def is_master_admin(self) -> bool:
        return self.realm == MASTER and ADMIN_ROLE in self.realm_roles

    def is_realm_admin(self, realm: str) -> bool:
        """Whether any admin role applies to ``realm`` (Keycloak's ``isAdmin(realm)``)."""
        if self.is_master_admin:
            return True
        return self.realm == realm and bool(self.admin_roles)


@dataclass
class AdminContext:
    """What the admin endpoints share; kept on ``app.state.admin_api`` by the app factory."""

    store: Store
    vault: Vault
    settings: Settings
    limiter: RateLimiter


def context(request: Request) -> AdminContext:
    ctx: AdminContext = getattr(request.app.state, STATE_KEY)
    return ctx


def _admin_roles(raw: dict[str, Any]) -> frozenset[str]:
    access = raw.get("resource_access")
    entry = access.get(REALM_MANAGEMENT) if isinstance(access, dict) else None
    roles = entry.get("roles") if isinstance(entry, dict) else None
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(r for r in roles if isinstance(r, str))


async def admin_caller(request: Request) -> AdminCaller:
    """The caller of an admin request, from its bearer token.

    Raises :class:`~realmgate.server.admin_api.errors.ApiError`: 401
    ``{"error": "HTTP 401 Unauthorized"}`` with ``WWW-Authenticate: Bearer`` when the token is
    missing, malformed, expired, of an unknown or disabled realm, revoked or of a disabled or
    deleted client; 429 ``{"error": "Too many requests"}`` with ``Retry-After`` when this
    admin client is over its rate (``admin_rate_limit`` per second, ``admin_rate_burst``)."""
    state: AppState = request.app.state.realmgate
    try:
        # the scope: a sender-constrained (DPoP or certificate-bound) admin token is checked
        # against the request's proof or certificate, as at the tenant API
        verified = await state.bearer.authenticate(
            head_of(request.scope).authorization, request.scope
        )
    except (MissingToken, TokenError):
        raise unauthorized() from None
    claims = verified.claims
    client_id = claims.client_id or ""
    if not client_id:
        raise unauthorized()
    realm = verified.realm.shortcode
    wait = context(request).limiter.take(f"{realm}\x00{client_id}")
    if wait is not None:
        raise too_many_requests(wait)
    return AdminCaller(
        realm=realm,
        client_id=client_id,
        realm_roles=claims.roles,
        admin_roles=_admin_roles(claims.raw),
        source=request.client.host if request.client else None,
    )


def allowed(caller: AdminCaller, realm: str, check: Check) -> bool:
    """Whether ``caller`` passes ``check`` on ``realm`` (see the module docstring)."""
    if caller.is_master_admin:
        return True
    if check == "create-realm":
        return caller.realm == MASTER and CREATE_REALM_ROLE in caller.realm_roles
    if caller.realm != realm:
        return False
    if REALM_ADMIN in caller.admin_roles:
        return True
    return not caller.admin_roles.isdisjoint(CHECKS[check])


def require(caller: AdminCaller, realm: str, check: Check) -> None:
    """Raise 403 ``{"error": "HTTP 403 Forbidden"}`` unless :func:`allowed`."""
    if not allowed(caller, realm, check):
        raise forbidden()


def admin_service(request: Request, caller: AdminCaller) -> Admin:
    """The core admin services acting as ``caller`` (actor and source in every audit event).

    Its methods touch the database: call them through ``anyio.to_thread.run_sync``."""
    ctx = context(request)
    return Admin(ctx.store, ctx.vault, ctx.settings, actor=caller.actor, source=caller.source)


def new_context(store: Store, vault: Vault, settings: Settings) -> AdminContext:
    """The shared state of the admin endpoints, for the app factory."""
    limiter = RateLimiter(settings.admin_rate_limit, settings.admin_rate_burst)
    return AdminContext(store=store, vault=vault, settings=settings, limiter=limiter)


__all__ = [
    "ADMIN_ROLE",
    "ALL_CHECKS",
    "CHECKS",
    "CREATE_REALM_ROLE",
    "MASTER",
    "REALM_ADMIN",
    "REALM_MANAGEMENT",
    "AdminCaller",
    "AdminContext",
    "Check",
    "admin_caller",
    "admin_service",
    "allowed",
    "context",
    "new_context",
    "require",
]
