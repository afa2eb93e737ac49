"""``realmgate export keycloak REALM``: the realm as a Keycloak realm export (``kc.sh export``
shape), against the database of a running server.

The exported key providers hold the keys the server publishes (same public numbers; the kid is
Keycloak's own derivation or, for keys realmgate generated, carried in the config), client
secrets never appear, private keys only with ``--include-private-keys`` and a warning.
"""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from realmgate.jose.keys import keycloak_kid
from tests.integration.helpers import keys_named, unique_shortcode
from tests.servers import Credentials, Server

KEY_PROVIDER = "org.keycloak.keys.KeyProvider"


def jwks(server: Server, realm: str) -> dict[str, dict[str, Any]]:
    url = f"{server.base_url}/realms/{realm}/protocol/openid-connect/certs"
    r = httpx.get(url, timeout=10, verify=server.verify)
    assert r.status_code == 200, r.text
    return {k["kid"]: k for k in r.json()["keys"]}


def b64url_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def private_key(component: dict[str, Any]) -> Any:
    config = component["config"]
    if component["providerId"] == "rsa":
        return serialization.load_pem_private_key(config["privateKey"][0].encode(), None)
    field = {"ecdsa-generated": "ecdsaPrivateKey", "eddsa-generated": "eddsaPrivateKey"}
    der = base64.b64decode(config[field[component["providerId"]]][0])
    return serialization.load_der_private_key(der, None)


def export(server: Server, realm: str, out: Path, *flags: str) -> tuple[dict[str, Any], str]:
    result = server.cli("export", "keycloak", realm, "--out", str(out), *flags)
    assert result.stdout == ""
    return json.loads(out.read_text(encoding="utf-8")), result.stderr


@pytest.fixture(scope="module")
def rsa_realm(server: Server) -> Credentials:
    creds = server.create_tenant(unique_shortcode("kcx"))
    server.cli(
        "client", "set", creds.tenant, creds.client_id,
        "--audience", "https://api.example.com/orders",
        "--claim", 'tier="gold"',
        "--claim", "quota=2500",
        "--lifespan", "120",
    )  # fmt: skip
    return creds


def test_export_holds_the_realm_in_keycloak_shape(
    server: Server, rsa_realm: Credentials, tmp_path: Path
) -> None:
    rep, stderr = export(server, rsa_realm.tenant, tmp_path / "realm.json")
    assert rep["realm"] == rsa_realm.tenant
    assert rep["enabled"] is True
    assert isinstance(rep["accessTokenLifespan"], int)
    assert rep["defaultSignatureAlgorithm"] == "RS256"
    assert {r["name"] for r in rep["roles"]["realm"]} >= {"tenant-admin"}
    clients = {c["clientId"]: c for c in rep["clients"]}
    client = clients[rsa_realm.client_id]
    assert client["serviceAccountsEnabled"] is True
    assert client["publicClient"] is False
    assert client["bearerOnly"] is False
    assert client["clientAuthenticatorType"] == "client-secret"
    assert client["protocol"] == "openid-connect"
    assert client["attributes"]["access.token.lifespan"] == "120"
    mappers = {m["protocolMapper"]: m for m in client["protocolMappers"]}
    audience = mappers["oidc-audience-mapper"]["config"]
    assert audience["included.custom.audience"] == "https://api.example.com/orders"
    assert audience["access.token.claim"] == "true"
    claims = {
        m["config"]["claim.name"]: (m["config"]["claim.value"], m["config"]["jsonType.label"])
        for m in client["protocolMappers"]
        if m["protocolMapper"] == "oidc-hardcoded-claim-mapper"
    }
    assert claims == {"tier": ("gold", "String"), "quota": ("2500", "long")}
    users = {u["serviceAccountClientId"]: u for u in rep["users"]}
    account = users[rsa_realm.client_id]
    assert account["username"] == f"service-account-{rsa_realm.client_id}"
    assert "tenant-admin" in account["realmRoles"]
    assert set(rep["defaultDefaultClientScopes"]) <= {s["name"] for s in rep["clientScopes"]}
    # no secret and no key without asking
    assert keys_named(rep, "secret") == []
    assert rsa_realm.client_secret not in json.dumps(rep)
    assert rep["components"].get(KEY_PROVIDER) is None
    assert "no signing keys" in stderr
    assert "client secrets are not in the file" in stderr


def test_export_with_private_keys_carries_the_published_rsa_key(
    server: Server, rsa_realm: Credentials, tmp_path: Path
) -> None:
    out = tmp_path / "realm-keys.json"
    rep, stderr = export(server, rsa_realm.tenant, out, "--include-private-keys")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "private signing keys in clear" in stderr
    published = jwks(server, rsa_realm.tenant)
    components = rep["components"][KEY_PROVIDER]
    assert len(components) == len(published)
    active = [c for c in components if c["config"]["active"] == ["true"]]
    assert len(active) == 1
    for component in components:
        assert component["providerId"] == "rsa"
        config = component["config"]
        assert config["privateKey"][0].startswith("-----BEGIN PRIVATE KEY-----")
        key = private_key(component)
        kid = config.get("kid", [keycloak_kid(key.public_key())])[0]
        numbers = key.public_key().public_numbers()
        assert published[kid]["n"] == b64url_int(numbers.n)
        assert published[kid]["e"] == b64url_int(numbers.e)
        cert = x509.load_der_x509_certificate(base64.b64decode(config["certificate"][0]))
        assert cert.public_key().public_numbers() == numbers
        assert config["algorithm"] == [published[kid]["alg"]]


@pytest.mark.parametrize(
    ("algorithm", "provider", "crv"),
    [("ES256", "ecdsa-generated", "P-256"), ("EdDSA", "eddsa-generated", "Ed25519")],
)
def test_export_with_private_keys_carries_ec_and_eddsa_keys(
    server: Server, tmp_path: Path, algorithm: str, provider: str, crv: str
) -> None:
    creds = server.create_tenant(unique_shortcode("kcx"), "--algorithm", algorithm)
    rep, _ = export(server, creds.tenant, tmp_path / "realm.json", "--include-private-keys")
    assert rep["defaultSignatureAlgorithm"] == algorithm
    (component,) = rep["components"][KEY_PROVIDER]
    assert component["providerId"] == provider
    config = component["config"]
    prefix = provider.split("-", maxsplit=1)[0]
    assert config[f"{prefix}EllipticCurveKey"] == [crv]
    key = private_key(component)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64decode(config[f"{prefix}PublicKey"][0]) == spki
    kid = config.get("kid", [keycloak_kid(key.public_key())])[0]
    published = jwks(server, creds.tenant)[kid]
    if provider == "ecdsa-generated":
        numbers = key.public_key().public_numbers()
        assert published["x"] == b64url(numbers.x.to_bytes(32, "big"))
        assert published["y"] == b64url(numbers.y.to_bytes(32, "big"))
    else:
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        assert published["x"] == b64url(raw)


def test_export_to_stdout_and_unknown_realm(server: Server) -> None:
    realm = server.create_tenant(unique_shortcode("kcx")).tenant
    result = server.cli("export", "keycloak", realm)
    assert json.loads(result.stdout)["realm"] == realm
    missing = server.cli("export", "keycloak", unique_shortcode("none"), check=False)
    assert missing.returncode != 0
    assert missing.stderr.strip().startswith("error:")
    assert "no realm" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
