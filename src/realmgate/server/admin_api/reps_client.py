"""Keycloak's ClientRepresentation, UserRepresentation (service accounts) and
CredentialRepresentation, to and from realmgate's records.

realmgate's clients are confidential service-account clients of the client credentials grant.
What a ClientRepresentation asks that realmgate cannot honour is refused with a 400 naming the
field: ``publicClient: true``, ``bearerOnly: true``, ``serviceAccountsEnabled: false``, a
``clientAuthenticatorType`` other than ``client-secret``, ``client-jwt``,
``client-secret-jwt``, ``client-x509`` (RFC 8705 ``tls_client_auth``) or realmgate's
``realmgate-x509-self-signed`` (``self_signed_tls_client_auth``, which Keycloak lacks), a protocol
other than ``openid-connect``, authorization services, a subject DN that is a regular expression
(Keycloak reads it as one unless ``x509.allow.regex.pattern.comparison`` is "false"; realmgate
compares distinguished names: a plain DN is accepted either way).
The sender constraints are Keycloak's attributes ``dpop.bound.access.tokens`` and
``tls.client.certificate.bound.access.tokens`` ("true"/"false"), the ``client-x509`` subject
``tls.client.auth.subject.dn``; a subject alternative name (RFC 8705 §2.1.2, which Keycloak
lacks) is realmgate's attribute ``realmgate.tls.client.auth.san``.
Fields realmgate does not act on (``redirectUris``, ``standardFlowEnabled``, ...) are kept in
``ClientRecord.extra`` and echoed. The secret is never part of a ClientRepresentation realmgate
answers: it has only a hash of it (``GET .../client-secret`` reveals a new one once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from realmgate.server.admin_api.errors import bad_request
from realmgate.server.admin_api.params import (
    check_fields,
    opt_bool,
    opt_object,
    opt_str,
    opt_str_list,
    opt_str_map,
)
from realmgate.server.admin_api.reps_realm import stable_id, words
from realmgate.server.admin_api.reps_sender import SENDER_ATTRS, sender_attributes, sender_input
from realmgate.server.storage.records import AuthMethod, ClientRecord, TenantRecord

CLIENT = "ClientRepresentation"
REALM_MANAGEMENT = "realm-management"
SERVICE_ACCOUNT_PREFIX = "service-account-"
MASKED_SECRET = "**********"  # Keycloak's ComponentRepresentation.SECRET_VALUE

AUTHENTICATORS: dict[str, AuthMethod] = {
    "client-secret": "client_secret",
    "client-jwt": "private_key_jwt",
    "client-secret-jwt": "client_secret_jwt",
    "client-x509": "tls_client_auth",
    "realmgate-x509-self-signed": "self_signed_tls_client_auth",
}
AUTHENTICATOR_OF = {method: name for name, method in AUTHENTICATORS.items()}
# Methods whose JWKS (or JWKS URI) is kept in the client's own fields, not in ``extra``.
JWKS_METHODS = frozenset({"private_key_jwt", "self_signed_tls_client_auth"})

# Attributes realmgate acts on or computes (never kept in ``extra``).
LIFESPAN_ATTR = "access.token.lifespan"
JWKS_ATTRS = ("use.jwks.url", "jwks.url", "use.jwks.string", "jwks.string")
COMPUTED_ATTRS = frozenset({LIFESPAN_ATTR, "client.secret.creation.time", *SENDER_ATTRS})

CLIENT_HANDLED = words(
    """id clientId name description enabled secret clientAuthenticatorType publicClient
    bearerOnly serviceAccountsEnabled defaultClientScopes optionalClientScopes attributes
    protocol access notBefore authorizationServicesEnabled authorizationSettings
    registrationAccessToken origin"""
)
CLIENT_ECHOED = words(
    """rootUrl adminUrl baseUrl surrogateAuthRequired alwaysDisplayInConsole defaultRoles
    redirectUris webOrigins consentRequired standardFlowEnabled implicitFlowEnabled
    directAccessGrantsEnabled directGrantsOnly frontchannelLogout fullScopeAllowed
    nodeReRegistrationTimeout registeredNodes protocolMappers clientTemplate useTemplateConfig
    useTemplateScope useTemplateMappers authenticationFlowBindingOverrides selectiveConsent
    selectiveConsentAttributes type"""
)
CLIENT_FIELDS = CLIENT_HANDLED | CLIENT_ECHOED
# What Keycloak answers for the echoed fields nobody set.
ECHO_DEFAULTS: dict[str, Any] = {
    "surrogateAuthRequired": False,
    "alwaysDisplayInConsole": False,
    "redirectUris": [],
    "webOrigins": [],
    "consentRequired": False,
    "standardFlowEnabled": False,
    "implicitFlowEnabled": False,
    "directAccessGrantsEnabled": False,
    "frontchannelLogout": False,
    "fullScopeAllowed": True,
    "nodeReRegistrationTimeout": -1,
    "authenticationFlowBindingOverrides": {},
}


@dataclass(frozen=True, slots=True)
class ClientInput:
    """What a ClientRepresentation asks of realmgate; None: not given."""

    client_id: str | None
    internal_id: str | None
    name: str | None
    description: str | None
    enabled: bool | None
    secret: str | None = field(repr=False)
    auth_method: AuthMethod | None
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    access_token_lifespan: int | None  # 0: the realm's
    default_scopes: list[str] | None
    optional_scopes: list[str] | None
    extra: dict[str, Any]  # echoed fields given, with ``attributes`` (not the computed ones)
    # Sender constraints and the tls_client_auth subject (None: not given; "": none).
    dpop_bound: bool | None = None
    cert_bound: bool | None = None
    tls_subject_dn: str | None = None
    tls_san: str | None = None


def _refuse(name: str, why: str) -> None:
    raise bad_request(f"realmgate {why} ('{name}')")


def _lifespan(value: str) -> int:
    text = value.strip()
    if text in ("", "-1"):
        return 0
    try:
        number = int(text, 10)
    except ValueError:
        raise bad_request(f"the attribute '{LIFESPAN_ATTR}' must be a number of seconds") from None
    if number < 0:
        raise bad_request(f"the attribute '{LIFESPAN_ATTR}' cannot be negative")
    return number


def _jwks(attributes: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    jwks: dict[str, Any] | None = None
    uri: str | None = None
    if attributes.get("use.jwks.url", "").lower() == "true" and attributes.get("jwks.url"):
        uri = attributes["jwks.url"]
    if attributes.get("use.jwks.string", "").lower() == "true" and attributes.get("jwks.string"):
        try:
            parsed = json.loads(attributes["jwks.string"])
        except ValueError:
            raise bad_request("the attribute 'jwks.string' must be a JWKS (JSON)") from None
        if not isinstance(parsed, dict):
            raise bad_request("the attribute 'jwks.string' must be a JWKS (JSON)")
        jwks = parsed
    return jwks, uri


def client_input(rep: dict[str, Any], *, creating: bool) -> ClientInput:
    """Validate a ClientRepresentation (create, or the partial one of ``PUT``)."""
    check_fields(rep, CLIENT_FIELDS, CLIENT)
    if opt_bool(rep, "publicClient"):
        _refuse("publicClient", "supports confidential clients only")
    if opt_bool(rep, "bearerOnly"):
        _refuse("bearerOnly", "has no bearer-only clients: every client gets tokens")
    if opt_bool(rep, "serviceAccountsEnabled") is False:
        _refuse("serviceAccountsEnabled", "clients are service-account clients")
    if opt_bool(rep, "authorizationServicesEnabled") or opt_object(rep, "authorizationSettings"):
        _refuse("authorizationServicesEnabled", "has no authorization services")
    protocol = opt_str(rep, "protocol")
    if protocol not in (None, "openid-connect"):
        _refuse("protocol", "supports openid-connect clients only")
    authenticator = opt_str(rep, "clientAuthenticatorType")
    auth_method: AuthMethod | None = None
    if authenticator is not None:
        if authenticator not in AUTHENTICATORS:
            _refuse(
                "clientAuthenticatorType",
                "supports the authenticators client-secret, client-jwt, client-secret-jwt, "
                "client-x509 and realmgate-x509-self-signed",
            )
        auth_method = AUTHENTICATORS[authenticator]
    secret = opt_str(rep, "secret")
    if secret == MASKED_SECRET:
        secret = None
    attributes = opt_str_map(rep, "attributes")
    lifespan = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    extra: dict[str, Any] = {}
    sender: dict[str, Any] = {}
    if attributes is not None:
        sender = sender_input(attributes)
        if LIFESPAN_ATTR in attributes:
            lifespan = _lifespan(attributes[LIFESPAN_ATTR])
        jwks, jwks_uri = _jwks(attributes)
        extra["attributes"] = {k: v for k, v in attributes.items() if k not in COMPUTED_ATTRS}
    for name in CLIENT_ECHOED:
        if rep.get(name) is not None:
            extra[name] = rep[name]
    for name in ("redirectUris", "webOrigins"):
        if name in extra:
            extra[name] = opt_str_list(rep, name)
    for name in ("standardFlowEnabled", "directAccessGrantsEnabled", "fullScopeAllowed"):
        if name in extra:
            extra[name] = opt_bool(rep, name)
    if protocol is not None:
        extra["protocol"] = protocol
    client_id = opt_str(rep, "clientId")
    if creating and not client_id:
        raise bad_request("clientId is required")
    for name in ("registrationAccessToken", "origin", "id"):
        opt_str(rep, name)
    opt_object(rep, "access")
    return ClientInput(
        client_id=client_id,
        internal_id=opt_str(rep, "id"),
        name=opt_str(rep, "name"),
        description=opt_str(rep, "description"),
        enabled=opt_bool(rep, "enabled"),
        secret=secret,
        auth_method=auth_method,
        jwks=jwks,
        jwks_uri=jwks_uri,
        access_token_lifespan=lifespan,
        default_scopes=opt_str_list(rep, "defaultClientScopes"),
        optional_scopes=opt_str_list(rep, "optionalClientScopes"),
        extra=extra,
        **sender,
    )


def without_jwks(extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` without the JWKS attributes: a ``client-jwt`` client keeps its JWKS (or URI)
    in its own fields, which its representation shows as these attributes."""
    attributes = extra.get("attributes")
    if not isinstance(attributes, dict):
        return extra
    return extra | {"attributes": {k: v for k, v in attributes.items() if k not in JWKS_ATTRS}}


