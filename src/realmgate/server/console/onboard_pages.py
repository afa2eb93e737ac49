"""Onboarding: a form that creates a tenant with its first client, answered by a page with
the client's credentials and the seed document's snippets (curl, Python, TypeScript) filled
with this server's URLs.

The secret is shown in the answer to the POST only (``no-store``); reloading sends the form
again, which finds the tenant existing and shows no secret. The URLs are the settings'
(``issuer_base_url``/``api_base_url``, else what the server derives from its own address),
never the request's ``Host`` header.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.snippets import snippets, token_url
from realmgate.server.console.tenant_pages import apply_changes, sentence, words
from realmgate.server.console.web import (
    ConsoleUser,
    admin_service,
    env_of,
    page,
    read_form,
    render,
    run,
)
from realmgate.server.core.admin import TENANT_ADMIN_ROLE, Admin, AdminError, Conflict
from realmgate.server.core.admin_clients import IssuedCredentials
from realmgate.server.core.client_config import ConfigError, check_roles

DEFAULT_CLIENT_ID = "api-client"
FIELDS = ("shortcode", "name", "client_id", "roles")


def check_onboarding(admin: Admin, form: dict[str, str]) -> dict[str, str]:
    """Each field checked on its own by the core's rules (the creation checks again)."""
    errors: dict[str, str] = {}
    shortcode = form["shortcode"]
    try:
        admin.check_shortcode(shortcode)
    except AdminError as exc:
        errors["shortcode"] = sentence(str(exc)) if shortcode else "Enter a tenant shortcode"
    try:
        admin.check_client_id(form["client_id"])
    except AdminError as exc:
        errors["client_id"] = sentence(str(exc)) if form["client_id"] else "Enter a client ID"
    try:
        check_roles(tuple(words(form["roles"])))
    except ConfigError as exc:
        errors["roles"] = sentence(str(exc))
    if form["name"].strip():
        try:
            admin.check_tenant_name(form["name"])
        except AdminError as exc:
            errors["name"] = sentence(str(exc))
    return errors


def _onboard(admin: Admin, form: dict[str, str]) -> IssuedCredentials:
    """Create the tenant and its client; the roles typed replace the default one."""
    issued = admin.create_tenant(
        form["shortcode"], name=form["name"].strip() or None, client_id=form["client_id"]
    )
    roles = tuple(words(form["roles"]))
    if roles and roles != (TENANT_ADMIN_ROLE,):
        admin.configure_client(issued.tenant, issued.client_id, roles=roles)
    return issued


def _form_page(
    request: Request,
    user: ConsoleUser,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "onboard.html",
        {"title": "Onboard a tenant", "values": values, "errors": errors or {}},
        user=user,
        status=status,
    )


@page("onboard")
async def onboard_form(request: Request, user: ConsoleUser) -> Response:
    values = {"shortcode": "", "name": "", "client_id": DEFAULT_CLIENT_ID, "roles": ""}
    return _form_page(request, user, values)


@page("onboard")
async def onboard(request: Request, user: ConsoleUser) -> Response:
    """Create the tenant and answer with its credentials and snippets (shown this once)."""
    form = await read_form(request)
    values = {k: form.get(k, "") for k in FIELDS}
    values["shortcode"] = values["shortcode"].strip()
    values["client_id"] = values["client_id"].strip()
    admin = admin_service(request, user)
    errors = check_onboarding(admin, values)
    if not errors:
        try:
            issued = await run(_onboard, admin, values)
        except Conflict:
            errors = {"shortcode": f"Tenant {values['shortcode']} exists already"}
        except AdminError as exc:
            errors = {"form": sentence(str(exc))}
    if errors:
        return _form_page(request, user, values, errors, status=400)
    await apply_changes(request)
    settings = env_of(request).settings
    context: dict[str, Any] = {
        "title": "Tenant created",
        "tenant": issued.tenant,
        "client_id": issued.client_id,
        "secret": issued.client_secret,
        "token_url": token_url(settings.sso_base, issued.tenant),
        "snippets": snippets(
            settings.sso_base,
            settings.api_base,
            issued.tenant,
            issued.client_id,
            issued.client_secret,
        ),
    }
    return render(request, "onboarded.html", context, user=user)


routes: list[BaseRoute] = [
    Route("/onboard", onboard_form, methods=["GET"]),
    Route("/onboard", onboard, methods=["POST"]),
]
