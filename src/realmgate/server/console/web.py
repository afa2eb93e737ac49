"""The console's HTTP plumbing: session load, roles, CSRF and Origin checks, rendering, errors.

Every console page is an ``async def handler(request, user)`` wrapped by :func:`page`, which
answers before the handler runs when the session is missing or expired (303 to sign-in), the
role lacks the action (403) or a POST fails the Origin/CSRF checks (403), and turns any
exception into an HTML error page, so no console request ever shows a stack trace or JSON.
The core services do the work (:class:`Admin`, :class:`AdminOps`, :class:`Operators`); this
module only hands them an actor ``console:<username>`` and the caller's address.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from realmgate.server.console.assets import Assets
from realmgate.server.console.forms import (
    MAX_FORM,
    ConsoleError,
    check_csrf,
    check_origin,
    parse_form,
    read_form,
    read_form_all,
)
from realmgate.server.core.admin import Admin, AdminError, NotFound
from realmgate.server.core.admin_ops import AdminOps
from realmgate.server.core.admin_views import ts
from realmgate.server.core.operators import Operators, can
from realmgate.server.core.throttle import FailureCounters, Throttle
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store
from realmgate.server.vault import Vault

log = logging.getLogger("realmgate.console")

COOKIE = "rg_console"
PRE_COOKIE = "rg_console_pre"  # the sign-in form's CSRF token, before any session exists
ENV_KEY = "console"  # app.state attribute holding the ConsoleEnv
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Pragma": "no-cache"}

# ?done=<code> -> fixed text (never free text from the URL). Page modules add theirs.
FLASHES: dict[str, str] = {
    "signed-out": "You are signed out.",
    "signed-out-all": "All your sessions are signed out.",
    "password-changed": "Your password is changed. Sign in again.",
    "totp-enabled": "Two-factor authentication is on.",
    "unblocked": "Unblocked.",
    "operator-updated": "Operator updated.",
    "operator-removed": "Operator removed.",
    "saved": "Saved.",
}

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class ConsoleEnv:
    """What console pages share (on ``app.state.console``); built by the app factory."""

    settings: Settings
    store: Store
    vault: Vault
    throttle: Throttle
    counters: FailureCounters
    templates: Environment
    assets: Assets

    @property
    def path(self) -> str:
        return self.settings.console_path


def make_env(
    settings: Settings, store: Store, vault: Vault, throttle: Throttle, counters: FailureCounters
) -> ConsoleEnv:
    from pathlib import Path

    here = Path(__file__).parent
    assets = Assets(here / "static", settings.console_path + "/static")
    templates = Environment(
        loader=FileSystemLoader(str(here / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.globals["asset"] = assets.url
    templates.globals["console_path"] = settings.console_path
    templates.globals["url"] = lambda p="/": settings.console_path + p
    templates.globals["can"] = can
    templates.filters["ts"] = ts
    return ConsoleEnv(settings, store, vault, throttle, counters, templates, assets)


def env_of(request: Request) -> ConsoleEnv:
    env: ConsoleEnv = getattr(request.app.state, ENV_KEY)
    return env


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in operator of this request (role read fresh from the operator row)."""

    username: str
    role: str
    stage: str
    csrf: str  # the session's CSRF token, rendered in every POST form
    token: str  # the cookie value (never rendered, never logged)
    source: str | None
    totp_enabled: bool = False

    def __repr__(self) -> str:
        return f"ConsoleUser({self.username!r}, {self.role!r}, {self.stage!r})"

    def can(self, action: str) -> bool:
        return self.stage == "ok" and can(self.role, action)

    @property
    def actor(self) -> str:
        return f"console:{self.username}"


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a (database-touching, blocking) core function in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def source_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def operators_service(
    request: Request, user: ConsoleUser | None = None, *, username: str | None = None
) -> Operators:
    """The core :class:`Operators` service, acting as ``user`` (or as ``console:<username>``
    during a sign-in, or ``system``)."""
    env = env_of(request)
    name = user.username if user else username
    actor = f"console:{name}" if name else "system"
    return Operators(env.store, env.vault, env.settings, actor=actor, source=source_of(request))


def admin_service(request: Request, user: ConsoleUser) -> Admin:
    """The core :class:`Admin`, acting as ``console:<username>`` from the caller's address."""
    env = env_of(request)
    return Admin(env.store, env.vault, env.settings, actor=user.actor, source=source_of(request))


def ops_service(request: Request, user: ConsoleUser) -> AdminOps:
    """The core :class:`AdminOps` (throttle, audit, settings) acting as the operator."""
    return AdminOps(admin_service(request, user), env_of(request).counters)


# responses -------------------------------------------------------------------------
def redirect(request: Request, path: str, *, done: str | None = None) -> Response:
    """303 to a console path (relative ``Location``, never built from ``Host``)."""
    env = env_of(request)
    location = env.path + path
    if done:
        location += ("&" if "?" in location else "?") + "done=" + quote(done)
    return Response(status_code=303, headers={**PAGE_HEADERS, "Location": location})


def see_other(location: str) -> Response:
    """303 to ``location``, a console path already checked (:func:`safe_next`)."""
    return Response(status_code=303, headers={**PAGE_HEADERS, "Location": location})