def client_access(view: bool, manage: bool) -> dict[str, bool]:
    return {"view": view, "configure": manage, "manage": manage}


def client_rep(
    client: ClientRecord, tenant: TenantRecord, access: dict[str, bool] | None = None
) -> dict[str, Any]:
    """The ClientRepresentation of a client: never its secret."""
    attributes: dict[str, str] = dict(client.extra.get("attributes") or {})
    if client.access_token_lifespan is not None:
        attributes[LIFESPAN_ATTR] = str(client.access_token_lifespan)
    if client.jwks_uri:
        attributes.update({"use.jwks.url": "true", "jwks.url": client.jwks_uri})
    if client.jwks is not None:
        attributes.update({"use.jwks.string": "true", "jwks.string": json.dumps(client.jwks)})
    attributes.update(sender_attributes(client))
    defaults = [n for n, kind in sorted(tenant.client_scopes.items()) if kind == "default"]
    optional = [n for n, kind in sorted(tenant.client_scopes.items()) if kind == "optional"]
    rep: dict[str, Any] = {"id": client.internal_id or client.sub, "clientId": client.client_id}
    if client.name is not None:
        rep["name"] = client.name
    if client.description is not None:
        rep["description"] = client.description
    rep.update(ECHO_DEFAULTS)
    rep.update({k: v for k, v in client.extra.items() if k in CLIENT_ECHOED})
    rep.update(
        {
            "enabled": client.enabled,
            "clientAuthenticatorType": AUTHENTICATOR_OF.get(client.auth_method, "client-secret"),
            "notBefore": client.not_before,
            "bearerOnly": False,
            "serviceAccountsEnabled": True,
            "publicClient": False,
            "protocol": "openid-connect",
            "attributes": attributes,
            "defaultClientScopes": list(
                defaults if client.default_scopes is None else client.default_scopes
            ),
            "optionalClientScopes": list(
                optional if client.optional_scopes is None else client.optional_scopes
            ),
        }
    )
    if access is not None:
        rep["access"] = access
    return rep


