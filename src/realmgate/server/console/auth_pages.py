"""Sign-in (password, then the TOTP code when the operator has one) and sign-out.

Sign-ins go through the app's client-authentication :class:`Throttle` under the tenant tag
``#console`` with the username as client id, so per-source and per-account back-off and the
"known good source" rule are those of the token endpoint. Unknown user, wrong password and
disabled account answer the same text after the same Argon2 work (the core does the work).
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.web import (
    COOKIE,
    PRE_COOKIE,
    ConsoleError,
    ConsoleUser,
    clear_cookie,
    env_of,
    load_user,
    new_token,
    operators_service,
    page,
    public_page,
    read_form,
    redirect,
    render,
    run,
    safe_next,
    see_other,
    set_cookie,
    source_of,
)
from realmgate.server.core.admin_blocks import CONSOLE_TAG
from realmgate.server.core.operators import BAD_CREDENTIALS, BadCredentials
from realmgate.server.core.throttle import source_key

log = logging.getLogger("realmgate.console")

PRE_COOKIE_AGE = 3600
MAX_USERNAME = 128
MAX_PASSWORD = 1024


def _throttled(request: Request, username: str) -> None:
    """429 page while the source, or this account from a source not known good, is blocked."""
    wait = env_of(request).throttle.retry_after(
        source_key(source_of(request)), CONSOLE_TAG, username
    )
    if wait is not None:
        raise ConsoleError(
            429,
            "Too many failed sign-ins",
            f"Too many failed sign-ins; try again in {wait} seconds.",
            {"Retry-After": str(wait)},
        )


async def _failed(request: Request, username: str, step: str) -> None:
    await env_of(request).throttle.failed(source_key(source_of(request)), CONSOLE_TAG, username)
    log.warning(
        "console sign-in failed (%s) for %r from %s",
        step,
        username[:64],
        source_of(request),
        extra={"event": "console.signin_failed", "source": source_of(request)},
    )


def _signin_form(
    request: Request,
    csrf: str,
    nxt: str,
    *,
    username: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    response = render(
        request,
        "signin.html",
        {"title": "Sign in", "pre_csrf": csrf, "next": nxt, "username": username, "error": error},
        status=status,
    )
    set_cookie(request, response, PRE_COOKIE, csrf, PRE_COOKIE_AGE)
    return response


def _pre_token(request: Request) -> str:
    token = request.cookies.get(PRE_COOKIE, "")
    return token if 20 <= len(token) <= 100 and token.isascii() else new_token()


@public_page
async def signin(request: Request) -> Response:
    env = env_of(request)
    nxt = safe_next(env, request.query_params.get("next"))
    if request.method == "GET":
        user = await load_user(request)
        if user is not None and user.stage == "ok":
            return see_other(nxt)
        return _signin_form(request, _pre_token(request), nxt)
    form = await read_form(request)
    expected = request.cookies.get(PRE_COOKIE, "")
    sent = form.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ConsoleError(
            403,
            "Request refused",
            "The sign-in form expired or was not sent from this console. Reload and try again.",
        )
    nxt = safe_next(env, form.get("next"))
    username = form.get("username", "").strip().lower()[:MAX_USERNAME]
    password = form.get("password", "")[:MAX_PASSWORD]
    _throttled(request, username)
    ops = operators_service(request)
    try:
        if not username or not password:
            raise BadCredentials()
        result = await run(ops.check_password, username, password)
    except BadCredentials:
        await _failed(request, username, "password")
        return _signin_form(
            request, expected, nxt, username=username, error=BAD_CREDENTIALS, status=401
        )
    token, _ = await run(ops.start_session, username, result.stage, source_of(request))
    if result.stage == "ok":
        # a known good source only after the whole sign-in (with TOTP: after the code), so a
        # stolen password cannot exempt sources from the account's block while codes are guessed
        env.throttle.succeeded(source_key(source_of(request)), CONSOLE_TAG, username)
        await run(operators_service(request, username=username).signed_in, username)
        location = nxt
    elif result.stage == "totp":
        location = f"{env.path}/signin/totp?next={quote(nxt, safe='/')}"
    else:
        location = f"{env.path}/account/enroll"
    response = see_other(location)
    set_cookie(request, response, COOKIE, token, env.settings.console_session_absolute)
    clear_cookie(request, response, PRE_COOKIE)
    log.info("console sign-in (%s) by %s", result.stage, username)
    return response


@page(None, stages=("totp",))
async def signin_totp(request: Request, user: ConsoleUser) -> Response:
    env = env_of(request)
    nxt = safe_next(env, request.query_params.get("next"))
    ctx = {"title": "Two-factor authentication", "next": nxt, "error": None}
    if request.method == "GET":
        return render(request, "signin_totp.html", ctx, user=user)
    form = await read_form(request)
    nxt = safe_next(env, form.get("next"))
    ctx["next"] = nxt
    _throttled(request, user.username)
    code = "".join(form.get("code", "").split())[:16]
    ops = operators_service(request, user)
    try:
        if not code.isdigit():
            raise BadCredentials("Wrong authentication code")
        await run(ops.check_totp, user.username, code)
    except BadCredentials as exc:
        await _failed(request, user.username, "totp")
        ctx["error"] = str(exc)
        return render(request, "signin_totp.html", ctx, user=user, status=401)
    try:
        token, _ = await run(ops.promote, user.token)
    except BadCredentials:  # expired meanwhile: start again
        return redirect(request, "/signin")
    await run(ops.signed_in, user.username)
    env.throttle.succeeded(source_key(source_of(request)), CONSOLE_TAG, user.username)
    response = see_other(nxt)
    set_cookie(request, response, COOKIE, token, env.settings.console_session_absolute)
    return response


@page(None, stages=("ok", "totp", "enroll"))
async def signout(request: Request, user: ConsoleUser) -> Response:
    await run(operators_service(request, user).end_session, user.token)
    response = redirect(request, "/signin", done="signed-out")
    clear_cookie(request, response)
    return response


routes: list[BaseRoute] = [
    Route("/signin", signin, methods=["GET", "POST"]),
    Route("/signin/totp", signin_totp, methods=["GET", "POST"]),
    Route("/signout", signout, methods=["POST"]),
]
