"""``/admin/realmgate``: operations on a tenant that Keycloak's API lacks: the scheduled key
rotation's period, the tenant settings, the throttle's blocks, and the audit trail.

=================================================  ==========================================
``GET .../key-policy``, ``GET .../settings``       ``view-realm``
``PUT .../key-policy``, ``PATCH .../settings``     ``manage-realm``
``GET .../throttle``                               ``view-users`` (Keycloak's attack detection)
``DELETE .../throttle``                            ``manage-users``
``GET /admin/realmgate/audit?tenant=T``            ``view-events`` on T; without ``tenant``,
                                                   master ``admin`` (every tenant)
=================================================  ==========================================
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.admin_api.errors import ApiError, admin_endpoint, forbidden
from realmgate.server.admin_api.params import query_int, read_json
from realmgate.server.admin_api.realmgate_base import PREFIX, answer, begin, body, query_time
from realmgate.server.core.admin_ops import InvalidSettings, check_period
from realmgate.server.core.admin_views import audit_view


@admin_endpoint
async def key_policy(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    if request.method == "GET":
        call.require(t, "view-realm")
        return answer(await call.run(call.ops.key_policy, t))
    call.require(t, "manage-realm")
    data = await body(request, ("rotationPeriod",))
    period = check_period(data.get("rotationPeriod"))
    return answer(await call.run(call.ops.set_key_policy, t, period))


@admin_endpoint
async def tenant_settings(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    if request.method == "GET":
        call.require(t, "view-realm")
        return answer(await call.run(call.ops.settings, t))
    call.require(t, "manage-realm")
    patch = await read_json(request)
    try:
        return answer(await call.run(call.ops.patch_settings, t, patch))
    except InvalidSettings as exc:
        raise ApiError(400, {"errorMessage": str(exc), "errors": exc.errors}) from None


@admin_endpoint
async def throttle(request: Request) -> Response:
    t = request.path_params["tenant"]
    call = await begin(request)
    if request.method == "GET":
        call.require(t, "view-users")
        return answer(await call.run(call.ops.throttle_state, t))
    call.require(t, "manage-users")
    query = request.query_params
    result = await call.run(
        call.ops.unblock,
        t,
        client_id=query.get("clientId") or None,
        source=query.get("source") or None,
        any_source=call.caller.is_master_admin,
    )
    return answer(result)


@admin_endpoint
async def audit(request: Request) -> Response:
    call = await begin(request)
    tenant = request.query_params.get("tenant") or None
    if tenant is None:
        if not call.caller.is_master_admin:
            raise forbidden()
    else:
        call.require(tenant, "view-events")
    first = query_int(request, "first")
    size = query_int(request, "max")
    events = await call.run(
        call.ops.audit,
        tenant=tenant,
        first=0 if first is None else first,
        limit=100 if size is None else size,
        actor=request.query_params.get("actor") or None,
        action=request.query_params.get("action") or None,
        since=query_time(request, "since"),
        until=query_time(request, "until"),
    )
    return answer([audit_view(e) for e in events])


_T = PREFIX + "/tenants/{tenant}"
routes = [
    Route(_T + "/key-policy", key_policy, methods=["GET", "PUT"]),
    Route(_T + "/settings", tenant_settings, methods=["GET", "PATCH"]),
    Route(_T + "/throttle", throttle, methods=["GET", "DELETE"]),
    Route(PREFIX + "/audit", audit, methods=["GET"]),
]

__all__ = ["routes"]
