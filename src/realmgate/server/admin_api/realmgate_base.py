"""What the ``/admin/realmgate`` extension endpoints share: the caller with its services, body
fields, query values, and the answer.

The extensions sit under ``/admin/realmgate``, a path no Keycloak route starts with, and use
the admin API's auth model (:mod:`~realmgate.server.admin_api.auth`) and error bodies
(:mod:`~realmgate.server.admin_api.errors`). Their JSON bodies are the CLI's ``--json``
documents (:mod:`realmgate.server.core.admin_views`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from realmgate.server.admin_api.auth import (
    AdminCaller,
    Check,
    admin_caller,
    admin_service,
    context,
    require,
)
from realmgate.server.admin_api.errors import bad_request
from realmgate.server.admin_api.params import read_object
from realmgate.server.core.admin import Admin
from realmgate.server.core.admin_ops import AdminOps
from realmgate.server.core.admin_views import parse_time
from realmgate.server.core.throttle import FailureCounters
from realmgate.server.http.responses import json_response

T = TypeVar("T")
PREFIX = "/admin/realmgate"
COUNTERS = "realmgate_ext_counters"  # app.state attribute: the throttle's shared store


@dataclass(frozen=True, slots=True)
class Call:
    """An authenticated extension request: who calls, and the services acting as them."""

    caller: AdminCaller
    admin: Admin
    ops: AdminOps

    def require(self, realm: str, check: Check) -> None:
        require(self.caller, realm, check)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` in a worker thread (the services touch the database)."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def _counters(request: Request) -> FailureCounters:
    """The throttle's shared store: Redis when ``redis_url`` is set, else the database."""
    ctx = context(request)
    if not ctx.settings.redis_url:
        return ctx.store
    found: FailureCounters | None = getattr(request.app.state, COUNTERS, None)
    if found is None:
        from realmgate.server.redis_counters import RedisCounters

        found = RedisCounters(ctx.settings.redis_url)
        setattr(request.app.state, COUNTERS, found)
    return found


async def begin(request: Request) -> Call:
    """Authenticate (401, 429) and give the services acting as the caller."""
    caller = await admin_caller(request)
    admin = admin_service(request, caller)
    return Call(caller, admin, AdminOps(admin, _counters(request)))


async def body(request: Request, known: Collection[str]) -> dict[str, Any]:
    """The JSON object body (empty: ``{}``); 400 naming a field the endpoint does not take."""
    data = await read_object(request, "realmgate request")
    for name in data:
        if name not in known:
            raise bad_request(f"unknown field {str(name)[:100]!r}: use {', '.join(sorted(known))}")
    return data


def field(data: Mapping[str, Any], name: str, kind: type[T] | tuple[type, ...]) -> Any:
    """``data[name]`` when of ``kind`` (None when absent or null); else 400 naming it."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise bad_request(f"{name} has the wrong type")
    if not isinstance(value, kind):
        raise bad_request(f"{name} has the wrong type")
    return value


def str_list(data: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = field(data, name, list)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise bad_request(f"{name} must be an array of strings")
    return tuple(value)


def query_time(request: Request, name: str) -> int | None:
    """A time query parameter: Unix seconds or ISO 8601 (UTC unless it says otherwise)."""
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise bad_request(f"{name} must be Unix seconds or an ISO 8601 time") from None


def answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; never stored by caches (credentials pass through here)."""
    return json_response(data, status, headers, no_store=True)


def no_content() -> Response:
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


__all__ = [
    "PREFIX",
    "Call",
    "answer",
    "begin",
    "body",
    "field",
    "no_content",
    "query_time",
    "str_list",
]
