"""The Keycloak realm-export fixtures (tests/fixtures/keycloak, written by make.py) hold real key
material in the places Keycloak's key providers keep it, and ``expected.json`` says the truth
about them: the kid Keycloak publishes (``KeyUtils.createKeyId``) and the JWK's public numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from realmgate.jose.keys import keycloak_kid

FIXTURES = Path(__file__).parents[1] / "fixtures" / "keycloak"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"
MASK = "**********"


def realm_file(fixture: dict[str, Any]) -> dict[str, Any]:
    path = FIXTURES / fixture["path"]
    if path.is_dir():
        path = path / f"{fixture['realm']}-realm.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def first(config: dict[str, list[str]], name: str) -> str:
    values = config[name]
    assert isinstance(values, list) and len(values) == 1, name  # MultivaluedHashMap
    return values[0]


def private_key_of(component: dict[str, Any]) -> Any:
    """The private key as Keycloak's providers read it from the component's config."""
    config = component["config"]
    provider = component["providerId"]
    if provider in ("rsa-generated", "rsa-enc-generated", "rsa"):
        text = first(config, "privateKey")
        if text.startswith("-----BEGIN"):
            return serialization.load_pem_private_key(text.encode(), None)
        der = base64.b64decode(text)
        pem = b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(der)
        return serialization.load_pem_private_key(pem + b"-----END RSA PRIVATE KEY-----\n", None)
    prefix = {"ecdsa-generated": "ecdsa", "eddsa-generated": "eddsa"}[provider]
    return serialization.load_der_private_key(
        base64.b64decode(first(config, f"{prefix}PrivateKey")), None
    )


def public_numbers(public: Any) -> dict[str, str]:
    if isinstance(public, rsa.RSAPublicKey):
        n = public.public_numbers()
        return {
            "n": b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64url(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")),
        }
    if isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8
        p = public.public_numbers()
        return {"x": b64url(p.x.to_bytes(size, "big")), "y": b64url(p.y.to_bytes(size, "big"))}
    assert isinstance(public, ed25519.Ed25519PublicKey)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"x": b64url(raw)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_keys_are_real_and_expected_json_is_right(name: str) -> None:
    fixture = EXPECTED[name]
    rep = realm_file(fixture)
    assert rep["realm"] == fixture["realm"]
    assert rep["keycloakVersion"] == fixture["keycloakVersion"]
    components = {c["name"]: c for c in rep["components"][KEY_PROVIDER]}
    for key in fixture["keys"]:
        component = components[key["component"]]
        private = private_key_of(component)
        public = private.public_key()
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert key["kid"] == b64url(hashlib.sha256(der).digest()) == keycloak_kid(public)
        jwk = key["jwk"]
        assert {k: jwk[k] for k in public_numbers(public)} == public_numbers(public)
        pem = serialization.load_pem_private_key(key["pem"].encode(), None)
        assert public_numbers(pem.public_key()) == public_numbers(public)
        config = component["config"]
        if "certificate" in config:
            cert = x509.load_der_x509_certificate(base64.b64decode(first(config, "certificate")))
            assert public_numbers(cert.public_key()) == public_numbers(public)
            assert cert.subject.rfc4514_string() == f"CN={fixture['realm']}"
        for field in ("ecdsaPublicKey", "eddsaPublicKey"):
            if field in config:
                assert base64.b64decode(first(config, field)) == der


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_clients_and_service_accounts(name: str) -> None:
    fixture = EXPECTED[name]
    rep = realm_file(fixture)
    path = FIXTURES / fixture["path"]
    users = rep.get("users")
    if path.is_dir():
        assert users is None  # a directory export keeps users in <realm>-users-N.json
        users_file = json.loads((path / f"{fixture['realm']}-users-0.json").read_text())
        assert users_file["realm"] == fixture["realm"]
        users = users_file["users"]
    clients = {c["clientId"]: c for c in rep["clients"]}
    accounts = {u["serviceAccountClientId"]: u for u in users if "serviceAccountClientId" in u}
    for expected in fixture["clients"]:
        client = clients[expected["clientId"]]
        assert client["id"] == expected["id"]
        assert client["serviceAccountsEnabled"] is True
        assert client["publicClient"] is False
        assert client["clientAuthenticatorType"] == expected["auth"]
        if fixture["partial"]:
            assert client["secret"] == MASK
        elif expected["secret"] is not None:
            assert client["secret"] == expected["secret"]
        account = accounts[expected["clientId"]]
        assert account["username"] == f"service-account-{expected['clientId']}".lower()


def test_partial_export_has_masked_secrets_and_no_private_keys() -> None:
    rep = realm_file(EXPECTED["kc26-partial"])
    raw = json.dumps(rep)
    assert "BEGIN PRIVATE KEY" not in raw
    for component in rep["components"][KEY_PROVIDER]:
        for field in ("privateKey", "eddsaPrivateKey", "ecdsaPrivateKey"):
            if field in component["config"] and component["providerId"] != "hmac-generated":
                assert component["config"][field] == [MASK]
    secrets = [c.get("secret") for c in rep["clients"] if c.get("secret")]
    assert secrets and set(secrets) == {MASK}
