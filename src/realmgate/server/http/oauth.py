"""Authorization-server routes under ``/realms/{tenant}`` (Keycloak's path layout)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.core.discovery import metadata
from realmgate.server.core.grants import TokenRequest
from realmgate.server.http.client_cert import request_cert
from realmgate.server.http.request_head import head_of, read_body
from realmgate.server.http.responses import (
    NO_STORE,
    json_response,
    method_not_allowed,
    oauth_error,
)
from realmgate.server.http.state import AppState
from realmgate.wire.errors import OAuthError, RealmNotFound, UnsupportedMediaType
from realmgate.wire.forms import parse_form

FORM = b"application/x-www-form-urlencoded"


async def token(request: Request) -> Response:
    state: AppState = request.app.state.realmgate
    started = time.perf_counter()
    grant_type: str | None = None
    try:
        req = await _form_request(request, state)
        grant_type = req.form.get("grant_type")
        result = await state.grant.handle(req)
    except OAuthError as exc:
        state.metrics.token(grant_type, exc.error, time.perf_counter() - started)
        if exc.error == "invalid_client":  # the dashboard's failed authentications
            state.traffic.record(request.path_params["tenant"], False)
        return oauth_error(exc)
    state.metrics.token(grant_type, "success", time.perf_counter() - started)
    state.traffic.record(request.path_params["tenant"], True)
    nonce = state.grant.dpop.nonce() if req.dpop is not None else None
    headers = {"DPoP-Nonce": nonce} if nonce is not None else None
    return json_response(result, no_store=True, headers=headers)


async def _form_request(request: Request, state: AppState) -> TokenRequest:
    if request.method != "POST":
        raise method_not_allowed("POST")
    head = head_of(request.scope)
    if head.media_type != FORM:
        raise UnsupportedMediaType()
    body = await read_body(request.receive, head.content_length, state.settings.max_body_bytes)
    return TokenRequest(
        tenant=request.path_params["tenant"],
        form=parse_form(body),
        authorization=head.authorization,
        source=request.client.host if request.client else None,
        dpop=head.dpop,
        cert=request_cert(request.scope, state.settings),
    )


async def introspect(request: Request) -> Response:
    """RFC 7662 §2."""
    state: AppState = request.app.state.realmgate
    try:
        result = await state.introspection.introspect(await _form_request(request, state))
    except OAuthError as exc:
        return oauth_error(exc)
    return json_response(result, no_store=True)


async def revoke(request: Request) -> Response:
    """RFC 7009 §2: 200 with an empty body, also for unknown and invalid tokens."""
    state: AppState = request.app.state.realmgate
    try:
        await state.introspection.revoke(await _form_request(request, state))
    except OAuthError as exc:
        return oauth_error(exc)
    return Response(b"", status_code=200, headers=NO_STORE)


async def certs(request: Request) -> Response:
    state: AppState = request.app.state.realmgate
    realm = await state.directory.realm(request.path_params["tenant"])
    if realm is None:
        return oauth_error(RealmNotFound())
    state.metrics.jwks_served.inc()
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
    return json_response(
        metadata(realm, state.settings.mtls_base_url),
        headers={"Cache-Control": "public, max-age=300"},
    )


async def not_allowed(request: Request) -> Response:
    return oauth_error(method_not_allowed("GET"))


routes = [
    Route(
        "/realms/{tenant}/protocol/openid-connect/token",
        token,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
    ),
    Route(
        "/realms/{tenant}/protocol/openid-connect/token/introspect",
        introspect,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
    ),
    Route(
        "/realms/{tenant}/protocol/openid-connect/revoke",
        revoke,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
    ),
    Route("/realms/{tenant}/protocol/openid-connect/certs", certs, methods=["GET"]),
    Route("/realms/{tenant}/.well-known/openid-configuration", discovery, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server/realms/{tenant}", discovery, methods=["GET"]),
]

__all__ = ["NO_STORE", "routes"]
