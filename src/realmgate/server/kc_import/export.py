"""``realmgate export keycloak``: a tenant as a Keycloak realm export (``kc.sh export`` format).

The file holds what realmgate keeps of a realm, shaped as Keycloak's ``ExportUtils.exportRealm``
writes it: the RealmRepresentation fields, ``roles.realm``, ``clients`` (service-account clients),
``users`` (their service accounts with ``realmRoles`` and ``realm-management`` ``clientRoles``),
``clientScopes`` with ``defaultDefaultClientScopes`` / ``defaultOptionalClientScopes``, and, only
when asked, ``components["org.keycloak.keys.KeyProvider"]`` with the private keys.

What it cannot hold:

- client secrets: realmgate keeps only their hashes, so no client has a ``secret`` (Keycloak's
  importer gives such a client a new one; realmgate's importer reports it). ``client-secret-jwt``
  clients are the exception realmgate could decrypt, but a secret in a file is a secret leaked:
  they are left out too.
- private keys unless ``include_private_keys``: without them Keycloak generates new keys and
  the tokens realmgate issued will not verify there.

Keys become the providers Keycloak reads them from: RSA keys (RS*/PS*) the ``rsa`` provider
(PKCS#8 PEM and a self-signed certificate, as an operator uploads them), EC keys
``ecdsa-generated`` and Ed25519 keys ``eddsa-generated`` (base64 PKCS#8 and SPKI, as those
providers store them). Keycloak derives a key's ``kid`` from its public key
(``KeyUtils.createKeyId``); where realmgate's ``kid`` differs (keys realmgate generated itself),
the component's config carries it as ``kid`` too, which Keycloak ignores and realmgate's importer
keeps.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from realmgate.jose.keys import keycloak_kid
from realmgate.server.admin_api.reps_client import (
    REALM_MANAGEMENT,
    client_rep,
    service_account_rep,
)
from realmgate.server.admin_api.reps_realm import realm_rep, role_rep, stable_id
from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import ClientRecord, KeyRecord, TenantRecord
from realmgate.server.vault import Vault

KEY_PROVIDER = "org.keycloak.keys.KeyProvider"
AUDIENCE_MAPPER = "oidc-audience-mapper"
HARDCODED_CLAIM_MAPPER = "oidc-hardcoded-claim-mapper"
# Mappers realmgate rebuilds from its own fields; the client's other echoed mappers are kept.
REBUILT_MAPPERS = frozenset({AUDIENCE_MAPPER, HARDCODED_CLAIM_MAPPER})
CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_PKCS8 = serialization.PrivateFormat.PKCS8
_NOENC = serialization.NoEncryption()


class ExportError(Exception):
    """The realm cannot be exported (unknown realm, unreadable key); never holds key material."""


def export_realm(
    store: Store,
    vault: Vault,
    shortcode: str,
    *,
    include_private_keys: bool = False,
    default_audience: str | None = None,
) -> dict[str, Any]:
    """The tenant ``shortcode`` as a Keycloak RealmRepresentation (an export file's content).

    ``default_audience`` (the server's API audience) gets no audience mapper: every token
    realmgate issues may carry it, and realmgate's importer adds it to each client's audiences.
    """
    tenant = store.get_tenant(shortcode)
    if tenant is None:
        raise ExportError(f"no realm {shortcode!r}")
    clients = sorted(store.list_clients(shortcode), key=lambda c: c.client_id)
    rep = realm_rep(tenant)
    realm_id = rep["id"]
    rep["roles"] = {
        "realm": [role_rep(r, realm_id, brief=False) for r in store.list_roles(shortcode)],
        "client": {},
    }
    rep["groups"] = []
    rep["users"] = [_service_account(c) for c in clients]
    rep["clients"] = [_client(c, tenant, default_audience) for c in clients]
    scopes = sorted(tenant.client_scopes.items())
    rep["clientScopes"] = [_scope(tenant, name) for name, _ in scopes]
    rep["defaultDefaultClientScopes"] = [n for n, kind in scopes if kind == "default"]
    rep["defaultOptionalClientScopes"] = [n for n, kind in scopes if kind == "optional"]
    if include_private_keys:
        keys = [k for k in store.list_keys(shortcode) if k.status != "revoked"]
        rep["components"] = {KEY_PROVIDER: [_key_component(tenant, k, vault) for k in keys]}
    else:
        rep["components"] = {}
    return rep


# clients and their service accounts -------------------------------------------------------


def _mapper(tenant: TenantRecord, client: ClientRecord, name: str, kind: str, config: Any) -> Any:
    flags = {"id.token.claim": "false", "access.token.claim": "true"}
    flags["introspection.token.claim"] = "true"
    return {
        "id": stable_id(tenant.realm_id, f"mapper:{client.client_id}:{name}"),
        "name": name,
        "protocol": "openid-connect",
        "protocolMapper": kind,
        "consentRequired": False,
        "config": {**config, **flags},
    }


def _claim_config(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        label, text = "boolean", str(value).lower()
    elif isinstance(value, int):
        label, text = "long", str(value)
    elif isinstance(value, str):
        label, text = "String", value
    else:  # lists and objects: Keycloak's "JSON" type parses the value
        label, text = "JSON", json.dumps(value, separators=(",", ":"))
    return {"claim.name": name, "claim.value": text, "jsonType.label": label}


def _client(client: ClientRecord, tenant: TenantRecord, default_audience: str | None) -> Any:
    rep = client_rep(client, tenant)
    rep["fullScopeAllowed"] = True
    mappers = [
        m
        for m in client.extra.get("protocolMappers") or []
        if isinstance(m, dict) and m.get("protocolMapper") not in REBUILT_MAPPERS
    ]
    for aud in client.audiences or ():
        if aud == default_audience:
            continue
        mappers.append(
            _mapper(
                tenant,
                client,
                f"audience {aud}",
                AUDIENCE_MAPPER,
                {"included.custom.audience": aud},
            )
        )
    for name, value in sorted(client.claims.items()):
        mappers.append(
            _mapper(
                tenant, client, f"claim {name}", HARDCODED_CLAIM_MAPPER, _claim_config(name, value)
            )
        )
    if mappers:
        rep["protocolMappers"] = mappers
    else:
        rep.pop("protocolMappers", None)
    return rep


def _service_account(client: ClientRecord) -> dict[str, Any]:
    rep = service_account_rep(client)
    rep["credentials"] = []
    rep["realmRoles"] = list(client.roles)
    rep["clientRoles"] = {REALM_MANAGEMENT: list(client.admin_roles)} if client.admin_roles else {}
    rep["groups"] = []
    return rep


def _scope(tenant: TenantRecord, name: str) -> dict[str, Any]:
    return {
        "id": stable_id(tenant.realm_id, f"client-scope:{name}"),
        "name": name,
        "protocol": "openid-connect",
        "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
    }


# keys ---------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _certificate(realm: str, key: rsa.RSAPrivateKey) -> str:
    """A self-signed certificate CN=<realm> as Keycloak makes for its RSA keys."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, realm)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return _b64(cert.public_bytes(_DER))


def _key_component(tenant: TenantRecord, key: KeyRecord, vault: Vault) -> dict[str, Any]:
    try:
        pem = vault.decrypt_signing_key(tenant.shortcode, key.kid, key.private_key_enc)
        private = serialization.load_pem_private_key(pem, password=None)
    except Exception as exc:  # the message never holds key material
        raise ExportError(f"cannot read the private key {key.kid!r}") from exc
    active = "true" if key.status == "active" else "false"
    config: dict[str, str] = {"priority": "100" if key.status == "active" else "50"}
    if isinstance(private, rsa.RSAPrivateKey):
        provider = "rsa"
        config |= {
            "privateKey": private.private_bytes(
                serialization.Encoding.PEM, _PKCS8, _NOENC
            ).decode(),
            "certificate": _certificate(tenant.shortcode, private),
            "keyUse": "SIG",
            "algorithm": key.alg,
        }
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        provider = "ecdsa-generated"
        config |= {
            "ecdsaPrivateKey": _b64(private.private_bytes(_DER, _PKCS8, _NOENC)),
            "ecdsaPublicKey": _b64(private.public_key().public_bytes(_DER, _SPKI)),
            "ecdsaEllipticCurveKey": CURVE_NAMES.get(private.curve.name, private.curve.name),
        }
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        provider = "eddsa-generated"
        config |= {
            "eddsaPrivateKey": _b64(private.private_bytes(_DER, _PKCS8, _NOENC)),
            "eddsaPublicKey": _b64(private.public_key().public_bytes(_DER, _SPKI)),
            "eddsaEllipticCurveKey": "Ed25519",
        }
    else:
        raise ExportError(f"the key {key.kid!r} is of a type Keycloak has no provider for")
    config |= {"active": active, "enabled": "true"}
    if keycloak_kid(private.public_key()) != key.kid:
        config["kid"] = key.kid
    return {
        "id": stable_id(tenant.realm_id, f"key:{key.kid}"),
        "name": f"{provider}-{key.alg.lower()}-{key.kid[:8]}",
        "providerId": provider,
        "subComponents": {},
        "config": {k: [v] for k, v in config.items()},
    }


__all__ = ["KEY_PROVIDER", "ExportError", "export_realm"]
