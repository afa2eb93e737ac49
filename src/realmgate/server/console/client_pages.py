"""A client's page: its options (roles, scopes, lifespan, audiences, custom claims), secret
rotation with a grace period (the new secret shown once), ending the previous secret,
disable/enable, and revoking its tokens.

The new secret appears in the answer to the rotation's POST only, with ``no-store``: no GET
URL ever carries it, so neither the history, a reload nor the back button shows it again.
Field values are checked by the core's own validators (``client_config``, the client admin's
field checks) one by one so each error lands next to its field; the change itself is one
``Admin.configure_client`` call, which checks everything again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.tenant_pages import apply_changes, parse_int, sentence, words
from realmgate.server.console.web import (
    FLASHES,
    ConsoleError,
    ConsoleUser,
    admin_service,
    page,
    read_form,
    redirect,
    render,
    run,
)
from realmgate.server.core.admin import Admin, AdminError
from realmgate.server.core.admin_clients import DEFAULT_SECRET_GRACE
from realmgate.server.core.admin_views import ts
from realmgate.server.core.client_config import (
    KEY_METHODS,
    ConfigError,
    binding_name,
    check_audiences,
    check_claims,
    check_lifespan,
    check_roles,
)
from realmgate.server.storage.records import ClientRecord, TenantRecord

FLASHES.update(
    {
        "client-saved": "Client saved.",
        "previous-ended": "The previous secret is refused from now on.",
        "client-disabled": "Client disabled: it gets no more tokens and its tokens are refused.",
        "client-enabled": "Client enabled.",
        "tokens-revoked": "Every token the client got until now is refused.",
    }
)
LABELS: dict[str, str] = {
    "roles": "Roles",
    "scopes": "Scopes",
    "lifespan": "Token lifespan (seconds)",
    "audiences": "Audiences",
    "claims": "Custom claims (JSON)",
}
MAX_GRACE = 366 * 86_400
BINDING_TEXT = {
    "none": "none (bearer tokens)",
    "dpop": "DPoP (RFC 9449): a proof with every token request",
    "cert": "client certificate (RFC 8705)",
    "dpop+cert": "DPoP and client certificate",
}
RESENT = {
    "rotate": "Nothing was rotated: the client changed since this form was loaded. If you "
    "reloaded the page of a new secret, that secret is the current one. Rotate again here "
    "if you need another."
}


def _default_scopes(client: ClientRecord, realm: TenantRecord) -> tuple[str, ...]:
    """The scopes a token gets without asking: the client's own, or the realm's defaults."""
    if client.default_scopes is not None:
        return client.default_scopes
    return tuple(n for n, kind in realm.client_scopes.items() if kind == "default")


def option_values(client: ClientRecord, realm: TenantRecord) -> dict[str, str]:
    """The options form's values as text."""
    return {
        "roles": " ".join(client.roles),
        "scopes": " ".join(_default_scopes(client, realm)),
        "lifespan": ""
        if client.access_token_lifespan is None
        else str(client.access_token_lifespan),
        "audiences": " ".join(client.audiences or ()),
        "claims": json.dumps(client.claims, indent=2, ensure_ascii=False) if client.claims else "",
    }


@dataclass
class OptionChanges:
    """The keyword arguments of ``configure_client`` for what the form changed, or the
    problems found, by field."""

    kwargs: dict[str, Any]
    errors: dict[str, str]


