"""Keycloak's RealmRepresentation, RoleRepresentation, KeysMetadataRepresentation and
ClientScopeRepresentation, to and from realmgate's records.

A realm field realmgate acts on maps to a :class:`TenantRecord` field; the other fields
Keycloak's RealmRepresentation has are kept in ``TenantRecord.extra`` and echoed; the
sub-resources a full realm import carries (``users``, ``clients``, ``roles``, ...) are refused
by :func:`realm_input` with a 400 naming the field when not empty (an update); a ``POST
/admin/realms`` that carries them is a realm import (:mod:`.realm_import`).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose.keys import EC_CURVES, key_type
from realmgate.server.admin_api.errors import bad_request
from realmgate.server.admin_api.params import (
    check_fields,
    opt_bool,
    opt_int,
    opt_object,
    opt_str,
    opt_str_list,
    opt_str_map,
)
from realmgate.server.storage.records import KeyRecord, RoleRecord, TenantRecord


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


REALM = "RealmRepresentation"
ROLE = "RoleRepresentation"

# The fields realmgate acts on.
REALM_HANDLED = frozenset(
    {
        "id",
        "realm",
        "displayName",
        "enabled",
        "accessTokenLifespan",
        "notBefore",
        "defaultSignatureAlgorithm",
    }
)
# Sub-resources of a realm import: refused unless empty.
REALM_IMPORTS = frozenset(
    {
        "users",
        "federatedUsers",
        "clients",
        "roles",
        "groups",
        "clientScopes",
        "scopeMappings",
        "clientScopeMappings",
        "components",
        "identityProviders",
        "identityProviderMappers",
        "authenticationFlows",
        "authenticatorConfig",
        "requiredActions",
        "protocolMappers",
        "userFederationProviders",
        "userFederationMappers",
        "organizations",
        "applications",
        "oauthClients",
        "clientTemplates",
        "applicationScopeMappings",
        "socialProviders",
        "privateKey",
        "publicKey",
        "certificate",
        "codeSecret",
    }
)
# Every other RealmRepresentation field (Keycloak 26): kept in ``extra`` and echoed.
REALM_ECHOED = words(
    """displayNameHtml revokeRefreshToken refreshTokenMaxReuse
    accessTokenLifespanForImplicitFlow
    ssoSessionIdleTimeout ssoSessionMaxLifespan ssoSessionIdleTimeoutRememberMe
    ssoSessionMaxLifespanRememberMe offlineSessionIdleTimeout offlineSessionMaxLifespanEnabled
    offlineSessionMaxLifespan clientSessionIdleTimeout clientSessionMaxLifespan
    clientOfflineSessionIdleTimeout clientOfflineSessionMaxLifespan accessCodeLifespan
    accessCodeLifespanUserAction accessCodeLifespanLogin actionTokenGeneratedByAdminLifespan
    actionTokenGeneratedByUserLifespan oauth2DeviceCodeLifespan oauth2DevicePollingInterval
    sslRequired passwordCredentialGrantAllowed registrationAllowed registrationEmailAsUsername
    rememberMe verifyEmail loginWithEmailAllowed duplicateEmailsAllowed resetPasswordAllowed
    editUsernameAllowed userCacheEnabled realmCacheEnabled bruteForceProtected permanentLockout
    maxTemporaryLockouts bruteForceStrategy maxFailureWaitSeconds minimumQuickLoginWaitSeconds
    waitIncrementSeconds quickLoginCheckMilliSeconds maxDeltaTimeSeconds failureFactor
    defaultRoles defaultRole defaultGroups requiredCredentials passwordPolicy otpPolicyType
    otpPolicyAlgorithm otpPolicyInitialCounter otpPolicyDigits otpPolicyLookAheadWindow
    otpPolicyPeriod otpPolicyCodeReusable otpSupportedApplications localizationTexts
    webAuthnPolicyRpEntityName webAuthnPolicySignatureAlgorithms webAuthnPolicyRpId
    webAuthnPolicyAttestationConveyancePreference webAuthnPolicyAuthenticatorAttachment
    webAuthnPolicyRequireResidentKey webAuthnPolicyUserVerificationRequirement
    webAuthnPolicyCreateTimeout webAuthnPolicyAvoidSameAuthenticatorRegister
    webAuthnPolicyAcceptableAaguids webAuthnPolicyExtraOrigins
    webAuthnPolicyPasswordlessRpEntityName webAuthnPolicyPasswordlessSignatureAlgorithms
    webAuthnPolicyPasswordlessRpId webAuthnPolicyPasswordlessAttestationConveyancePreference
    webAuthnPolicyPasswordlessAuthenticatorAttachment webAuthnPolicyPasswordlessRequireResidentKey
    webAuthnPolicyPasswordlessUserVerificationRequirement webAuthnPolicyPasswordlessCreateTimeout
    webAuthnPolicyPasswordlessAvoidSameAuthenticatorRegister
    webAuthnPolicyPasswordlessAcceptableAaguids webAuthnPolicyPasswordlessExtraOrigins
    webAuthnPolicyPasswordlessPasskeysEnabled clientProfiles clientPolicies
    defaultDefaultClientScopes defaultOptionalClientScopes browserSecurityHeaders smtpServer
    loginTheme accountTheme adminTheme emailTheme eventsEnabled eventsExpiration
    eventsListeners enabledEventTypes adminEventsEnabled adminEventsDetailsEnabled
    internationalizationEnabled supportedLocales defaultLocale browserFlow registrationFlow
    directGrantFlow resetCredentialsFlow clientAuthenticationFlow dockerAuthenticationFlow
    firstBrokerLoginFlow attributes keycloakVersion userManagedAccessAllowed
    organizationsEnabled oid4VciEnabled verifiableCredentialsEnabled adminPermissionsEnabled
    adminPermissionsClient social updateProfileOnInitialSocialLogin"""
)
REALM_FIELDS = REALM_HANDLED | REALM_IMPORTS | REALM_ECHOED

ROLE_FIELDS = frozenset(
    {
        "id",
        "name",
        "description",
        "scopeParamRequired",
        "composite",
        "composites",
        "clientRole",
        "containerId",
        "attributes",
    }
)


@dataclass(frozen=True, slots=True)
class RealmInput:
    """What a RealmRepresentation asks of realmgate; None: not given."""

    realm: str | None
    display_name: str | None
    enabled: bool | None
    access_token_lifespan: int | None
    not_before: int | None
    signing_alg: str | None
    extra: dict[str, Any]
    dpop_required: bool | None = None  # realmgate's realm attribute DPOP_REQUIRED_ATTR


# Every client of the realm must send DPoP proofs (TenantRecord.dpop_required). Keycloak has no
# realm setting for it (a client policy does it there): realmgate's own attribute.
DPOP_REQUIRED_ATTR = "realmgate.dpop.required"


def realm_input(rep: dict[str, Any]) -> RealmInput:
    """Validate a RealmRepresentation (create or partial update)."""
    check_fields(rep, REALM_FIELDS, REALM)
    for name in REALM_IMPORTS:
        value = rep.get(name)
        if value not in (None, [], {}, ""):
            raise bad_request(
                f"realmgate does not import '{name}' with a realm: create the realm, then its "
                "clients and roles through their own endpoints"
            )
    opt_str(rep, "id")
    extra: dict[str, Any] = {}
    for name in REALM_ECHOED:
        if rep.get(name) is not None:
            extra[name] = rep[name]
    dpop_required: bool | None = None
    if "attributes" in extra:
        attributes = dict(opt_str_map(rep, "attributes") or {})
        flag = attributes.pop(DPOP_REQUIRED_ATTR, None)
        dpop_required = None if flag is None else flag.strip().lower() == "true"
        extra["attributes"] = attributes
    for name in ("displayNameHtml", "defaultLocale", "sslRequired", "accountTheme"):
        if name in extra:
            extra[name] = opt_str(rep, name)
    for name in ("supportedLocales", "defaultDefaultClientScopes", "defaultOptionalClientScopes"):
        if name in extra:
            extra[name] = opt_str_list(rep, name)
    if "defaultRole" in extra:
        opt_object(rep, "defaultRole")
    return RealmInput(
        realm=opt_str(rep, "realm"),
        display_name=opt_str(rep, "displayName"),
        enabled=opt_bool(rep, "enabled"),
        access_token_lifespan=opt_int(rep, "accessTokenLifespan"),
        not_before=opt_int(rep, "notBefore"),
        signing_alg=opt_str(rep, "defaultSignatureAlgorithm"),
        extra=extra,
        dpop_required=dpop_required,
    )


def realm_rep(tenant: TenantRecord) -> dict[str, Any]:
    """The RealmRepresentation of a tenant."""
    rep: dict[str, Any] = {"attributes": {}}
    rep.update(tenant.extra)
    rep.update(
        {
            "id": tenant.realm_id or tenant.shortcode,
            "realm": tenant.shortcode,
            "displayName": tenant.name,
            "enabled": tenant.enabled,
            "notBefore": tenant.not_before,
            "accessTokenLifespan": tenant.access_token_lifespan,
            "defaultSignatureAlgorithm": tenant.signing_alg,
        }
    )
    attributes = {k: v for k, v in rep["attributes"].items() if k != DPOP_REQUIRED_ATTR}
    if tenant.dpop_required:
        attributes[DPOP_REQUIRED_ATTR] = "true"
    rep["attributes"] = attributes
    return rep


def realm_brief(tenant: TenantRecord) -> dict[str, Any]:
    """``briefRepresentation=true`` (Keycloak's ``toBriefRepresentation``)."""
    rep: dict[str, Any] = {
        "id": tenant.realm_id or tenant.shortcode,
        "realm": tenant.shortcode,
        "displayName": tenant.name,
        "enabled": tenant.enabled,
    }
    if tenant.extra.get("displayNameHtml") is not None:
        rep["displayNameHtml"] = tenant.extra["displayNameHtml"]
    return rep


# roles ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleInput:
    name: str | None
    description: str | None


def role_input(rep: dict[str, Any]) -> RoleInput:
    """Validate a RoleRepresentation for ``POST /roles``: composites are refused (realmgate's
    roles are flat), as are attributes (none are kept)."""
    check_fields(rep, ROLE_FIELDS, ROLE)
    if opt_bool(rep, "composite") or rep.get("composites"):
        raise bad_request("realmgate does not support composite roles ('composite')")
    if opt_bool(rep, "clientRole"):
        raise bad_request("a realm role cannot be a client role ('clientRole')")
    if opt_object(rep, "attributes"):
        raise bad_request("realmgate keeps no role attributes ('attributes')")
    opt_str(rep, "id")
    opt_str(rep, "containerId")
    return RoleInput(name=opt_str(rep, "name"), description=opt_str(rep, "description"))


def role_rep(
    role: RoleRecord, container_id: str, *, brief: bool = True, client_role: bool = False
) -> dict[str, Any]:
    """A RoleRepresentation (brief: without ``attributes``)."""
    rep: dict[str, Any] = {
        "id": role.id,
        "name": role.name,
        "composite": False,
        "clientRole": client_role,
        "containerId": container_id,
    }
    if role.description is not None:
        rep["description"] = role.description
    if not brief:
        rep["attributes"] = {}
    return rep


def role_refs(items: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """``[{id, name}, ...]`` of a role-mapping body as ``(id, name)`` pairs."""
    refs = []
    for item in items:
        check_fields(item, ROLE_FIELDS, ROLE)
        name = opt_str(item, "name")
        if not name:
            raise bad_request("a role mapping needs the role's 'name'")
        refs.append((opt_str(item, "id"), name))
    return refs


# keys and client scopes -------------------------------------------------------------------

_STATUS = {"active": "ACTIVE", "retired": "PASSIVE", "revoked": "DISABLED"}


def _key_type(alg: str) -> str:
    try:
        return key_type(alg)
    except ValueError:
        return "RSA"


def stable_id(realm_id: str, name: str) -> str:
    """A UUID derived from the realm id and a name: the same on every node and restart."""
    try:
        namespace = uuid.UUID(realm_id)
    except ValueError:
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"realmgate:{realm_id}")
    return str(uuid.uuid5(namespace, name))


def _public_key(key: KeyRecord) -> str | None:
    try:
        kty = key_type(key.alg)
        if kty == "RSA":
            der = RSAKey.import_key(key.public_jwk).as_der(private=False)
        elif kty == "EC":
            der = ECKey.import_key(key.public_jwk).as_der(private=False)
        else:
            der = OKPKey.import_key(key.public_jwk).as_der(private=False)
    except Exception:  # a key this version cannot read: its metadata without the key
        return None
    return base64.b64encode(der).decode("ascii")


def keys_rep(tenant: TenantRecord, keys: list[KeyRecord]) -> dict[str, Any]:
    """Keycloak's KeysMetadataRepresentation: ``active`` (algorithm -> kid) and ``keys``."""
    active: dict[str, str] = {}
    items = []
    for key in keys:
        if key.status == "active":
            active.setdefault(key.alg, key.kid)
        item: dict[str, Any] = {
            "providerId": stable_id(tenant.realm_id, f"key-provider:{key.alg}"),
            "providerPriority": 100,
            "kid": key.kid,
            "status": _STATUS.get(key.status, "DISABLED"),
            "type": _key_type(key.alg),
            "algorithm": key.alg,
            "use": "SIG",
        }
        public = _public_key(key)
        if public is not None:
            item["publicKey"] = public
        if key.verify_until is not None:
            item["validTo"] = key.verify_until * 1000
        if key.alg in EC_CURVES:
            item["curve"] = EC_CURVES[key.alg][0]
        elif key.alg == "EdDSA":
            item["curve"] = "Ed25519"
        items.append(item)
    return {"active": active, "keys": items}


def client_scopes_rep(tenant: TenantRecord) -> list[dict[str, Any]]:
    """The realm's client scopes as ClientScopeRepresentations."""
    return [
        {
            "id": stable_id(tenant.realm_id, f"client-scope:{name}"),
            "name": name,
            "protocol": "openid-connect",
            "attributes": {
                "include.in.token.scope": "true",
                "display.on.consent.screen": "false",
            },
        }
        for name in sorted(tenant.client_scopes)
    ]


__all__ = [
    "REALM_FIELDS",
    "RealmInput",
    "RoleInput",
    "client_scopes_rep",
    "keys_rep",
    "realm_brief",
    "realm_input",
    "realm_rep",
    "role_input",
    "role_refs",
    "role_rep",
    "stable_id",
]
