"""Keycloak's realm imports through the admin API, by the importer of
:mod:`realmgate.server.kc_import`:

- ``POST /admin/realms`` with a full RealmRepresentation (clients, roles, users, components,
  ...): :func:`import_realm` (called by :mod:`.realms` when the body carries sub-resources),
  one transaction; 201 + ``Location``; an existing realm -> 409; an invalid body -> 400
  ``{"errorMessage": "<JSON path>: <what>"}``. Drops are imported as Keycloak would (no
  ``--allow-partial`` here); masked secrets get new ones, readable once through
  ``GET .../client-secret`` within the reveal window.
- ``POST /admin/realms/{realm}/partialImport`` (manage-realm): ``ifResourceExists`` FAIL / SKIP
  / OVERWRITE, Keycloak's PartialImportResults; FAIL on an existing resource -> 409, nothing
  written.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.admin_api.auth import AdminCaller, admin_caller, context, require
from realmgate.server.admin_api.common import created, location, ok, path_realm, run
from realmgate.server.admin_api.errors import admin_endpoint, bad_request, error_message
from realmgate.server.admin_api.params import read_object
from realmgate.server.admin_api.reps_realm import REALM_IMPORTS
from realmgate.server.kc_import.apply import RealmExists, audit, build, exists_check, write
from realmgate.server.kc_import.partial import ResourceExists, partial_import
from realmgate.server.kc_import.plan import plan_import
from realmgate.server.kc_import.reader import InvalidInput, Source, check_depth
from realmgate.server.storage.protocols import DuplicateError

PARTIAL_IMPORT = "PartialImportRepresentation"


def has_imports(rep: dict[str, Any]) -> bool:
    """Whether a RealmRepresentation carries sub-resources (a realm import)."""
    return any(rep.get(name) not in (None, [], {}, "") for name in REALM_IMPORTS)


def _invalid(exc: InvalidInput) -> Exception:
    return bad_request(f"{exc.path}: {exc.message}")


async def import_realm(request: Request, caller: AdminCaller, rep: dict[str, Any]) -> Response:
    """A full realm import (the caller may create realms)."""
    ctx = context(request)
    try:
        check_depth(rep)
        plan = plan_import(Source(rep, "request body"))
    except InvalidInput as exc:
        raise _invalid(exc) from None
    now = int(time.time())

    def work() -> None:
        exists_check(plan, ctx.store, "fail")
        built = build(plan, ctx.vault, ctx.settings, now=now, reveal=True)
        write(plan, built, ctx.store)
        audit(ctx.store, plan, built, caller.actor, now, source=caller.source)

    try:
        await run(work)
    except RealmExists:
        raise error_message(409, f"Realm {plan.realm} already exists") from None
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except DuplicateError:
        raise error_message(409, "Conflict detected. See logs for details") from None
    return created(location(request, plan.realm))


@admin_endpoint
async def partial(request: Request) -> Response:
    caller = await admin_caller(request)
    tenant = await path_realm(request, caller)
    require(caller, tenant.shortcode, "manage-realm")
    rep = await read_object(request, PARTIAL_IMPORT)
    ctx = context(request)
    try:
        check_depth(rep)
        result = await run(
            partial_import,
            rep,
            tenant,
            ctx.store,
            ctx.vault,
            ctx.settings,
            actor=caller.actor,
            source=caller.source,
            now=int(time.time()),
        )
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except ResourceExists as exc:
        raise error_message(409, str(exc)) from None
    except DuplicateError:
        raise error_message(409, "Conflict detected. See logs for details") from None
    return ok(result)


routes = [Route("/admin/realms/{realm}/partialImport", partial, methods=["POST"])]

__all__ = ["has_imports", "import_realm", "routes"]
