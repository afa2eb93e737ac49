"""The operator's own account: two-factor setup (also the forced enrolment stage when the
install requires TOTP), password change, sign out everywhere.

The TOTP secret is shown on the setup page only (and again on that page when the code typed
was wrong, since it is not in force yet); once enabled it never shows again.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.web import (
    COOKIE,
    ConsoleUser,
    clear_cookie,
    env_of,
    operators_service,
    page,
    read_form,
    redirect,
    render,
    run,
    set_cookie,
)
from realmgate.server.core.operators import BadCredentials, OperatorError

SETUP_STAGES = ("ok", "enroll")
MAX_PASSWORD = 1024


@page(None)
async def account(request: Request, user: ConsoleUser) -> Response:
    operator = await run(operators_service(request, user).get, user.username)
    return render(
        request,
        "account.html",
        {"title": "Account", "operator": operator, "errors": {}},
        user=user,
    )


@page(None, stages=("enroll",))
async def enroll(request: Request, user: ConsoleUser) -> Response:
    return render(request, "account_enroll.html", {"title": "Set up two-factor"}, user=user)


def _totp_page(
    request: Request,
    user: ConsoleUser,
    secret: str,
    uri: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "account_totp.html",
        {
            "title": "Set up two-factor",
            "secret": secret,
            "uri": uri,
            "errors": {"code": error} if error else {},
        },
        user=user,
        status=status,
    )


@page(None, stages=SETUP_STAGES)
async def totp_setup(request: Request, user: ConsoleUser) -> Response:
    ops = operators_service(request, user)
    try:
        secret, uri = await run(ops.begin_totp, user.username)
    except OperatorError:  # already enrolled
        return redirect(request, "/account")
    return _totp_page(request, user, secret, uri)


@page(None, stages=SETUP_STAGES)
async def totp_confirm(request: Request, user: ConsoleUser) -> Response:
    form = await read_form(request)
    code = "".join(form.get("code", "").split())[:16]
    ops = operators_service(request, user)
    try:
        if not code.isdigit():
            raise OperatorError("Wrong code")
        await run(ops.confirm_totp, user.username, code)
    except OperatorError as exc:
        # Not in force yet: the page shows the pending secret again (from the form; the
        # server checks the code against its own pending secret only).
        secret = form.get("secret", "")[:64]
        uri = form.get("uri", "")[:512]
        if not secret.isalnum() or not uri.startswith("otpauth://"):
            return redirect(request, "/account" if user.stage == "ok" else "/account/enroll")
        return _totp_page(request, user, secret, uri, str(exc), 400)
    if user.stage == "enroll":
        token, _ = await run(ops.promote, user.token)
        await run(ops.signed_in, user.username)
        response = redirect(request, "/", done="totp-enabled")
        set_cookie(
            request, response, COOKIE, token, env_of(request).settings.console_session_absolute
        )
        return response
    return redirect(request, "/account", done="totp-enabled")


@page(None)
async def change_password(request: Request, user: ConsoleUser) -> Response:
    form = await read_form(request)
    current = form.get("current_password", "")[:MAX_PASSWORD]
    new = form.get("new_password", "")[:MAX_PASSWORD]
    ops = operators_service(request, user)
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Enter your current password"
    if not new:
        errors["new_password"] = "Enter a new password"
    if not errors:
        try:
            await run(ops.change_own_password, user.username, current, new)
        except BadCredentials:
            errors["current_password"] = "The current password is wrong"
        except OperatorError as exc:
            errors["new_password"] = str(exc)
    if errors:
        operator = await run(ops.get, user.username)
        return render(
            request,
            "account.html",
            {"title": "Account", "operator": operator, "errors": errors},
            user=user,
            status=400,
        )
    response = redirect(request, "/signin", done="password-changed")
    clear_cookie(request, response)
    return response


@page(None, stages=("ok", "enroll"))
async def signout_all(request: Request, user: ConsoleUser) -> Response:
    await run(operators_service(request, user).end_all_sessions, user.username)
    response = redirect(request, "/signin", done="signed-out-all")
    clear_cookie(request, response)
    return response


routes: list[BaseRoute] = [
    Route("/account", account, methods=["GET"]),
    Route("/account/enroll", enroll, methods=["GET"]),
    Route("/account/totp/setup", totp_setup, methods=["POST"]),
    Route("/account/totp/confirm", totp_confirm, methods=["POST"]),
    Route("/account/password", change_password, methods=["POST"]),
    Route("/account/signout-all", signout_all, methods=["POST"]),
]
