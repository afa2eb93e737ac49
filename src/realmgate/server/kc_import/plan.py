"""A Keycloak RealmRepresentation to an :class:`ImportPlan`: what each part becomes in
realmgate, and the migration report's rows. Nothing here touches storage or secrets' hashes.

What carries over (see docs/migrating-from-keycloak.md): the realm (name as the shortcode,
exactly), its display name, enabled, access token lifespan, not-before, default locale; realm
roles; confidential service-account clients (id, clientId, name, description, enabled, secret,
``client-secret``/``client-jwt``/``client-secret-jwt``, ``access.token.lifespan``, client
scopes); the service accounts' role mappings with composites resolved; protocol mappers with an
equivalent (:mod:`.mappers`); key providers (:mod:`.keys`). The rest is reported item by item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from realmgate.server.core.client_config import ADMIN_ROLE_NAMES, ConfigError, check_scope_name
from realmgate.server.kc_import.clients import ClientPlan, plan_client
from realmgate.server.kc_import.reader import InvalidInput, Source, child
from realmgate.server.kc_import.report import RealmReport
from realmgate.server.kc_import.roles import RoleGraph
from realmgate.server.kc_import.shape import (
    objects,
    opt_bool,
    opt_int,
    opt_list,
    opt_obj,
    opt_str,
    str_list,
    str_map,
)
from realmgate.wire.names import is_shortcode

# Realm fields kept in TenantRecord.extra and echoed by the admin API (not acted on).
DPOP_REQUIRED_ATTR = "realmgate.dpop.required"  # TenantRecord.dpop_required (realmgate's)
REALM_EXTRA = (
    "defaultLocale",
    "displayNameHtml",
    "internationalizationEnabled",
    "supportedLocales",
    "attributes",
)
# Realm fields realmgate acts on or that the plan reads.
REALM_HANDLED = frozenset(
    {
        "id",
        "realm",
        "displayName",
        "enabled",
        "accessTokenLifespan",
        "notBefore",
        "defaultSignatureAlgorithm",
        "roles",
        "clients",
        "clientScopes",
        "defaultDefaultClientScopes",
        "defaultOptionalClientScopes",
        "users",
        "components",
        "scopeMappings",
        "clientScopeMappings",
        "keycloakVersion",
        "defaultRole",
        "defaultRoles",
        *REALM_EXTRA,
    }
)
# Parts of a realm that do not carry over, listed item by item: field -> (kind, name field).
NOT_CARRIED = {
    "identityProviders": ("identityProvider", "alias"),
    "identityProviderMappers": ("identityProviderMapper", "name"),
    "groups": ("group", "name"),
    "authenticationFlows": ("authenticationFlow", "alias"),
    "authenticatorConfig": ("authenticatorConfig", "alias"),
    "requiredActions": ("requiredAction", "alias"),
    "federatedUsers": ("federatedUser", "username"),
}
REASONS = {
    "identityProvider": "identity brokering does not carry over",
    "identityProviderMapper": "identity brokering does not carry over",
    "group": "groups do not carry over (their members are human users)",
    "authenticationFlow": "browser flows do not carry over",
    "authenticatorConfig": "browser flows do not carry over",
    "requiredAction": "required actions are for human users",
    "federatedUser": "human users do not carry over",
}
MAX_FIELD_NAMES = 40


@dataclass
class ImportPlan:
    """One realm's import, ready to apply."""

    realm: str
    file: str
    report: RealmReport
    realm_id: str | None = None
    display_name: str | None = None
    enabled: bool = False
    access_token_lifespan: int | None = None
    not_before: int = 0
    signing_alg: str = "RS256"
    client_scopes: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    dpop_required: bool = False  # realmgate's realm attribute "realmgate.dpop.required"
    roles: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    clients: list[ClientPlan] = field(default_factory=list)
    components: dict[str, Any] | None = None


def _token_scopes(rep: dict[str, Any], report: RealmReport) -> dict[str, str] | None:
    """The realm's client scopes that appear in the ``scope`` claim: name -> default|optional."""
    scopes = objects(rep, "clientScopes", "$")
    if not scopes and "clientScopes" not in rep:
        return None
    defaults = set(str_list(rep, "defaultDefaultClientScopes", "$"))
    out: dict[str, str] = {}
    for scope, path in scopes:
        name = opt_str(scope, "name", path) or ""
        protocol = opt_str(scope, "protocol", path) or "openid-connect"
        attributes = str_map(scope, "attributes", path)
        if protocol != "openid-connect":
            report.add("clientScope", name, "dropped", f"{protocol} scope")
            continue
        try:
            check_scope_name(name)
        except ConfigError:
            report.add("clientScope", name, "dropped", "not a valid scope name", blocking=True)
            continue
        if attributes.get("include.in.token.scope", "true") == "false":
            report.add("clientScope", name, "imported", "its mappers only (not in scope)")
            continue
        out[name] = "default" if name in defaults else "optional"
        report.add("clientScope", name, "imported", out[name])
    out.setdefault("openid", "optional")
    return out