def option_changes(
    admin: Admin, client: ClientRecord, realm: TenantRecord, form: dict[str, str]
) -> OptionChanges:
    """Each changed field checked on its own by the core's validators; a field the form
    does not hold is left as it is."""
    current = option_values(client, realm)
    form = {**current, **{k: v for k, v in form.items() if k in current}}
    kwargs: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def check(name: str, fn: Any) -> None:
        try:
            fn()
        except (ConfigError, AdminError) as exc:
            errors[name] = sentence(str(exc))

    roles = tuple(words(form.get("roles", "")))
    if roles != tuple(words(current["roles"])):
        check("roles", lambda: kwargs.update(roles=check_roles(roles)))
    scopes = tuple(words(form.get("scopes", "")))
    if scopes != tuple(words(current["scopes"])):
        check(
            "scopes",
            lambda: kwargs.update(
                default_scopes=admin.check_client_fields(realm, default_scopes=scopes)[
                    "default_scopes"
                ]
            ),
        )
    lifespan = form.get("lifespan", "").strip()
    if lifespan != current["lifespan"]:
        if not lifespan:
            kwargs["reset_lifespan"] = True
        elif (value := parse_int(lifespan)) is None:
            errors["lifespan"] = "Enter a whole number of seconds, or nothing for the default"
        else:

            def lifespan_ok(value: int = value) -> None:
                check_lifespan("the token lifespan", value)
                admin.check_client_fields(realm, access_token_lifespan=value)
                kwargs["access_token_lifespan"] = value

            check("lifespan", lifespan_ok)
    audiences = tuple(words(form.get("audiences", "")))
    if audiences != tuple(words(current["audiences"])):
        check("audiences", lambda: kwargs.update(audiences=check_audiences(audiences)))
    claims_text = form.get("claims", "").strip()
    try:
        claims = json.loads(claims_text) if claims_text else {}
    except ValueError:
        errors["claims"] = "Custom claims must be a JSON object"
    else:
        if not isinstance(claims, dict):
            errors["claims"] = "Custom claims must be a JSON object"
        elif claims != client.claims:
            check("claims", lambda: kwargs.update(claims=check_claims(claims)))
    return OptionChanges(kwargs, {k: f"{v}" for k, v in errors.items()})


def _client_data(admin: Admin, tenant: str, client_id: str) -> dict[str, Any]:
    return {"realm": admin.get_tenant(tenant), "client": admin.get_client(tenant, client_id)}


async def client_view(
    request: Request,
    user: ConsoleUser,
    *,
    status: int = 200,
    options: dict[str, str] | None = None,
    option_errors: dict[str, str] | None = None,
    grace: str | None = None,
    grace_errors: dict[str, str] | None = None,
) -> Response:
    """The client page; a form that failed shows its typed values and errors."""
    tenant, client_id = request.path_params["tenant"], request.path_params["client"]
    data = await run(_client_data, admin_service(request, user), tenant, client_id)
    client: ClientRecord = data["client"]
    return render(
        request,
        "client.html",
        {
            **data,
            "title": client.client_id,
            "options": options if options is not None else option_values(client, data["realm"]),
            "option_errors": option_errors or {},
            "labels": LABELS,
            "grace": grace if grace is not None else str(DEFAULT_SECRET_GRACE),
            "grace_errors": grace_errors or {},
            "has_secret": client.auth_method not in KEY_METHODS,
            "binding": BINDING_TEXT[binding_name(client.dpop_bound, client.cert_bound)],
            "ts": ts,
        },
        user=user,
        status=status,
    )


def _path(request: Request) -> str:
    return f"/tenants/{request.path_params['tenant']}/clients/{request.path_params['client']}"


@page("read")
async def client_page(request: Request, user: ConsoleUser) -> Response:
    return await client_view(request, user)


@page("edit_client")
async def save_options(request: Request, user: ConsoleUser) -> Response:
    tenant, client_id = request.path_params["tenant"], request.path_params["client"]
    form = await read_form(request)
    typed = {k: form.get(k, "") for k in LABELS}
    admin = admin_service(request, user)
    data = await run(_client_data, admin, tenant, client_id)
    changes = option_changes(admin, data["client"], data["realm"], form)
    errors = changes.errors
    if not errors and changes.kwargs:
        try:
            await run(admin.configure_client, tenant, client_id, **changes.kwargs)
        except AdminError as exc:
            errors = {"options": sentence(str(exc))}
        else:
            await apply_changes(request)
    if errors:
        return await client_view(request, user, status=400, options=typed, option_errors=errors)
    return redirect(request, _path(request), done="client-saved")


