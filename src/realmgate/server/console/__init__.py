"""The admin console: server-rendered HTML over the core admin services (issue 17)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from realmgate.server.console.assets import serve_asset
from realmgate.server.settings import Settings


async def _to_root(request: Request) -> Response:
    from realmgate.server.console.web import redirect

    return redirect(request, "/")


def console_routes(settings: Settings) -> list[BaseRoute]:
    """The console's routes, mounted at ``settings.console_path``; each page module lists its
    own ``routes`` (paths relative to the console)."""
    # imported here: the page modules import this package's web module
    from realmgate.server.console import (
        account_pages,
        auth_pages,
        client_pages,
        dashboard,
        onboard_pages,
        operator_pages,
        tenant_pages,
        throttle_pages,
    )

    routes: list[BaseRoute] = [Route("/static/{name}", serve_asset, methods=["GET", "HEAD"])]
    for module in (
        auth_pages,
        account_pages,
        operator_pages,
        dashboard,
        throttle_pages,
        tenant_pages,
        client_pages,
        onboard_pages,
    ):
        routes.extend(module.routes)
    path = settings.console_path
    return [Route(path, _to_root, methods=["GET", "HEAD"]), Mount(path, routes=routes)]