def _not_carried(rep: dict[str, Any], report: RealmReport) -> None:
    for name, (kind, key) in NOT_CARRIED.items():
        items = opt_list(rep, name, "$")
        built_in = 0
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidInput(child(child("$", name), n), "must be an object")
            if item.get("builtIn") is True:
                built_in += 1
                continue
            label = item.get(key)
            report.add(kind, str(label)[:80] if label else str(n), "dropped", REASONS[kind])
        if built_in:
            report.add(kind, f"built-in ({built_in})", "skipped", "Keycloak's own")
    if rep.get("smtpServer"):
        report.add("smtp", "smtpServer", "dropped", "realmgate sends no e-mail")
    for theme in ("loginTheme", "accountTheme", "adminTheme", "emailTheme"):
        if rep.get(theme):
            report.add("theme", theme, "dropped", "realmgate has no UI")
    other = sorted(
        k for k in rep if k not in REALM_HANDLED and k not in NOT_CARRIED and rep[k] is not None
    )
    other = [k for k in other if k not in ("smtpServer", "loginTheme", "accountTheme")]
    if other:
        shown = ", ".join(k[:60] for k in other[:MAX_FIELD_NAMES])
        more = f" and {len(other) - MAX_FIELD_NAMES} more" if len(other) > MAX_FIELD_NAMES else ""
        report.add("field", "realm settings", "skipped", f"not acted on: {shown}{more}")


def _service_accounts(
    rep: dict[str, Any], report: RealmReport
) -> dict[str, tuple[dict[str, Any], str]]:
    """Service-account users by their client's clientId; human users reported."""
    accounts: dict[str, tuple[dict[str, Any], str]] = {}
    for user, path in objects(rep, "users", "$"):
        owner = opt_str(user, "serviceAccountClientId", path)
        username = opt_str(user, "username", path) or ""
        if owner is None:
            report.add("user", username[:80], "skipped", "human users do not carry over")
            continue
        if owner in accounts:
            raise InvalidInput(
                child(path, "serviceAccountClientId"), f"a second service account of {owner!r}"
            )
        accounts[owner] = (user, path)
    return accounts


def plan_import(source: Source) -> ImportPlan:
    """Plan one realm: InvalidInput (with the JSON path) for what cannot be read at all."""
    try:
        return _plan(source)
    except InvalidInput as exc:
        exc.file = exc.file or source.file
        raise


def _plan(source: Source) -> ImportPlan:
    rep = source.realm
    realm = opt_str(rep, "realm", "$")
    if not realm:
        raise InvalidInput("$.realm", "the realm name is required")
    if not is_shortcode(realm):
        raise InvalidInput(
            "$.realm",
            f"{realm[:70]!r} cannot be a realmgate realm name: use 1-63 letters, digits, '.', "
            "'_' and '-', starting with a letter or digit",
        )
    report = RealmReport(realm, source.file)
    plan = ImportPlan(realm=realm, file=source.file, report=report)
    plan.realm_id = opt_str(rep, "id", "$")
    plan.display_name = opt_str(rep, "displayName", "$")
    plan.enabled = bool(opt_bool(rep, "enabled", "$"))
    plan.access_token_lifespan = opt_int(rep, "accessTokenLifespan", "$")
    plan.not_before = max(0, opt_int(rep, "notBefore", "$") or 0)
    plan.signing_alg = opt_str(rep, "defaultSignatureAlgorithm", "$") or "RS256"
    plan.extra = {k: rep[k] for k in REALM_EXTRA if rep.get(k) is not None}
    opt_obj(rep, "attributes", "$")
    if isinstance(plan.extra.get("attributes"), dict):
        attributes = dict(plan.extra["attributes"])
        flag = attributes.pop(DPOP_REQUIRED_ATTR, None)
        plan.dpop_required = isinstance(flag, str) and flag.strip().lower() == "true"
        plan.extra["attributes"] = attributes
    report.add("realm", realm, "imported", "name, display name, enabled, lifespan, not-before")
    plan.client_scopes = _token_scopes(rep, report)
    graph = RoleGraph.read(rep, report)
    plan.roles = graph.realm_role_rows()
    accounts = _service_accounts(rep, report)
    scope_reps = {opt_str(s, "name", p) or "": (s, p) for s, p in objects(rep, "clientScopes", "$")}
    seen: dict[str, str] = {}
    for client, path in objects(rep, "clients", "$"):
        client_id = opt_str(client, "clientId", path)
        if not client_id:
            raise InvalidInput(child(path, "clientId"), "is required")
        if client_id in seen:
            raise InvalidInput(
                child(path, "clientId"),
                f"duplicate clientId {client_id[:70]!r} (also at {seen[client_id]})",
            )
        seen[client_id] = path
        planned = plan_client(
            client,
            path,
            realm=realm,
            report=report,
            graph=graph,
            account=accounts.pop(client_id, None),
            realm_scopes=plan.client_scopes,
            default_scopes=str_list(rep, "defaultDefaultClientScopes", "$"),
            scope_reps=scope_reps,
            scope_mappings=objects(rep, "scopeMappings", "$"),
        )
        if planned is not None:
            plan.clients.append(planned)
    for owner, (user, _path) in accounts.items():
        report.add(
            "user",
            str(user.get("username") or owner)[:80],
            "skipped",
            f"service account of a client not in the file ({owner[:60]})",
        )
    components = opt_obj(rep, "components", "$")
    plan.components = components or None
    _not_carried(rep, report)
    return plan


__all__ = ["ADMIN_ROLE_NAMES", "ImportPlan", "plan_import"]
