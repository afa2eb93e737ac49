"""Operators (admins only): create (the generated password shown once), change role, reset
two-factor, disable/enable, sign out everywhere, remove. The core audits each change under
tenant ``master`` with the acting operator and the source address.

An admin cannot demote, disable or remove their own account here (another admin, or the
CLI, can), so a console never locks out its last admin by a slip.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.web import (
    FLASHES,
    ConsoleError,
    ConsoleUser,
    clear_cookie,
    operators_service,
    page,
    read_form,
    redirect,
    render,
    run,
)
from realmgate.server.core.admin import Conflict
from realmgate.server.core.operators import ROLES, OperatorError

FLASHES.update(
    {
        "role-changed": "Role changed.",
        "totp-reset": "Two-factor authentication reset.",
        "operator-disabled": "Operator disabled; their sessions ended.",
        "operator-enabled": "Operator enabled.",
        "operator-signed-out": "All sessions of the operator ended.",
        "operator-removed": "Operator removed.",
    }
)


async def _list_page(
    request: Request,
    user: ConsoleUser,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: tuple[str, str, str] | None = None,
    status: int = 200,
) -> Response:
    operators = await run(operators_service(request, user).list)
    context: dict[str, Any] = {
        "title": "Operators",
        "operators": sorted(operators, key=lambda o: o.username),
        "roles": ROLES,
        "values": values or {"username": "", "role": "viewer"},
        "errors": errors or {},
        "created": created,
    }
    return render(request, "operators.html", context, user=user, status=status)


@page("operators")
async def operators(request: Request, user: ConsoleUser) -> Response:
    return await _list_page(request, user)


@page("operators")
async def create(request: Request, user: ConsoleUser) -> Response:
    form = await read_form(request)
    values = {
        "username": form.get("username", "").strip()[:200],
        "role": form.get("role", "")[:20],
    }
    errors: dict[str, str] = {}
    if values["role"] not in ROLES:
        errors["role"] = f"Choose a role: {', '.join(ROLES)}"
    if not values["username"]:
        errors["username"] = "Enter a username"
    if not errors:
        try:
            record, password = await run(
                operators_service(request, user).create, values["username"], values["role"]
            )
        except Conflict:
            errors["username"] = "An operator with this username exists already"
        except OperatorError as exc:
            errors["username"] = str(exc)
        else:
            return await _list_page(request, user, created=(record.username, record.role, password))
    return await _list_page(request, user, values=values, errors=errors, status=400)


async def _act(
    request: Request, user: ConsoleUser, call: Callable[[], object], done: str
) -> Response:
    """Run a core change; a refusal (the last admin, ...) shows above the list."""
    try:
        await run(call)
    except OperatorError as exc:
        return await _list_page(request, user, errors={"operators": str(exc)}, status=400)
    return redirect(request, "/operators", done=done)


def _not_self(user: ConsoleUser, username: str, what: str) -> None:
    if username == user.username:
        raise ConsoleError(
            400, "Not on your own account", f"You cannot {what} your own account here."
        )


@page("operators")
async def change_role(request: Request, user: ConsoleUser) -> Response:
    username = request.path_params["username"]
    role = (await read_form(request)).get("role", "")
    if role not in ROLES:
        raise ConsoleError(400, "Bad request", f"Choose a role: {', '.join(ROLES)}.")
    _not_self(user, username, "change the role of")
    ops = operators_service(request, user)
    return await _act(request, user, partial(ops.set_role, username, role), "role-changed")


@page("operators")
async def reset_totp(request: Request, user: ConsoleUser) -> Response:
    username = request.path_params["username"]
    ops = operators_service(request, user)
    return await _act(request, user, partial(ops.reset_totp, username), "totp-reset")


@page("operators")
async def disable(request: Request, user: ConsoleUser) -> Response:
    username = request.path_params["username"]
    _not_self(user, username, "disable")
    ops = operators_service(request, user)
    return await _act(request, user, partial(ops.set_enabled, username, False), "operator-disabled")


@page("operators")
async def enable(request: Request, user: ConsoleUser) -> Response:
    username = request.path_params["username"]
    ops = operators_service(request, user)
    return await _act(request, user, partial(ops.set_enabled, username, True), "operator-enabled")


@page("operators")
async def signout_all(request: Request, user: ConsoleUser) -> Response:
    username = request.path_params["username"]
    ops = operators_service(request, user)
    await run(ops.get, username)  # NotFound: 404
    await run(ops.end_all_sessions, username)
    if username == user.username:
        response = redirect(request, "/signin", done="signed-out-all")
        clear_cookie(request, response)
        return response
    return redirect(request, "/operators", done="operator-signed-out")


@page("operators")
async def remove(request: Request, user: ConsoleUser) -> Response:
    username = request.path_params["username"]
    _not_self(user, username, "remove")
    ops = operators_service(request, user)
    return await _act(request, user, partial(ops.delete, username), "operator-removed")


routes: list[BaseRoute] = [
    Route("/operators", operators, methods=["GET"]),
    Route("/operators", create, methods=["POST"]),
    Route("/operators/{username}/role", change_role, methods=["POST"]),
    Route("/operators/{username}/reset-totp", reset_totp, methods=["POST"]),
    Route("/operators/{username}/disable", disable, methods=["POST"]),
    Route("/operators/{username}/enable", enable, methods=["POST"]),
    Route("/operators/{username}/signout-all", signout_all, methods=["POST"]),
    Route("/operators/{username}/remove", remove, methods=["POST"]),
]
