"""``GET`` and ``PATCH /v2/tenants/current/settings``: "current" is the token's tenant."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.api.auth import ALGS, Caller, MissingToken
from realmgate.server.core.admin import TENANT_ADMIN_ROLE
from realmgate.server.core.tenant_settings import SettingsInvalid, apply_patch, represent
from realmgate.server.http.request_head import head_of, read_body
from realmgate.server.http.responses import jsend_fail, json_response
from realmgate.server.http.state import AppState
from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import TenantRecord
from realmgate.verifier import InsufficientScopeError, TokenError, UseDpopNonceError
from realmgate.wire import jsend
from realmgate.wire.errors import RequestTooLarge

API_REALM = "realmgate"
JSON_TYPES = frozenset({b"application/json", b"application/merge-patch+json"})
MAX_PATCH_ATTEMPTS = 5


def challenge_response(exc: TokenError | MissingToken) -> Response:
    if isinstance(exc, MissingToken):  # RFC 9449 §7.1: a challenge for each scheme
        return jsend_fail(
            401,
            {"authorization": "A bearer token is required"},
            "Authentication required",
            {"WWW-Authenticate": f'Bearer realm="{API_REALM}", DPoP algs="{ALGS}"'},
        )
    headers = {"WWW-Authenticate": exc.challenge(API_REALM)}
    if isinstance(exc, UseDpopNonceError):
        headers["DPoP-Nonce"] = exc.nonce
    if exc.status_code == 503:
        message = "Service unavailable"
    else:
        message = "Forbidden" if exc.status_code == 403 else "Invalid access token"
    return jsend_fail(exc.status_code, {"authorization": exc.description}, message, headers)


def _nonce(request: Request) -> dict[str, str] | None:
    """``DPoP-Nonce`` for a request with a proof when nonces are on (RFC 9449 §9)."""
    state: AppState = request.app.state.realmgate
    if not state.settings.dpop_nonce or head_of(request.scope).dpop is None:
        return None
    nonce = state.bearer.dpop.nonce()
    return {"DPoP-Nonce": nonce} if nonce is not None else None


async def _caller(request: Request) -> Caller:
    state: AppState = request.app.state.realmgate
    return await state.bearer.authenticate(head_of(request.scope).authorization, request.scope)


def _patch_tenant(store: Store, shortcode: str, patch: Any) -> TenantRecord | None:
    """Read-modify-write with optimistic concurrency: concurrent patches never lose a field."""
    for _ in range(MAX_PATCH_ATTEMPTS):
        current = store.get_tenant(shortcode)
        if current is None:
            return None
        updated = apply_patch(current, patch, int(time.time()))
        if store.update_tenant(updated):
            return updated
    raise RuntimeError("too much contention on tenant settings")


async def settings_endpoint(request: Request) -> Response:
    state: AppState = request.app.state.realmgate
    try:
        caller = await _caller(request)
        if request.method == "GET":
            return json_response(
                jsend.success(represent(caller.realm.tenant)), 200, _nonce(request)
            )
        if TENANT_ADMIN_ROLE not in caller.claims.roles:
            raise InsufficientScopeError(
                f"Updating settings needs the role '{TENANT_ADMIN_ROLE}'", scope=TENANT_ADMIN_ROLE
            )
    except (TokenError, MissingToken) as exc:
        return challenge_response(exc)
    head = head_of(request.scope)
    if head.media_type not in JSON_TYPES:
        return jsend_fail(
            415,
            {"content-type": "must be application/merge-patch+json or application/json"},
            "Unsupported media type",
        )
    try:
        body = await read_body(request.receive, head.content_length, state.settings.max_body_bytes)
        patch = json.loads(body.decode("utf-8"))
    except RequestTooLarge:
        return jsend_fail(413, {"body": "is too large"}, "Request body too large")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return jsend_fail(400, {"body": "must be valid JSON (UTF-8)"}, "Malformed request body")
    shortcode = caller.realm.shortcode
    try:
        updated = await anyio.to_thread.run_sync(_patch_tenant, state.store, shortcode, patch)
    except SettingsInvalid as exc:
        return jsend_fail(422, exc.errors, "Invalid settings")
    if updated is None:
        return jsend_fail(404, {"tenant": "no longer exists"}, "Tenant not found")
    state.directory.evict_realm(shortcode)
    return json_response(jsend.success(represent(updated)), 200, _nonce(request))


routes = [
    Route("/v2/tenants/current/settings", settings_endpoint, methods=["GET", "PATCH"]),
]