def client_brief(client: ClientRecord) -> dict[str, Any]:
    """What a caller who may list but not view clients sees (``query-clients``)."""
    rep: dict[str, Any] = {"id": client.internal_id or client.sub, "clientId": client.client_id}
    if client.description is not None:
        rep["description"] = client.description
    return rep


# the realm-management pseudo-client ---------------------------------------------------------


def realm_management_id(tenant: TenantRecord) -> str:
    """The id of the realm's ``realm-management`` client: derived, the same everywhere."""
    return stable_id(tenant.realm_id, REALM_MANAGEMENT)


def realm_management_role_id(tenant: TenantRecord, name: str) -> str:
    return stable_id(tenant.realm_id, f"{REALM_MANAGEMENT}:{name}")


def realm_management_rep(
    tenant: TenantRecord, access: dict[str, bool] | None = None
) -> dict[str, Any]:
    """``realm-management``: the bearer-only client whose roles are the realm's admin roles."""
    rep: dict[str, Any] = {
        "id": realm_management_id(tenant),
        "clientId": REALM_MANAGEMENT,
        "name": "${client_realm-management}",
        **ECHO_DEFAULTS,
        "enabled": True,
        "clientAuthenticatorType": "client-secret",
        "notBefore": 0,
        "bearerOnly": True,
        "serviceAccountsEnabled": False,
        "publicClient": False,
        "standardFlowEnabled": True,
        "fullScopeAllowed": False,
        "protocol": "openid-connect",
        "attributes": {},
        "defaultClientScopes": [],
        "optionalClientScopes": [],
    }
    if access is not None:
        rep["access"] = access
    return rep


