"""Keycloak's ``partialImport`` (``PartialImportRepresentation``) into an existing realm: realm
roles, clients and their service accounts, with ``ifResourceExists`` FAIL / SKIP / OVERWRITE,
in one transaction. The answer is Keycloak's ``PartialImportResults``:
``{"overwritten", "added", "skipped", "results": [{"action", "resourceType", "resourceName",
"id"}]}``. New secrets (for masked ones) are readable once through the admin API's
``client-secret`` endpoint within the reveal window."""

from __future__ import annotations

import uuid
from typing import Any

from realmgate.server.kc_import.apply import client_record
from realmgate.server.kc_import.plan import ImportPlan, plan_import
from realmgate.server.kc_import.reader import InvalidInput, Source
from realmgate.server.kc_import.shape import objects, opt_str
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import AuditEvent, ClientRecord, RoleRecord, TenantRecord
from realmgate.server.vault import Vault

POLICIES = ("FAIL", "SKIP", "OVERWRITE")


class ResourceExists(Exception):
    """``ifResourceExists`` FAIL and a resource exists: Keycloak's 409 message."""


def _result(action: str, kind: str, name: str, rid: str) -> dict[str, Any]:
    return {"action": action, "resourceType": kind, "resourceName": name, "id": rid}


def _roles(
    planned: list[tuple[str, str | None, str | None]],
    tenant: TenantRecord,
    store: Store,
    policy: str,
    now: int,
    results: list[dict[str, Any]],
) -> list[RoleRecord]:
    existing = {r.name: r for r in store.list_roles(tenant.shortcode)}
    roles: list[RoleRecord] = []
    for name, role_id, description in planned:
        old = existing.get(name)
        if old is not None and policy == "FAIL":
            raise ResourceExists(f"Realm role '{name}' already exists.")
        if old is not None and policy == "SKIP":
            results.append(_result("SKIPPED", "REALM_ROLE", name, old.id))
            continue
        rid = (old.id if old else role_id) or str(uuid.uuid4())
        roles.append(RoleRecord(tenant.shortcode, name, rid, description, now))
        action = "OVERWRITTEN" if old is not None else "ADDED"
        results.append(_result(action, "REALM_ROLE", name, rid))
    return roles


def _clients(
    plan: ImportPlan,
    tenant: TenantRecord,
    store: Store,
    vault: Vault,
    settings: Settings,
    policy: str,
    now: int,
    results: list[dict[str, Any]],
) -> tuple[list[ClientRecord], list[str], dict[str, str]]:
    clients: list[ClientRecord] = []
    replaced: list[str] = []
    actions: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for planned in plan.clients:
        cid = planned.client_id
        old = store.get_client(tenant.shortcode, cid)
        if old is not None and policy == "FAIL":
            raise ResourceExists(f"Client id '{cid}' already exists")
        if old is not None and policy == "SKIP":
            actions[cid] = "SKIPPED"
            results.append(_result("SKIPPED", "CLIENT", cid, old.internal_id))
            continue
        if planned.default_scopes is not None:
            planned.default_scopes = tuple(
                s for s in planned.default_scopes if s in tenant.client_scopes
            )
        if planned.optional_scopes is not None:
            planned.optional_scopes = tuple(
                s for s in planned.optional_scopes if s in tenant.client_scopes
            )
        record = client_record(planned, tenant, vault, settings, now, True, secrets)
        if old is not None:
            replaced.append(cid)
        clients.append(record)
        actions[cid] = "OVERWRITTEN" if old is not None else "ADDED"
        results.append(_result(actions[cid], "CLIENT", cid, record.internal_id))
    return clients, replaced, actions


def partial_import(
    rep: dict[str, Any],
    tenant: TenantRecord,
    store: Store,
    vault: Vault,
    settings: Settings,
    *,
    actor: str,
    now: int,
    source: str | None = None,
) -> dict[str, Any]:
    """Import into ``tenant``; InvalidInput for a bad body, ResourceExists (nothing written)
    for an existing resource under FAIL."""
    policy = opt_str(rep, "ifResourceExists", "$") or "FAIL"
    if policy not in POLICIES:
        raise InvalidInput("$.ifResourceExists", "must be FAIL, SKIP or OVERWRITE")
    realm_rep = {
        "realm": tenant.shortcode,
        "enabled": tenant.enabled,
        **{k: rep[k] for k in ("clients", "roles", "users") if rep.get(k) is not None},
    }
    plan = plan_import(Source(realm_rep, "partialImport"))
    results: list[dict[str, Any]] = []
    roles = _roles(plan.roles, tenant, store, policy, now, results)
    clients, replaced, actions = _clients(
        plan, tenant, store, vault, settings, policy, now, results
    )
    by_client = {c.client_id: c for c in clients}
    for user, path in objects(realm_rep, "users", "$"):
        owner = opt_str(user, "serviceAccountClientId", path)
        username = opt_str(user, "username", path) or ""
        if owner is not None and owner in actions:
            record_of = by_client.get(owner)
            uid = record_of.sub if record_of is not None else ""
            results.append(_result(actions[owner], "USER", username, uid))
        else:  # human users (and service accounts of clients not imported) do not carry over
            results.append(_result("SKIPPED", "USER", username, opt_str(user, "id", path) or ""))
    store.import_into_realm(tenant.shortcode, roles, clients, replace_clients=replaced)
    details: dict[str, Any] = {
        "policy": policy,
        "clients": [c.client_id for c in clients],
        "roles": [r.name for r in roles],
    }
    if source is not None:
        details["source"] = source
    store.record_audit(
        AuditEvent(now, actor, "tenant.partial_import", tenant.shortcode, tenant.shortcode, details)
    )
    counts = {a: sum(1 for r in results if r["action"] == a) for a in ("ADDED", "OVERWRITTEN")}
    return {
        "overwritten": counts["OVERWRITTEN"],
        "added": counts["ADDED"],
        "skipped": sum(1 for r in results if r["action"] == "SKIPPED"),
        "results": results,
    }


__all__ = ["POLICIES", "ResourceExists", "partial_import"]
