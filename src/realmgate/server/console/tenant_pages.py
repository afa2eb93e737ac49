"""Tenant pages: the tenant list (search, sort, paging) and a tenant's page (settings and
lifespans edit, clients, signing keys, audit trail).

Every rule is the core's: a settings form becomes a JSON merge patch checked by
:func:`~realmgate.server.core.tenant_settings.apply_patch` (through ``AdminOps``), lifespans go
through ``Admin.configure_tenant``, keys through ``Admin.rotate_key``; this module only turns
form text into those calls and the core's errors into inline field errors, keeping what was
typed. Changes are audited by the core as ``console:<operator>`` with the caller's address.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from realmgate.server.console.web import (
    FLASHES,
    ConsoleUser,
    admin_service,
    env_of,
    ops_service,
    page,
    read_form,
    redirect,
    render,
    run,
)
from realmgate.server.core.admin import Admin, AdminError
from realmgate.server.core.admin_ops import AdminOps, InvalidSettings
from realmgate.server.core.admin_views import ts
from realmgate.server.core.tenant_settings import represent
from realmgate.server.storage.records import AuditEvent, TenantRecord

log = logging.getLogger("realmgate.console")

PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50
MAX_QUERY = 100
SORTS = ("shortcode", "name", "created")
FLASHES.update(
    {
        "settings-saved": "Settings saved.",
        "lifespans-saved": "Token lifespans saved.",
        "key-policy-saved": "Key rotation period saved.",
        "key-rotated": "A new signing key is active; the previous one verifies until its "
        "last token expires.",
        "key-emergency-rotated": "A new signing key is active; the previous one is removed and "
        "every earlier token of the tenant is refused.",
    }
)

# The settings form: field (the settings' own name) -> label.
SETTINGS_LABELS: dict[str, str] = {
    "name": "Display name",
    "locale": "Locale",
    "timezone": "Time zone",
    "defaultTranscriptionLanguage": "Default transcription language",
    "transcriptionLanguages": "Transcription languages",
    "duplicateCheck": "Duplicate check",
    "maxActiveWebhooksPerUser": "Maximum active webhooks per user",
}
LIFESPAN_LABELS: dict[str, str] = {
    "access_token_lifespan": "Access token lifespan (seconds)",
    "session_max_lifespan": "Maximum token lifespan (seconds)",
}


async def apply_changes(request: Request) -> None:
    """After a change: read the change feed now, so this worker's caches drop what changed
    before the answer leaves (a token request right after a disable is refused here at once;
    other workers and nodes follow within the feed's poll interval)."""
    state = getattr(request.app.state, "realmgate", None)
    if state is None:
        return
    try:
        await state.directory.poll_changes()
    except Exception:  # the background reader catches up
        log.warning("console: reading the change feed failed", exc_info=True)


def sentence(message: str) -> str:
    """A core message (they start in lower case) as a sentence to show."""
    return message[:1].upper() + message[1:] if message else message


def words(text: str) -> list[str]:
    """Space-, comma- or line-separated values, in order, without empty ones."""
    return [w for w in text.replace(",", " ").split() if w]


def parse_int(text: str) -> int | None:
    """A whole number typed in a form; None when it is not one."""
    text = text.strip()
    if not text or len(text) > 18 or not text.lstrip("-").isdigit() or text.count("-") > 1:
        return None
    return int(text)


# the tenant list --------------------------------------------------------------------
@dataclass(frozen=True)
class Listing:
    """One page of the tenant list, and the query that made it."""

    rows: list[TenantRecord]
    total: int
    page: int
    pages: int
    q: str
    sort: str
    dir: str


def list_page(tenants: list[TenantRecord], q: str, sort: str, direction: str, page: str) -> Listing:
    """Filter (shortcode or name containing ``q``, any case), sort and cut one page; unknown
    sort keys, directions and pages fall back to the defaults (a hand-edited URL is no error)."""
    q = q.strip()[:MAX_QUERY]
    sort = sort if sort in SORTS else "shortcode"
    direction = direction if direction in ("asc", "desc") else "asc"
    needle = q.casefold()
    found = [t for t in tenants if needle in t.shortcode.casefold() or needle in t.name.casefold()]
    keys = {
        "shortcode": lambda t: (t.shortcode.casefold(), t.shortcode),
        "name": lambda t: (t.name.casefold(), t.shortcode),
        "created": lambda t: (t.created_at, t.shortcode),
    }
    found.sort(key=keys[sort], reverse=direction == "desc")
    pages = max(1, math.ceil(len(found) / PAGE_SIZE))
    number = parse_int(page) or 1
    number = min(max(1, number), pages)
    rows = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return Listing(rows, len(found), number, pages, q, sort, direction)


@page("read")
async def tenants(request: Request, user: ConsoleUser) -> Response:
    p = request.query_params
    all_tenants = await run(admin_service(request, user).list_tenants)
    listing = list_page(
        all_tenants, p.get("q", ""), p.get("sort", ""), p.get("dir", ""), p.get("page", "")
    )
    return render(
        request, "tenants.html", {"title": "Tenants", "listing": listing, "ts": ts}, user=user
    )


# the tenant page --------------------------------------------------------------------
def settings_values(tenant: TenantRecord) -> dict[str, str]:
    """The settings form's values as text, from the tenant's settings."""
    s = represent(tenant)
    return {
        "name": s["name"] or "",
        "locale": s["locale"] or "",
        "timezone": s["timezone"] or "",
        "defaultTranscriptionLanguage": s["defaultTranscriptionLanguage"] or "",
        "transcriptionLanguages": " ".join(s["transcriptionLanguages"]),
        "duplicateCheck": "on" if s["duplicateCheck"] else "",
        "maxActiveWebhooksPerUser": ""
        if s["maxActiveWebhooksPerUser"] is None
        else str(s["maxActiveWebhooksPerUser"]),
    }


def settings_patch(form: dict[str, str], tenant: TenantRecord) -> dict[str, Any]:
    """The merge patch of the fields whose text the operator changed (a field left as shown
    is not sent, so a realm imported without some setting can still change the others).
    Values get the type the core checks; text that is not a number stays text, so the
    core's own message names the problem."""
    shown = settings_values(tenant)
    patch: dict[str, Any] = {}
    for name in SETTINGS_LABELS:
        if name not in form and name != "duplicateCheck":  # a browser sends every field
            continue
        text = form.get(name, "")
        if name == "transcriptionLanguages":
            if words(text) != words(shown[name]):
                patch[name] = words(text)
        elif name == "duplicateCheck":
            if (text == "on") != (shown[name] == "on"):
                patch[name] = text == "on"
        elif text.strip() != shown[name].strip():
            value: Any = text if name == "name" else text.strip()
            if name == "defaultTranscriptionLanguage":
                value = value or None
            elif name == "maxActiveWebhooksPerUser":
                number = parse_int(value)
                value = number if number is not None else value
            patch[name] = value
    return patch


def _tenant_data(admin: Admin, ops: AdminOps, shortcode: str, audit_page: int) -> dict[str, Any]:
    """Everything the tenant page shows, read in one worker-thread trip."""
    tenant = admin.get_tenant(shortcode)
    events = ops.audit(
        tenant=shortcode, first=(audit_page - 1) * AUDIT_PAGE_SIZE, limit=AUDIT_PAGE_SIZE + 1
    )
    return {
        "tenant": tenant,
        "clients": admin.list_clients(shortcode),
        "keys": admin.list_keys(shortcode),
        "events": events[:AUDIT_PAGE_SIZE],
        "audit_more": len(events) > AUDIT_PAGE_SIZE,
        "audit_page": audit_page,
    }


def audit_rows(events: list[AuditEvent]) -> list[dict[str, str]]:
    """Audit events as table rows (the details never hold a secret; the source is a column)."""
    return [
        {
            "at": ts(e.at) or "",
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "source": str(e.details.get("source") or ""),
        }
        for e in events
    ]


async def tenant_view(
    request: Request,
    user: ConsoleUser,
    shortcode: str,
    *,
    status: int = 200,
    settings: dict[str, str] | None = None,
    settings_errors: dict[str, str] | None = None,
    lifespans: dict[str, str] | None = None,
    lifespan_errors: dict[str, str] | None = None,
    rotation_period: str | None = None,
    policy_errors: dict[str, str] | None = None,
) -> Response:
    """The tenant page; a form that failed shows its typed values and errors."""
    audit_page = max(1, min(parse_int(request.query_params.get("audit", "")) or 1, 10_000))
    data = await run(
        _tenant_data,
        admin_service(request, user),
        ops_service(request, user),
        shortcode,
        audit_page,
    )
    tenant: TenantRecord = data["tenant"]
    return render(
        request,
        "tenant.html",
        {
            **data,
            "title": tenant.shortcode,
            "audit": audit_rows(data["events"]),
            "settings": settings if settings is not None else settings_values(tenant),
            "settings_errors": settings_errors or {},
            "settings_labels": SETTINGS_LABELS,
            "lifespans": lifespans
            if lifespans is not None
            else {
                "access_token_lifespan": str(tenant.access_token_lifespan),
                "session_max_lifespan": str(tenant.session_max_lifespan),
            },
            "lifespan_errors": lifespan_errors or {},
            "lifespan_labels": LIFESPAN_LABELS,
            "rotation_period": rotation_period
            if rotation_period is not None
            else ("" if tenant.key_rotation_period is None else str(tenant.key_rotation_period)),
            "server_rotation_period": env_of(request).settings.key_rotation_period,
            "policy_errors": policy_errors or {},
            "ts": ts,
        },
        user=user,
        status=status,
    )


@page("read")
async def tenant_page(request: Request, user: ConsoleUser) -> Response:
    return await tenant_view(request, user, request.path_params["tenant"])


@page("edit_tenant")
async def save_settings(request: Request, user: ConsoleUser) -> Response:
    shortcode = request.path_params["tenant"]
    form = await read_form(request)
    typed = {k: form.get(k, "") for k in SETTINGS_LABELS}
    ops = ops_service(request, user)
    tenant = await run(ops.admin.get_tenant, shortcode)
    patch = settings_patch(form, tenant)
    if patch:
        try:
            await run(ops.patch_settings, shortcode, patch)
        except InvalidSettings as exc:
            errors = {
                k: f"{SETTINGS_LABELS[k]} {v}" if k in SETTINGS_LABELS else sentence(f"{k} {v}")
                for k, v in exc.errors.items()
            }
            return await tenant_view(
                request, user, shortcode, status=400, settings=typed, settings_errors=errors
            )
        await apply_changes(request)
    return redirect(request, f"/tenants/{shortcode}", done="settings-saved")


@page("edit_tenant")
async def save_lifespans(request: Request, user: ConsoleUser) -> Response:
    shortcode = request.path_params["tenant"]
    form = await read_form(request)
    typed = {k: form.get(k, "") for k in LIFESPAN_LABELS}
    values = {k: parse_int(v) for k, v in typed.items()}
    errors = {
        k: f"{LIFESPAN_LABELS[k]}: enter a whole number of seconds"
        for k, v in values.items()
        if v is None or v <= 0
    }
    if not errors:
        admin = admin_service(request, user)
        try:
            await run(
                admin.configure_tenant,
                shortcode,
                access_token_lifespan=values["access_token_lifespan"],
                session_max_lifespan=values["session_max_lifespan"],
            )
        except AdminError as exc:
            message = str(exc)
            name = (
                "session_max_lifespan"
                if message.startswith("the maximum")
                else "access_token_lifespan"
            )
            errors[name] = sentence(message)
    if errors:
        return await tenant_view(
            request, user, shortcode, status=400, lifespans=typed, lifespan_errors=errors
        )
    await apply_changes(request)
    return redirect(request, f"/tenants/{shortcode}", done="lifespans-saved")


@page("edit_tenant")
async def save_key_policy(request: Request, user: ConsoleUser) -> Response:
    """The tenant's own scheduled rotation period (empty: the server's; 0: never)."""
    shortcode = request.path_params["tenant"]
    typed = (await read_form(request)).get("rotation_period", "")
    period = parse_int(typed) if typed.strip() else None
    problem = None
    if typed.strip() and period is None:
        problem = "Enter a whole number of seconds, 0 (never) or nothing (the server's)"
    else:
        try:
            await run(ops_service(request, user).set_key_policy, shortcode, period)
        except AdminError as exc:
            problem = sentence(str(exc)).replace("RotationPeriod", "The rotation period", 1)
    if problem is not None:
        errors = {"rotation_period": problem}
        return await tenant_view(
            request, user, shortcode, status=400, rotation_period=typed, policy_errors=errors
        )
    return redirect(request, f"/tenants/{shortcode}", done="key-policy-saved")


async def _rotate(request: Request, user: ConsoleUser, emergency: bool) -> Response:
    shortcode = request.path_params["tenant"]
    admin = admin_service(request, user)
    await run(admin.rotate_key, shortcode, emergency=emergency)
    await apply_changes(request)
    done = "key-emergency-rotated" if emergency else "key-rotated"
    return redirect(request, f"/tenants/{shortcode}", done=done)


@page("rotate_key")
async def rotate_key(request: Request, user: ConsoleUser) -> Response:
    return await _rotate(request, user, emergency=False)


@page("rotate_key")
async def emergency_rotate(request: Request, user: ConsoleUser) -> Response:
    return await _rotate(request, user, emergency=True)


routes: list[BaseRoute] = [
    Route("/tenants", tenants, methods=["GET"]),
    Route("/tenants/{tenant}", tenant_page, methods=["GET"]),
    Route("/tenants/{tenant}/settings", save_settings, methods=["POST"]),
    Route("/tenants/{tenant}/lifespans", save_lifespans, methods=["POST"]),
    Route("/tenants/{tenant}/keys/policy", save_key_policy, methods=["POST"]),
    Route("/tenants/{tenant}/keys/rotate", rotate_key, methods=["POST"]),
    Route("/tenants/{tenant}/keys/emergency-rotate", emergency_rotate, methods=["POST"]),
]
