"""Keycloak's OIDC protocol mappers, as far as they change a service-account access token, to
realmgate's client fields: audiences, hardcoded claims, realm and admin roles.

Mappers realmgate already reproduces (realm roles in ``realm_access``, ``realm-management``
roles in ``resource_access``, ``sub``, ``preferred_username``, ``client_id``) are *imported*;
those that put nothing into a service account's token (e-mail, names, address) are *skipped*;
the rest are *dropped*, blocking when they would change what the token says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from realmgate.server.core.policy import RESERVED_CLAIMS
from realmgate.server.kc_import.reader import InvalidInput, child
from realmgate.server.kc_import.report import Outcome
from realmgate.server.kc_import.shape import opt_str, str_map

# Mappers whose claims realmgate puts in every token anyway.
BUILT_IN = {
    "oidc-usermodel-realm-role-mapper": "realmgate puts realm roles in realm_access.roles",
    "oidc-usermodel-client-role-mapper": "realmgate puts client roles in resource_access",
    "oidc-sub-mapper": "realmgate puts the service account's id in sub",
}
# Mappers that add nothing to a service account's token (no such user data).
NO_VALUE = {
    "oidc-full-name-mapper",
    "oidc-address-mapper",
    "oidc-usermodel-attribute-mapper",
    "oidc-group-membership-mapper",
    "oidc-allowed-origins-mapper",
    "oidc-claims-param-token-mapper",
    "oidc-nonce-backwards-compatible-mapper",
}
NOT_ACCESS_TOKEN = "not in access tokens"
CLIENT_ROLES_CLAIM = "resource_access.${client_id}.roles"
MAX_AUDIENCE = 2048


@dataclass
class Effect:
    """What a client's mappers add to its tokens."""

    audiences: list[str] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)  # realm roles
    admin_roles: list[str] = field(default_factory=list)  # realm-management roles
    audience_resolve: bool = False


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    blocking: bool = False


def _in_access_token(config: dict[str, str]) -> bool:
    # OIDCAttributeMapperHelper.includeInAccessToken: absent means yes (backwards compatible).
    return config.get("access.token.claim", "true") == "true"


def _claim_path(name: str) -> list[str]:
    """Keycloak's nested claim names: ``a.b`` nests, ``a\\.b`` is one name."""
    parts, current, i = [], "", 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name) and name[i + 1] == ".":
            current += "."
            i += 2
            continue
        if name[i] == ".":
            parts.append(current)
            current = ""
        else:
            current += name[i]
        i += 1
    parts.append(current)
    return parts


def _typed(value: str, label: str | None, path: str) -> Any:
    """A hardcoded claim's value in its ``jsonType.label``."""
    kind = (label or "String").lower()
    try:
        if kind in ("long", "int"):
            return int(value)
        if kind == "boolean":
            return value.strip().lower() == "true"
        if kind == "json":
            return json.loads(value)
    except (ValueError, RecursionError):
        raise InvalidInput(path, f"is not a valid {label} value") from None
    return value


def _set_claim(claims: dict[str, Any], parts: list[str], value: Any) -> None:
    node = claims
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = node[part] = {}
        node = nxt
    node[parts[-1]] = value


def _claim(effect: Effect, claim_name: str, value: Any) -> Verdict:
    parts = _claim_path(claim_name)
    if not claim_name or any(not p for p in parts):
        return Verdict("dropped", f"claim name {claim_name[:60]!r} is not valid", True)
    if parts[0] in RESERVED_CLAIMS:
        return Verdict("dropped", f"realmgate sets the claim {parts[0]!r} itself", True)
    _set_claim(effect.claims, parts, value)
    return Verdict("imported", f"claim {claim_name}")


