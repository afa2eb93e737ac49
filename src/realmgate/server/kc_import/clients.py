"""One Keycloak ClientRepresentation (with its service account) to a :class:`ClientPlan`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from realmgate.server.core.client_config import (
    ADMIN_ROLE_NAMES,
    MAX_CLAIMS_BYTES,
    MAX_SECRET_CHARS,
    ConfigError,
    check_client_auth,
    check_extra,
    check_jwks,
    check_jwks_uri,
    check_lifespan,
    check_subject_dn,
    check_tls_san,
    is_regex_dn,
)
from realmgate.server.kc_import.certs import jwks_of_certificate
from realmgate.server.kc_import.mappers import Effect, apply_mapper
from realmgate.server.kc_import.report import RealmReport
from realmgate.server.kc_import.roles import REALM_MANAGEMENT, RoleGraph
from realmgate.server.kc_import.shape import (
    list_map,
    objects,
    opt_bool,
    opt_int,
    opt_str,
    str_list,
    str_map,
)
from realmgate.server.kc_import.uuids import keycloak_id
from realmgate.server.storage.records import AuthMethod
from realmgate.wire.names import is_client_id, is_role

MASKED_SECRET = "**********"  # Keycloak's ComponentRepresentation.SECRET_VALUE
BUILT_IN_CLIENTS = frozenset(
    {
        "account",
        "account-console",
        "admin-cli",
        "broker",
        "security-admin-console",
        REALM_MANAGEMENT,
    }
)
AUTHENTICATORS: dict[str, AuthMethod] = {
    "client-secret": "client_secret",
    "client-jwt": "private_key_jwt",
    "client-secret-jwt": "client_secret_jwt",
    "client-x509": "tls_client_auth",
    "realmgate-x509-self-signed": "self_signed_tls_client_auth",
}
DPOP_ATTR = "dpop.bound.access.tokens"
CERT_ATTR = "tls.client.certificate.bound.access.tokens"
SUBJECT_ATTR = "tls.client.auth.subject.dn"
SAN_ATTR = "realmgate.tls.client.auth.san"
REGEX_ATTR = "x509.allow.regex.pattern.comparison"
ACTED_ON_ATTRS = frozenset(
    {
        "access.token.lifespan",
        "client.secret.creation.time",
        "use.jwks.url",
        "jwks.url",
        "use.jwks.string",
        "jwks.string",
        "jwt.credential.certificate",
        DPOP_ATTR,
        CERT_ATTR,
        SUBJECT_ATTR,
        SAN_ATTR,
    }
)
ECHOED = (
    "rootUrl",
    "adminUrl",
    "baseUrl",
    "redirectUris",
    "webOrigins",
    "standardFlowEnabled",
    "implicitFlowEnabled",
    "directAccessGrantsEnabled",
    "fullScopeAllowed",
    "consentRequired",
    "frontchannelLogout",
    "alwaysDisplayInConsole",
    "surrogateAuthRequired",
    "nodeReRegistrationTimeout",
    "protocolMappers",
)
# Keycloak's default roles give every user the `account` client's roles: no use to a service.
ACCOUNT = "account"


@dataclass
class ClientPlan:
    client_id: str
    auth_method: AuthMethod
    enabled: bool = True
    internal_id: str | None = None
    sub: str | None = None
    name: str | None = None
    description: str | None = None
    secret: str | None = field(default=None, repr=False)  # None: a new one is generated
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    access_token_lifespan: int | None = None
    default_scopes: tuple[str, ...] | None = None
    optional_scopes: tuple[str, ...] | None = None
    roles: tuple[str, ...] = ()
    admin_roles: tuple[str, ...] = ()
    # Roles of other clients (resource_access.<clientId>.roles): clientId -> role names.
    client_roles: dict[str, list[str]] = field(default_factory=dict)
    audiences: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    not_before: int = 0
    created_at: int | None = None  # the service account's createdTimestamp, in seconds
    dpop_bound: bool = False
    cert_bound: bool = False
    tls_subject_dn: str | None = None
    tls_san: str | None = None


def _refusal(client: dict[str, Any], path: str, client_id: str, realm: str) -> str | None:
    """Why the client does not carry over at all (None: it does)."""
    if client_id in BUILT_IN_CLIENTS or (realm == "master" and client_id.endswith("-realm")):
        return "Keycloak's own client"
    protocol = opt_str(client, "protocol", path) or "openid-connect"
    if protocol != "openid-connect":
        return f"{protocol} clients do not carry over"
    if opt_bool(client, "publicClient", path):
        return "public clients do not carry over"
    if opt_bool(client, "bearerOnly", path):
        return "bearer-only clients get no tokens"
    if not opt_bool(client, "serviceAccountsEnabled", path):
        return "no service account: realmgate serves the client credentials grant only"
    return None


def _credentials(
    plan: ClientPlan, client: dict[str, Any], path: str, attrs: dict[str, str], report: RealmReport
) -> bool:
    """Secret or key of the client; False when it cannot authenticate in realmgate."""
    cid = plan.client_id
    if plan.auth_method == "tls_client_auth":
        return _tls_subject(plan, attrs, report)
    if plan.auth_method in ("private_key_jwt", "self_signed_tls_client_auth"):
        try:
            if attrs.get("use.jwks.url") == "true":
                plan.jwks_uri = check_jwks_uri(attrs.get("jwks.url", ""))
            elif attrs.get("use.jwks.string") == "true":
                plan.jwks = check_jwks(json.loads(attrs.get("jwks.string", "")))
            elif attrs.get("jwt.credential.certificate"):
                plan.jwks = check_jwks(jwks_of_certificate(attrs["jwt.credential.certificate"]))
            else:
                raise ConfigError("client-jwt without a JWKS, JWKS URL or certificate")
            if plan.auth_method == "self_signed_tls_client_auth" and plan.jwks is None:
                raise ConfigError("a self-signed certificate client needs a JWKS (jwks.string)")
        except (ConfigError, ValueError) as exc:
            report.add("client", cid, "dropped", f"client-jwt key: {exc}", blocking=True)
            return False
        return True
    secret = opt_str(client, "secret", path)
    if secret is None or secret == MASKED_SECRET or secret.startswith("${vault."):
        what = "missing" if secret is None else "masked"
        report.add(
            "secret",
            cid,
            "changed",
            f"the export's secret is {what}: a new secret is generated (shown once)",
            blocking=True,
        )
    elif len(secret) > MAX_SECRET_CHARS:
        report.add(
            "secret", cid, "changed", "secret longer than 512 characters: a new one", blocking=True
        )
    else:
        plan.secret = secret
    return True


def _tls_subject(plan: ClientPlan, attrs: dict[str, str], report: RealmReport) -> bool:
    """``client-x509``: the subject DN (or realmgate's SAN) the certificate must have."""
    dn, san = attrs.get(SUBJECT_ATTR) or None, attrs.get(SAN_ATTR) or None
    regex = attrs.get(REGEX_ATTR, "true").strip().lower() == "true"  # Keycloak: true if absent
    try:
        if dn is not None and regex and is_regex_dn(dn):
            raise ConfigError(
                "the subject DN is a regular expression: realmgate compares distinguished names"
            )
        plan.tls_subject_dn = check_subject_dn(dn) if dn is not None else None
        plan.tls_san = check_tls_san(san) if san is not None else None
        check_client_auth(
            plan.auth_method,
            jwks=None,
            jwks_uri=None,
            tls_subject_dn=plan.tls_subject_dn,
            tls_san=plan.tls_san,
        )
    except ConfigError as exc:
        report.add("client", plan.client_id, "dropped", f"client-x509: {exc}", blocking=True)
        return False
    return True


def _scopes(
    client: dict[str, Any], path: str, key: str, realm_scopes: dict[str, str] | None
) -> tuple[str, ...] | None:
    if client.get(key) is None:
        return None
    names = str_list(client, key, path)
    if realm_scopes is not None:
        names = [n for n in names if n in realm_scopes]
    return tuple(dict.fromkeys(names))


def _roles(
    plan: ClientPlan,
    account: tuple[dict[str, Any], str] | None,
    graph: RoleGraph,
    report: RealmReport,
    allowed_realm_roles: set[str] | None,
) -> None:
    cid = plan.client_id
    if account is None:
        report.add("user", f"service-account-{cid}".lower(), "skipped", "not in the file: no roles")
        return
    user, path = account
    plan.sub = keycloak_id(opt_str(user, "id", path))
    created = opt_int(user, "createdTimestamp", path)
    if created is not None and created > 0:
        plan.created_at = created // 1000
    groups = str_list(user, "groups", path)
    if groups:
        report.add(
            "user",
            f"service-account-{cid}".lower(),
            "dropped",
            "group memberships do not carry over: " + ", ".join(g[:40] for g in groups[:5]),
            blocking=True,
        )
    realm_roles, pairs = graph.expand(
        str_list(user, "realmRoles", path), list_map(user, "clientRoles", path)
    )
    if allowed_realm_roles is not None:
        realm_roles = [r for r in realm_roles if r in allowed_realm_roles]
    for role in realm_roles:
        if not is_role(role):
            report.add("role", f"{cid}/{role[:60]}", "dropped", "invalid role name", blocking=True)
    plan.roles = tuple(r for r in realm_roles if is_role(r))
    admin, account_roles = [], []
    for owner, role in pairs:
        if owner == REALM_MANAGEMENT and role in ADMIN_ROLE_NAMES:
            admin.append(role)
        elif owner == REALM_MANAGEMENT:
            report.add("clientRole", f"{cid}/{role[:60]}", "dropped", "no such admin permission")
        elif owner == ACCOUNT:
            account_roles.append(role)
        else:
            plan.client_roles.setdefault(owner, []).append(role)
    for owner, names in plan.client_roles.items():
        report.add("clientRole", f"{cid}/{owner[:60]}", "imported", ", ".join(names)[:200])
    if account_roles:
        report.add("clientRole", f"{cid}/account", "dropped", "account roles (Keycloak's default)")
    plan.admin_roles = tuple(admin)


def _mappers(
    plan: ClientPlan,
    client: dict[str, Any],
    path: str,
    *,
    scopes: list[str],
    scope_reps: dict[str, tuple[dict[str, Any], str]],
    graph: RoleGraph,
    report: RealmReport,
) -> None:
    effect = Effect()
    sources = [(m, p, f"{plan.client_id}/") for m, p in objects(client, "protocolMappers", path)]
    for scope in scopes:
        if scope in scope_reps:
            rep, scope_path = scope_reps[scope]
            sources += [(m, p, f"{scope}/") for m, p in objects(rep, "protocolMappers", scope_path)]
    for mapper, mapper_path, prefix in sources:
        verdict = apply_mapper(
            mapper, mapper_path, effect, client_id=plan.client_id, role_of=graph.role_of
        )
        name = prefix + (opt_str(mapper, "name", mapper_path) or "?")[:80]
        report.add_once("mapper", name, verdict.outcome, verdict.reason, blocking=verdict.blocking)
    if effect.audience_resolve:  # Keycloak: the clients whose roles the token carries
        holders = [*plan.client_roles, *([REALM_MANAGEMENT] if plan.admin_roles else [])]
        effect.audiences += [h for h in holders if h != plan.client_id]
    plan.audiences = tuple(dict.fromkeys(effect.audiences))
    plan.claims = effect.claims
    if len(json.dumps(plan.claims)) > MAX_CLAIMS_BYTES:
        report.add(
            "client",
            plan.client_id,
            "dropped",
            f"hardcoded claims over {MAX_CLAIMS_BYTES} bytes of JSON",
            blocking=True,
        )
        plan.claims = {}
    if plan.client_roles:
        plan.claims["resource_access"] = {
            owner: {"roles": names} for owner, names in plan.client_roles.items()
        }
    plan.roles = tuple(dict.fromkeys([*plan.roles, *effect.roles]))
    plan.admin_roles = tuple(dict.fromkeys([*plan.admin_roles, *effect.admin_roles]))


def plan_client(
    client: dict[str, Any],
    path: str,
    *,
    realm: str,
    report: RealmReport,
    graph: RoleGraph,
    account: tuple[dict[str, Any], str] | None,
    realm_scopes: dict[str, str] | None,
    default_scopes: list[str],
    scope_reps: dict[str, tuple[dict[str, Any], str]],
    scope_mappings: list[tuple[dict[str, Any], str]],
) -> ClientPlan | None:
    cid = opt_str(client, "clientId", path) or ""
    refusal = _refusal(client, path, cid, realm)
    if refusal is not None:
        own = refusal == "Keycloak's own client"
        report.add("client", cid[:80], "skipped" if own else "dropped", refusal)
        return None
    if not is_client_id(cid):
        report.add("client", cid[:80], "dropped", "not a valid realmgate client id", blocking=True)
        return None
    authenticator = opt_str(client, "clientAuthenticatorType", path) or "client-secret"
    if authenticator not in AUTHENTICATORS:
        report.add("client", cid, "dropped", f"authenticator {authenticator[:40]!r}", blocking=True)
        return None
    plan = ClientPlan(cid, AUTHENTICATORS[authenticator])
    plan.enabled = opt_bool(client, "enabled", path) is not False
    plan.internal_id = keycloak_id(opt_str(client, "id", path))
    plan.name = opt_str(client, "name", path)
    plan.description = opt_str(client, "description", path)
    plan.not_before = max(0, opt_int(client, "notBefore", path) or 0)
    attrs = str_map(client, "attributes", path)
    if not _credentials(plan, client, path, attrs, report):
        return None
    plan.dpop_bound = attrs.get(DPOP_ATTR, "").strip().lower() == "true"
    plan.cert_bound = attrs.get(CERT_ATTR, "").strip().lower() == "true"
    lifespan = attrs.get("access.token.lifespan", "")
    if lifespan and lifespan != "-1":
        try:
            plan.access_token_lifespan = check_lifespan("access.token.lifespan", int(lifespan))
        except (ConfigError, ValueError) as exc:
            report.add("client", cid, "changed", f"{exc}: the realm's lifespan applies")
    plan.default_scopes = _scopes(client, path, "defaultClientScopes", realm_scopes)
    plan.optional_scopes = _scopes(client, path, "optionalClientScopes", realm_scopes)
    scopes = (
        default_scopes
        if client.get("defaultClientScopes") is None
        else (str_list(client, "defaultClientScopes", path))
    )
    allowed: set[str] | None = None
    if opt_bool(client, "fullScopeAllowed", path) is False:
        allowed = set()
        for mapping, mapping_path in scope_mappings:
            holder = opt_str(mapping, "client", mapping_path) or opt_str(
                mapping, "clientScope", mapping_path
            )
            if holder == cid or holder in scopes:
                allowed.update(str_list(mapping, "roles", mapping_path))
    _roles(plan, account, graph, report, allowed)
    _mappers(plan, client, path, scopes=scopes, scope_reps=scope_reps, graph=graph, report=report)
    if opt_bool(client, "authorizationServicesEnabled", path):
        report.add("client", cid, "changed", "authorization services do not carry over")
    extra: dict[str, Any] = {k: client[k] for k in ECHOED if client.get(k) is not None}
    extra["attributes"] = {k: v for k, v in attrs.items() if k not in ACTED_ON_ATTRS}
    try:
        plan.extra = check_extra(extra)
    except ConfigError:
        extra.pop("protocolMappers", None)
        plan.extra = extra if len(json.dumps(extra)) < 60_000 else {}
        report.add("client", cid, "changed", "echoed Keycloak fields trimmed (too large)")
    report.add("client", cid, "imported", authenticator)
    return plan


__all__ = ["AUTHENTICATORS", "MASKED_SECRET", "ClientPlan", "plan_client"]
