"""Throttling: every block in force (clients and sources, all tenants and console sign-ins)
with an Unblock button for support and admin operators."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.web import (
    FLASHES,
    ConsoleError,
    ConsoleUser,
    env_of,
    ops_service,
    page,
    read_form,
    redirect,
    render,
    run,
)
from realmgate.server.core.admin_blocks import CONSOLE_TAG, list_blocks, unblock
from realmgate.server.core.throttle import SOURCE
from realmgate.wire.names import is_client_id, is_shortcode

FLASHES.update({"unblocked": "Unblocked.", "nothing-blocked": "That block had already ended."})


@page("read")
async def throttling(request: Request, user: ConsoleUser) -> Response:
    now = time.time()
    blocks = await run(list_blocks, ops_service(request, user), now)
    return render(
        request,
        "throttling.html",
        {"title": "Throttling", "blocks": blocks, "now": now, "console_tag": CONSOLE_TAG},
        user=user,
    )


@page("unblock")
async def unblock_one(request: Request, user: ConsoleUser) -> Response:
    form = await read_form(request)
    tenant = form.get("tenant", "")
    kind = form.get("kind", "")
    key = form.get("key", "").strip()
    if tenant not in (CONSOLE_TAG, "") and not is_shortcode(tenant):
        raise ConsoleError(400, "Bad request", "Unknown tenant.")
    if kind not in ("client", "source"):
        raise ConsoleError(400, "Bad request", "Say what to unblock: a client or a source.")
    if (
        not key
        or len(key) > 128
        or (kind == "client" and tenant and not is_client_id(key) and tenant != CONSOLE_TAG)
    ):
        raise ConsoleError(400, "Bad request", "Invalid client or source.")
    await run(unblock, ops_service(request, user), tenant, kind, key)
    # this worker at once; the others (and other nodes) through the change feed
    env_of(request).throttle.unblocked(tenant, key if kind == "client" else SOURCE + key)
    return redirect(request, "/throttling", done="unblocked")


routes: list[BaseRoute] = [
    Route("/throttling", throttling, methods=["GET"]),
    Route("/throttling/unblock", unblock_one, methods=["POST"]),
]