@page("rotate_secret")
async def rotate_secret(request: Request, user: ConsoleUser) -> Response:
    """A new secret; the answer to this POST is the only place it is ever shown. The form
    carries the client's version: a form sent again (a reload of the answer page) finds a
    newer client and rotates nothing."""
    tenant, client_id = request.path_params["tenant"], request.path_params["client"]
    form = await read_form(request)
    typed = form.get("grace", "")
    grace = parse_int(typed)
    problem = None
    if grace is None:
        problem = "Enter a whole number of seconds (0 ends the current secret at once)"
    elif not 0 <= grace <= MAX_GRACE:
        problem = f"The grace period must be between 0 and {MAX_GRACE} seconds"
    admin = admin_service(request, user)
    client = await run(admin.get_client, tenant, client_id)
    if client.auth_method in KEY_METHODS:
        raise ConsoleError(
            400, "No secret", "This client authenticates with its key or certificate only."
        )
    if form.get("version") != str(client.version):
        # the page that sent this form is older than the client: most likely the answer
        # page reloaded (the browser sends the rotation again); never rotate twice
        return await client_view(request, user, status=409, grace=typed, grace_errors=RESENT)
    if problem is None and grace is not None:
        try:
            issued = await run(admin.rotate_secret, tenant, client_id, grace=grace)
        except AdminError as exc:
            problem = sentence(str(exc))
    if problem is not None or grace is None:
        return await client_view(
            request, user, status=400, grace=typed, grace_errors={"grace": problem or ""}
        )
    await apply_changes(request)
    return render(
        request,
        "secret_once.html",
        {
            "title": "New client secret",
            "tenant": tenant,
            "client_id": client_id,
            "secret": issued.client_secret,
            "grace": grace,
            "path": _path(request),
        },
        user=user,
    )


@page("rotate_secret")
async def end_previous(request: Request, user: ConsoleUser) -> Response:
    tenant, client_id = request.path_params["tenant"], request.path_params["client"]
    await run(admin_service(request, user).end_previous_secret, tenant, client_id)
    await apply_changes(request)
    return redirect(request, _path(request), done="previous-ended")


async def _set_enabled(request: Request, user: ConsoleUser, enabled: bool) -> Response:
    tenant, client_id = request.path_params["tenant"], request.path_params["client"]
    await run(admin_service(request, user).set_client_enabled, tenant, client_id, enabled)
    await apply_changes(request)
    return redirect(
        request, _path(request), done="client-enabled" if enabled else "client-disabled"
    )


@page("enable_client")
async def disable(request: Request, user: ConsoleUser) -> Response:
    return await _set_enabled(request, user, False)


@page("enable_client")
async def enable(request: Request, user: ConsoleUser) -> Response:
    return await _set_enabled(request, user, True)


@page("revoke_tokens")
async def revoke_tokens(request: Request, user: ConsoleUser) -> Response:
    tenant, client_id = request.path_params["tenant"], request.path_params["client"]
    await run(admin_service(request, user).revoke_client_tokens, tenant, client_id)
    await apply_changes(request)
    return redirect(request, _path(request), done="tokens-revoked")


_BASE = "/tenants/{tenant}/clients/{client}"
routes: list[BaseRoute] = [
    Route(_BASE, client_page, methods=["GET"]),
    Route(_BASE + "/options", save_options, methods=["POST"]),
    Route(_BASE + "/rotate-secret", rotate_secret, methods=["POST"]),
    Route(_BASE + "/end-previous-secret", end_previous, methods=["POST"]),
    Route(_BASE + "/disable", disable, methods=["POST"]),
    Route(_BASE + "/enable", enable, methods=["POST"]),
    Route(_BASE + "/revoke-tokens", revoke_tokens, methods=["POST"]),
]