def apply_mapper(
    mapper: dict[str, Any],
    path: str,
    effect: Effect,
    *,
    client_id: str,
    role_of: Any,
) -> Verdict:
    """Apply one ProtocolMapperRepresentation to ``effect``; the report's verdict on it.
    ``role_of(name)``: ("realm"|"admin"|None, role) for a hardcoded role's name."""
    kind = opt_str(mapper, "protocolMapper", path) or ""
    protocol = opt_str(mapper, "protocol", path) or "openid-connect"
    config = str_map(mapper, "config", path)
    config_path = child(path, "config")
    if protocol != "openid-connect":
        return Verdict("skipped", f"{protocol} mapper")
    if not _in_access_token(config):
        return Verdict("skipped", NOT_ACCESS_TOKEN)
    if kind == "oidc-audience-mapper":
        audience = config.get("included.client.audience") or config.get("included.custom.audience")
        if not audience:
            return Verdict("skipped", "no audience configured")
        if len(audience) > MAX_AUDIENCE:
            return Verdict("dropped", f"audience longer than {MAX_AUDIENCE} characters", True)
        effect.audiences.append(audience)
        return Verdict("imported", f"audience {audience}")
    if kind == "oidc-audience-resolve-mapper":
        effect.audience_resolve = True
        return Verdict("imported", "audiences of the clients whose roles the token carries")
    if kind == "oidc-hardcoded-claim-mapper":
        value = _typed(
            config.get("claim.value", ""),
            config.get("jsonType.label"),
            child(config_path, "claim.value"),
        )
        return _claim(effect, config.get("claim.name", ""), value)
    if kind == "oidc-hardcoded-role-mapper":
        name = config.get("role", "")
        where, role = role_of(name)
        if where == "realm":
            effect.roles.append(role)
            return Verdict("imported", f"realm role {role}")
        if where == "admin":
            effect.admin_roles.append(role)
            return Verdict("imported", f"realm-management role {role}")
        return Verdict("dropped", f"role {name[:60]!r} is not a realm role realmgate has", True)
    if kind == "oidc-usersessionmodel-note-mapper":
        note = config.get("user.session.note", "")
        if note == "clientId":
            claim_name = config.get("claim.name", "client_id")
            if claim_name == "client_id":
                return Verdict("imported", "realmgate puts client_id")
            return _claim(effect, claim_name, client_id)
        return Verdict("dropped", f"session note {note[:40]!r}: per-request data realmgate omits")
    if kind == "oidc-usermodel-property-mapper":
        claim_name = config.get("claim.name", "preferred_username")
        prop = config.get("user.attribute") or claim_name.replace("preferred_username", "username")
        if prop != "username":
            return Verdict("skipped", f"a service account has no {prop[:40]}")
        if claim_name == "preferred_username":
            return Verdict("imported", "realmgate puts preferred_username")
        return _claim(effect, claim_name, f"service-account-{client_id}".lower())
    if kind == "oidc-usermodel-realm-role-mapper":
        if config.get("claim.name", "realm_access.roles") != "realm_access.roles" or config.get(
            "usermodel.realmRoleMapping.rolePrefix"
        ):
            return Verdict("dropped", "realmgate puts realm roles in realm_access.roles only", True)
        return Verdict("imported", BUILT_IN[kind])
    if kind == "oidc-usermodel-client-role-mapper" and (
        config.get("claim.name", CLIENT_ROLES_CLAIM) != CLIENT_ROLES_CLAIM
        or config.get("usermodel.clientRoleMapping.rolePrefix")
        or config.get("usermodel.clientRoleMapping.clientId")
    ):
        return Verdict("dropped", "realmgate puts client roles in resource_access only", True)
    if kind in BUILT_IN:
        return Verdict("imported", BUILT_IN[kind])
    if kind == "oidc-acr-mapper":
        return Verdict("dropped", "realmgate does not put acr in service tokens")
    if kind in NO_VALUE:
        return Verdict("skipped", "adds nothing to a service account's token")
    return Verdict("dropped", f"no realmgate equivalent of {kind[:60]!r}", True)


__all__ = ["Effect", "Verdict", "apply_mapper"]
