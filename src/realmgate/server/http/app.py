"""The ASGI application: one process serves the authorization server and the tenant API."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from realmgate.server.admin_api import keycloak_routes
from realmgate.server.admin_api.auth import STATE_KEY, new_context
from realmgate.server.admin_api.errors import (
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    SERVER_ERROR,
)
from realmgate.server.admin_api.realmgate_ext import routes as realmgate_admin_routes
from realmgate.server.api.auth import BearerAuth
from realmgate.server.api.settings import routes as api_routes
from realmgate.server.console import console_routes
from realmgate.server.console.web import ENV_KEY as CONSOLE_ENV_KEY
from realmgate.server.console.web import error_page as console_error_page
from realmgate.server.console.web import make_env as make_console_env
from realmgate.server.core.admin import Admin
from realmgate.server.core.admin_ops import rotate_due_keys
from realmgate.server.core.client_auth import ClientAuthenticator
from realmgate.server.core.dpop import ServerDpop
from realmgate.server.core.grants import ClientCredentialsGrant
from realmgate.server.core.introspection import TokenIntrospection
from realmgate.server.core.operators import Operators
from realmgate.server.core.realms import Directory
from realmgate.server.core.throttle import FailureCounters, Throttle, ThrottlePolicy
from realmgate.server.core.traffic import TrafficRecorder, flush_once, flush_traffic, prune_before
from realmgate.server.http.direct import serve_tokens
from realmgate.server.http.hot import HotPaths
from realmgate.server.http.log_output import flush_log_handlers
from realmgate.server.http.metrics import Metrics, metrics_routes
from realmgate.server.http.oauth import routes as oauth_routes
from realmgate.server.http.observability import RequestContextMiddleware
from realmgate.server.http.openapi import document
from realmgate.server.http.request_head import BadHead, check_head, refuse_head
from realmgate.server.http.responses import jsend_error, jsend_fail, json_response, oauth_error
from realmgate.server.http.state import AppState
from realmgate.server.runtime import Runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.notify import listen
from realmgate.verifier import DEFAULT_LEEWAY
from realmgate.wire.errors import MethodNotAllowed, OAuthError, ServerError

log = logging.getLogger("realmgate.http")


async def live(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    state: AppState = request.app.state.realmgate
    try:
        await anyio.to_thread.run_sync(state.store.latest_change_id)
    except Exception:
        log.warning("readiness check: database unreachable")
        return json_response({"status": "unavailable", "database": "unreachable"}, 503)
    return json_response({"status": "ok", "database": "ok"})


async def openapi(request: Request) -> Response:
    return json_response(document())


def _is_oauth(path: str) -> bool:
    return path.startswith(("/realms/", "/.well-known/"))


def _is_admin(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


def _is_console(request: Request) -> bool:
    """A path under the console (its errors are HTML pages, never Keycloak's JSON)."""
    settings = request.app.state.realmgate.settings
    if not settings.console_enabled:
        return False
    path: str = request.url.path
    base: str = settings.console_path
    return path == base or path.startswith(base + "/")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if _is_console(request):
        if exc.status_code == 405:
            return console_error_page(
                request,
                405,
                "Method not allowed",
                "This page does not accept that request.",
                dict(exc.headers or {}),
            )
        return console_error_page(request, 404, "Not found", "There is no such console page.")
    if _is_admin(path):  # Keycloak's bodies for unknown routes and methods
        if exc.status_code == 405:
            return json_response({"error": METHOD_NOT_ALLOWED}, 405, dict(exc.headers or {}))
        return json_response({"error": NOT_FOUND}, 404)
    if exc.status_code == 405:
        if _is_oauth(path):
            return oauth_error(MethodNotAllowed())
        return jsend_fail(405, {"method": f"{request.method} is not allowed"}, "Method not allowed")
    if _is_oauth(path):
        return json_response(
            {"error": "not_found", "error_description": "Not found"}, 404, no_store=True
        )
    if path.startswith("/v2/"):
        return jsend_fail(404, {"path": "no such resource"}, "Not found")
    return json_response({"error": "not_found"}, exc.status_code if exc.status_code < 500 else 404)


async def unhandled(request: Request, exc: Exception) -> Response:
    # uvicorn logs the traceback (Starlette re-raises after this handler): one line of context.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    if _is_console(request):
        return console_error_page(request, 500, "Something went wrong")
    if _is_oauth(request.url.path):
        return oauth_error(ServerError())
    if _is_admin(request.url.path):
        return json_response(SERVER_ERROR, 500)
    return jsend_error(500, "Internal server error")


class Waker:
    """Wakes the change-feed reader early (a PostgreSQL notification arrived)."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self._event.wait()
        self._event = anyio.Event()


async def _poll_changes(directory: Directory, interval: float, waker: Waker) -> None:
    while True:
        await waker.wait(interval)
        try:
            await directory.poll_changes()
        except Exception:  # the database may be briefly away: keep serving from cache
            log.warning("change feed poll failed; retrying", exc_info=True)


async def _maintenance(admin: Admin, settings: Settings) -> None:
    while True:
        await anyio.sleep(settings.maintenance_interval)
        try:
            # the tenants' own periods (key-policy), else key_rotation_period (0: never)
            rotated = await anyio.to_thread.run_sync(
                rotate_due_keys, admin, settings.key_rotation_period
            )
            for tenant in rotated:
                log.info("scheduled key rotation", extra={"tenant": tenant})
            now = int(time.time())
            # A revocation stays while a check with the leeway may still accept its token.
            await anyio.to_thread.run_sync(admin.store.prune_expired, now - DEFAULT_LEEWAY)
            await anyio.to_thread.run_sync(  # a failure weighs for up to two windows
                admin.store.prune_auth_failures, now - 2 * settings.throttle_window
            )
            await anyio.to_thread.run_sync(admin.store.prune_traffic, prune_before(now))
            operators = Operators(admin.store, admin.vault, settings)
            await anyio.to_thread.run_sync(operators.prune_sessions)
        except Exception:
            log.warning("maintenance run failed; retrying", exc_info=True)


class RealmgateApp(Starlette):
    """The Starlette application, with the hot routes answered before the framework runs."""

    hot: HotPaths | None = None
    console_path: str | None = None  # left alone by _admin_without_trailing_slash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                check_head(scope)
            except BadHead as exc:
                await refuse_head(scope, send, exc)
                return
            if self.hot is not None:
                handler = self.hot.match(scope)
                if handler is not None:
                    await handler(scope, receive, send)
                    return
            _admin_without_trailing_slash(scope, self.console_path)
        await super().__call__(scope, receive, send)


def _admin_without_trailing_slash(scope: Scope, console_path: str | None = None) -> None:
    """``/admin/realms/`` is ``/admin/realms``, as for Keycloak (JAX-RS matches both):
    keycloak-admin-client puts a slash after every collection path. Routed as the path
    without it, never redirected (a redirect's URL would come from the ``Host`` header)."""
    path: str = scope.get("path", "")
    if console_path and (path == console_path or path.startswith(console_path + "/")):
        return  # the console's pages: "/admin/console/" is its dashboard
    if path.startswith("/admin/") and path.endswith("/") and path.rstrip("/") != "/admin":
        scope["path"] = path.rstrip("/")
        raw: bytes | None = scope.get("raw_path")
        if raw:
            scope["raw_path"] = raw.rstrip(b"/")


def create_app(runtime: Runtime) -> Starlette:
    settings = runtime.settings
    directory = Directory(
        runtime.store,
        runtime.vault,
        settings,
        max_realms=settings.realm_cache_size,
        max_clients=settings.client_cache_size,
    )
    directory.start_at_head()
    counters: FailureCounters = runtime.store
    if settings.redis_url:
        from realmgate.server.redis_counters import RedisCounters

        counters = RedisCounters(settings.redis_url)
    policy = ThrottlePolicy(
        window=settings.throttle_window,
        source_free=settings.throttle_source_free,
        source_cap=settings.throttle_source_cap,
        client_free=settings.throttle_client_free,
        client_cap=settings.throttle_client_cap,
        base=settings.throttle_base_delay,
        known_source_ttl=settings.throttle_known_source_ttl,
    )
    throttle = Throttle(counters, policy)
    directory.on_unblock = throttle.unblocked  # an admin's unblock, through the change feed
    authenticator = ClientAuthenticator(directory, throttle=throttle)
    dpop = ServerDpop.for_directory(directory)  # token endpoint and tenant API share it
    state = AppState(
        settings=settings,
        store=runtime.store,
        directory=directory,
        grant=ClientCredentialsGrant(directory, authenticator=authenticator, dpop=dpop),
        introspection=TokenIntrospection(directory, authenticator),
        metrics=Metrics(),
        bearer=BearerAuth(directory, settings.api_token_cache_size, dpop=dpop),
        traffic=TrafficRecorder(),
        throttle=throttle,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        waker = Waker()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_poll_changes, directory, settings.cache_poll_interval, waker)
            if not settings.is_sqlite:
                tg.start_soon(listen, settings.database, waker.wake)
            tg.start_soon(_maintenance, Admin(runtime.store, runtime.vault, settings), settings)
            tg.start_soon(throttle.run, settings.throttle_sync_interval)
            tg.start_soon(
                flush_traffic, state.traffic, runtime.store, settings.traffic_flush_interval
            )
            # token requests answered by the connections themselves (direct.py)
            serve_tokens(app.hot if isinstance(app, RealmgateApp) else None)
            yield
            serve_tokens(None)
            tg.cancel_scope.cancel()
        await flush_once(state.traffic, runtime.store)
        await authenticator.assertions.aclose()
        flush_log_handlers()

    app = RealmgateApp(
        routes=[
            *oauth_routes,
            *api_routes,
            *keycloak_routes,
            *realmgate_admin_routes,
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            *metrics_routes(settings.metrics_token),
            Route("/openapi.json", openapi, methods=["GET"]),
            *(console_routes(settings) if settings.console_enabled else []),
        ],
        exception_handlers={HTTPException: http_error, Exception: unhandled},
        lifespan=lifespan,
    )
    metrics = state.metrics
    metrics.observe(
        "realmgate_cache_hits",
        "Realm and client lookups answered from memory.",
        lambda: directory.hits,
    )
    metrics.observe(
        "realmgate_cache_loads",
        "Realm and client lookups loaded from the database.",
        lambda: directory.loads,
    )
    metrics.observe(
        "realmgate_throttle_refused",
        "Requests refused with 429 by the auth throttle.",
        lambda: throttle.refused,
    )
    metrics.observe(
        "realmgate_client_jwks_fetches",
        "Fetches of private_key_jwt clients' JWKS URIs.",
        lambda: authenticator.assertions.jwks_fetches,
    )
    metrics.observe(
        "realmgate_api_token_cache_hits",
        "Tenant API requests whose bearer token was verified before (signature not rechecked).",
        lambda: state.bearer.hits,
    )
    metrics.observe(
        "realmgate_throttle_blocks", "Blocks started by the auth throttle.", lambda: throttle.blocks
    )
    # No redirect to "the same path without its slash": its URL would come from the request's
    # Host header, and a client would resend its credentials to a host an attacker chose.
    app.router.redirect_slashes = False
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.access_log)
    app.state.realmgate = state
    setattr(app.state, STATE_KEY, new_context(runtime.store, runtime.vault, settings))
    app.state.metrics = state.metrics
    app.hot = HotPaths(state)
    if settings.console_enabled:
        app.console_path = settings.console_path
        setattr(
            app.state,
            CONSOLE_ENV_KEY,
            make_console_env(settings, runtime.store, runtime.vault, throttle, counters),
        )
    return app


__all__ = ["OAuthError", "create_app"]