def safe_next(env: ConsoleEnv, value: str | None) -> str:
    """A ``next`` parameter accepted only as a relative console path; else the dashboard."""
    base = env.path
    if (
        value
        and (value == base or value.startswith(base + "/"))
        and "//" not in value
        and "\\" not in value
        and all(ch.isprintable() and ch != " " for ch in value)
        and len(value) < 1000
    ):
        return value
    return base + "/"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: ConsoleUser | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render ``template`` with the security headers, ``user``, its CSRF token, the flash."""
    env = env_of(request)
    done = request.query_params.get("done")
    ctx: dict[str, Any] = {
        "user": user,
        "csrf": user.csrf if user else "",
        "flash": FLASHES.get(done or ""),
        "request_path": request.url.path,
    }
    ctx.update(context or {})
    html = env.templates.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def error_page(
    request: Request,
    status: int,
    title: str,
    message: str = "",
    headers: dict[str, str] | None = None,
    user: ConsoleUser | None = None,
) -> Response:
    """The HTML error page (also used by the app for console 404/405)."""
    try:
        return render(
            request,
            "error.html",
            {"title": title, "message": message, "status": status},
            user=user,
            status=status,
            headers=headers,
        )
    except Exception:  # templates broken or no env: still no stack trace, still HTML
        log.exception("console error page failed")
        body = f"<!doctype html><title>{status}</title><h1>{status}</h1>"
        return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=env_of(request).path,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_cookie(request: Request, response: Response, name: str = COOKIE) -> None:
    response.delete_cookie(
        name,
        path=env_of(request).path,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


async def load_user(request: Request) -> ConsoleUser | None:
    """The session of the cookie (``None``: none, expired, or its operator disabled/removed)."""
    token = request.cookies.get(COOKIE, "")
    if not token or len(token) > 200:
        return None
    found = await run(operators_service(request).current, token)
    if found is None:
        return None
    session, operator = found
    if not operator.enabled:
        return None
    return ConsoleUser(
        username=operator.username,
        role=operator.role,
        stage=session.stage,
        csrf=session.csrf,
        token=token,
        source=source_of(request),
        totp_enabled=operator.totp_enabled,
    )


def _stage_home(stage: str) -> str:
    return {"totp": "/signin/totp", "enroll": "/account/enroll"}.get(stage, "/")


Handler = Callable[[Request, ConsoleUser], Awaitable[Response]]
PublicHandler = Callable[[Request], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


async def _guarded(
    request: Request,
    call: Callable[[], Awaitable[Response]],
    seen: list[ConsoleUser] | None = None,
) -> Response:
    """``call()``, with every exception as an HTML page (with the header nav when ``seen``
    holds the signed-in operator)."""
    try:
        return await call()
    except Exception as exc:
        user = seen[0] if seen else None
        if isinstance(exc, ConsoleError):
            return error_page(request, exc.status, exc.title, exc.message, exc.headers, user)
        if isinstance(exc, NotFound):
            return error_page(request, 404, "Not found", str(exc), user=user)
        if isinstance(exc, AdminError):  # a core refusal the page left: its message is safe
            return error_page(request, 400, "Bad request", str(exc), user=user)
        log.exception("console: unhandled error on %s %s", request.method, request.url.path)
        return error_page(
            request,
            500,
            "Something went wrong",
            "The console could not complete this request.",
            user=user,
        )


def page(
    action: str | None = "read", *, stages: tuple[str, ...] = ("ok",)
) -> Callable[[Handler], Endpoint]:
    """Wrap a signed-in page: session (else 303 to sign-in), stage, role for ``action``
    (``None``: any role), and on POST the Origin and CSRF checks; errors as HTML pages."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            seen: list[ConsoleUser] = []

            async def call() -> Response:
                env = env_of(request)
                post = request.method == "POST"
                if post:
                    check_origin(request)
                user = await load_user(request)
                if user is None:
                    if post:  # a form of an ended session: sign in, then the dashboard
                        await parse_form(request)  # read it before answering
                        return see_other(f"{env.path}/signin")
                    target = request.url.path
                    if request.url.query:
                        target += "?" + request.url.query
                    nxt = quote(safe_next(env, target), safe="/")
                    return see_other(f"{env.path}/signin?next={nxt}")
                if user.stage not in stages:
                    return redirect(request, _stage_home(user.stage))
                seen.append(user)
                if post:
                    await check_csrf(request, user.csrf)
                if action is not None and not user.can(action):
                    raise ConsoleError(403, "Not allowed", "Your role does not allow this action.")
                return await handler(request, user)

            return await _guarded(request, call, seen)

        return endpoint

    return wrap


def public_page(handler: PublicHandler) -> Endpoint:
    """A page with no session (sign-in): POSTs still get the Origin check; errors as HTML."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        async def call() -> Response:
            if request.method == "POST":
                check_origin(request)
            return await handler(request)

        return await _guarded(request, call)

    return endpoint


def new_token() -> str:
    return secrets.token_urlsafe(32)


__all__ = [
    "COOKIE",
    "ENV_KEY",
    "FLASHES",
    "MAX_FORM",
    "PAGE_HEADERS",
    "PRE_COOKIE",
    "SECURITY_HEADERS",
    "ConsoleEnv",
    "ConsoleError",
    "ConsoleUser",
    "admin_service",
    "check_csrf",
    "check_origin",
    "clear_cookie",
    "env_of",
    "error_page",
    "load_user",
    "make_env",
    "new_token",
    "operators_service",
    "ops_service",
    "page",
    "public_page",
    "read_form",
    "read_form_all",
    "redirect",
    "render",
    "run",
    "safe_next",
    "see_other",
    "set_cookie",
    "source_of",
]