def admin_role_rep(tenant: TenantRecord, name: str) -> dict[str, Any]:
    """A client role of ``realm-management`` (RoleRepresentation, brief)."""
    return {
        "id": realm_management_role_id(tenant, name),
        "name": name,
        "description": f"${{role_{name}}}",
        "composite": name == "realm-admin",
        "clientRole": True,
        "containerId": realm_management_id(tenant),
    }


# service-account users and secrets ----------------------------------------------------------


def user_access(view: bool, manage: bool) -> dict[str, bool]:
    return {
        "manageGroupMembership": manage,
        "view": view,
        "mapRoles": manage,
        "impersonate": False,
        "manage": manage,
    }


def service_account_rep(
    client: ClientRecord, access: dict[str, bool] | None = None
) -> dict[str, Any]:
    """The UserRepresentation of a client's service account (its tokens' ``sub``)."""
    rep: dict[str, Any] = {
        "id": client.sub,
        "username": f"{SERVICE_ACCOUNT_PREFIX}{client.client_id}".lower(),
        "enabled": True,
        "emailVerified": False,
        "createdTimestamp": client.created_at * 1000,
        "totp": False,
        "serviceAccountClientId": client.client_id,
        "disableableCredentialTypes": [],
        "requiredActions": [],
        "notBefore": 0,
    }
    if access is not None:
        rep["access"] = access
    return rep


def secret_rep(secret: str) -> dict[str, Any]:
    """Keycloak's CredentialRepresentation of a client secret."""
    return {"type": "secret", "value": secret}


__all__ = [
    "AUTHENTICATORS",
    "CLIENT_FIELDS",
    "JWKS_METHODS",
    "REALM_MANAGEMENT",
    "ClientInput",
    "admin_role_rep",
    "client_access",
    "client_brief",
    "client_input",
    "client_rep",
    "realm_management_id",
    "realm_management_rep",
    "secret_rep",
    "service_account_rep",
    "user_access",
]
