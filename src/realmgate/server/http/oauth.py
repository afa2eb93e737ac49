"""Authorization-server routes under ``/realms/{tenant}`` (Keycloak's path layout)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.core.discovery import metadata
from realmgate.server.core.grants import TokenRequest
from realmgate.server.http.responses import (
    NO_STORE,
    json_response,
    method_not_allowed,
    oauth_error,
    read_body,
)
from realmgate.server.http.state import AppState
from realmgate.wire.errors import OAuthError, RealmNotFound, UnsupportedMediaType
from realmgate.wire.forms import parse_form

FORM = "application/x-www-form-urlencoded"


async def token(request: Request) -> Response:
    state: AppState = request.app.state.realmgate
    started = time.perf_counter()
    grant_type: str | None = None
    try:
        if request.method != "POST":
            raise method_not_allowed("POST")
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != FORM:
            raise UnsupportedMediaType()
        body = await read_body(request, state.settings.max_body_bytes)
        form = parse_form(body)
        grant_type = form.get("grant_type")
        req = TokenRequest(
            tenant=request.path_params["tenant"],
            form=form,
            authorization=request.headers.get("authorization"),
        )
        result = await state.grant.handle(req)
    except OAuthError as exc:
        state.metrics.token(grant_type, exc.error, time.perf_counter() - started)
        return oauth_error(exc)
    state.metrics.token(grant_type, "success", time.perf_counter() - started)
    return json_response(result, no_store=True)


async def certs(request: Request) -> Response:
    state: AppState = request.app.state.realmgate
    realm = await state.directory.realm(request.path_params["tenant"])
    if realm is None:
        return oauth_error(RealmNotFound())
    return Response(
        realm.jwks_json,
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


async def discovery(request: Request) -> Response:
    state: AppState = request.app.state.realmgate
    realm = await state.directory.realm(request.path_params["tenant"])
    if realm is None:
        return oauth_error(RealmNotFound())
    return json_response(metadata(realm), headers={"Cache-Control": "public, max-age=300"})


async def not_allowed(request: Request) -> Response:
    return oauth_error(method_not_allowed("GET"))


routes = [
    Route(
        "/realms/{tenant}/protocol/openid-connect/token",
        token,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
    ),
    Route("/realms/{tenant}/protocol/openid-connect/certs", certs, methods=["GET"]),
    Route("/realms/{tenant}/.well-known/openid-configuration", discovery, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server/realms/{tenant}", discovery, methods=["GET"]),
]

__all__ = ["NO_STORE", "routes"]
