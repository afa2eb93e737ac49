"""What the Keycloak endpoints share: the realm of the path, worker-thread calls, responses.

Keycloak's order of checks on ``/admin/realms/{realm}/...`` (``RealmsAdminResource``): the
token (401), then the realm (404 ``{"error": "Realm not found."}``), then whether the token's
realm may administer it at all (its own realm or ``master``; else 403), then the operation's
role (403).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from realmgate.server.admin_api.auth import MASTER, AdminCaller, context
from realmgate.server.admin_api.errors import forbidden, not_found
from realmgate.server.http.responses import json_response
from realmgate.server.storage.records import TenantRecord
from realmgate.wire.names import is_shortcode

P = ParamSpec("P")
T = TypeVar("T")

REALM_NOT_FOUND = "Realm not found."
# What a Keycloak id (of a client, a service account) can be: anything else is no id of ours,
# answered as unknown without a database query (a NUL byte would upset PostgreSQL).
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
NO_CACHE = {"Cache-Control": "no-cache"}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn`` in a worker thread (database work never runs on the event loop)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


async def find_realm(request: Request, name: str) -> TenantRecord | None:
    store = context(request).store
    return await run(store.get_tenant, name) if is_shortcode(name) else None


async def path_realm(request: Request, caller: AdminCaller) -> TenantRecord:
    """The realm of the path: 404 if none, 403 if the caller's realm may not administer it."""
    name: str = request.path_params["realm"]
    tenant = await find_realm(request, name)
    if tenant is None:
        raise not_found(REALM_NOT_FOUND)
    if caller.realm not in (MASTER, tenant.shortcode):
        raise forbidden()
    return tenant


def is_id(value: str) -> bool:
    """Whether ``value`` can be a client's or a service account's id (1-36 letters, digits
    and '-')."""
    return 0 < len(value) <= 36 and set(value) <= _ID_CHARS


def location(request: Request, *segments: str) -> str:
    """An absolute ``Location`` under ``/admin/realms`` on the configured public base URL
    (never one built from the request's ``Host``)."""
    base = context(request).settings.sso_base
    # Like JAX-RS's UriBuilder.path: what a path segment may hold (RFC 3986 pchar) stays.
    path = "/".join(quote(segment, safe="!$&'()*+,;=:@") for segment in segments)
    return f"{base}/admin/realms/{path}" if path else f"{base}/admin/realms"


def created(url: str) -> Response:
    """201 with ``Location`` and an empty body (python-keycloak's ``create_realm`` needs it)."""
    return Response(status_code=201, headers={"Location": url})


def no_content() -> Response:
    return Response(status_code=204)


def ok(data: Any, *, secret: bool = False) -> Response:
    """200 JSON; ``secret``: a body that carries one (never stored by a cache)."""
    return json_response(data, headers=NO_STORE if secret else NO_CACHE)


__all__ = [
    "REALM_NOT_FOUND",
    "created",
    "find_realm",
    "is_id",
    "location",
    "no_content",
    "ok",
    "path_realm",
    "run",
]
