"""Acceptance of issue 16: Keycloak realm exports (tests/fixtures/keycloak, several Keycloak
versions, full, directory and partial exports) imported with ``realmgate import keycloak`` into a
running server, which then serves the same credentials, claims and keys.

What each fixture expects is in ``tests/fixtures/keycloak/expected.json`` (written by
``make.py`` with the fixtures): client secrets, the roles, audiences and hardcoded claims
Keycloak would put in the clients' tokens, and the keys with the kid Keycloak publishes.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, import_key

from realmgate.verifier import Verifier
from tests.integration.helpers import bearer, jwt_parts, poll, settings_url
from tests.servers import Credentials, Server

FIXTURES = Path(__file__).parents[1] / "fixtures" / "keycloak"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())
FULL = ["kc21", "kc24", "kc26-dir"]


def issuer(server: Server, realm: str) -> str:
    return f"{server.base_url}/realms/{realm}"


def run_import(server: Server, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    result = server.cli("import", "keycloak", *args, "--json", check=False)
    assert "Traceback" not in result.stdout + result.stderr
    return result, json.loads(result.stdout)


def realm_file(fixture: dict[str, Any]) -> dict[str, Any]:
    path = FIXTURES / fixture["path"]
    if path.is_dir():
        path = path / f"{fixture['realm']}-realm.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def service_accounts(fixture: dict[str, Any]) -> dict[str, dict[str, Any]]:
    path = FIXTURES / fixture["path"]
    users = realm_file(fixture).get("users")
    if users is None:
        users = json.loads((path / f"{fixture['realm']}-users-0.json").read_text())["users"]
    return {u["serviceAccountClientId"]: u for u in users if "serviceAccountClientId" in u}


_imported: dict[tuple[str, str], Any] = {}


def imported(server: Server, name: str) -> Any:
    """Import fixture ``name`` once per server; the JSON report."""
    key = (server.base_url, name)
    if key not in _imported:
        path = str(FIXTURES / EXPECTED[name]["path"])
        result, report = run_import(server, path)
        assert result.returncode == 0, result.stdout + result.stderr
        _imported[key] = report
        wait_for_realm(server, EXPECTED[name]["realm"])
    return _imported[key]


def wait_for_realm(server: Server, realm: str) -> None:
    """A realm written through the CLI reaches the running server within the propagation bound."""
    url = f"{issuer(server, realm)}/protocol/openid-connect/certs"
    r = poll(lambda: httpx.get(url, timeout=10), lambda r: r.status_code == 200)
    assert r.status_code == 200, r.text


def assertion(client_id: str, aud: str, key: Any, alg: str, kid: str | None = None) -> str:
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode(header, claims, key, algorithms=[alg])


def get_token(server: Server, realm: str, client: dict[str, Any]) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": client["clientId"]}
    url = f"{issuer(server, realm)}/protocol/openid-connect/token"
    if client["auth"] == "client-secret":
        form["client_secret"] = client["secret"]
    elif client["auth"] == "client-secret-jwt":
        key = import_key(client["secret"].encode(), "oct")
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = assertion(
            client["clientId"], issuer(server, realm), key, "HS256"
        )
    else:
        private = client["private_key"]
        key = import_key(private["pem"], "RSA")
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = assertion(
            client["clientId"], issuer(server, realm), key, private["alg"], private["kid"]
        )
    return httpx.post(url, data=form, timeout=10)


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud", [])
    return [aud] if isinstance(aud, str) else list(aud)


@pytest.mark.parametrize("name", FULL)
def test_every_confidential_client_gets_its_token_with_the_file_s_secret(
    server: Server, name: str
) -> None:
    fixture = EXPECTED[name]
    report = imported(server, name)
    (realm,) = report["realms"]
    assert realm["realm"] == fixture["realm"]
    assert realm["outcome"] == "imported"
    assert realm["secrets"] == []  # nothing masked: every secret carried over
    assert realm["blocking"] == 0
    assert [row for row in realm["rows"] if row["blocking"]] == []
    for client in fixture["clients"]:
        r = get_token(server, fixture["realm"], client)
        assert r.status_code == 200, (client["clientId"], r.text)
        body = r.json()
        header, claims, _ = jwt_parts(body["access_token"])
        assert header["typ"] == "JWT"
        # the key Keycloak signed with keeps signing
        signing = next(k for k in fixture["keys"] if k["signs"]) if fixture["keys"] else None
        if signing is not None:
            assert (header["kid"], header["alg"]) == (signing["kid"], signing["alg"])
        assert claims["iss"] == issuer(server, fixture["realm"])
        assert claims["azp"] == client["clientId"]
        assert set(claims["realm_access"]["roles"]) >= set(client["realm_roles"])
        for other, roles in client["resource_access"].items():
            assert set(claims["resource_access"][other]["roles"]) >= set(roles), other
        assert set(audiences(claims)) >= set(client["aud"])
        for claim, value in client["claims"].items():
            assert claims[claim] == value, claim
        assert set(claims["scope"].split()) >= set(client["scope"])
        lifespan = client["lifespan"] or fixture["accessTokenLifespan"]
        assert claims["exp"] - claims["iat"] == lifespan
        assert body["expires_in"] == lifespan


@pytest.mark.parametrize("name", FULL)
def test_the_realm_publishes_the_file_s_keys_with_keycloak_s_kid(server: Server, name: str) -> None:
    fixture = EXPECTED[name]
    imported(server, name)
    url = f"{issuer(server, fixture['realm'])}/protocol/openid-connect/certs"
    published = {k["kid"]: k for k in httpx.get(url, timeout=10).json()["keys"]}
    for key in fixture["keys"]:
        jwk = published[key["kid"]]
        assert jwk["alg"] == key["alg"]
        for field in ("n", "e", "crv", "x", "y"):
            if field in key["jwk"]:
                assert jwk[field] == key["jwk"][field], (key["component"], field)


def keycloak_token(
    server: Server, fixture: dict[str, Any], key: dict[str, Any], audience: list[str]
) -> str:
    """An access token as Keycloak signs one for the fixture's first client (its header and
    claims), with the file's private key."""
    client = fixture["clients"][0]
    account = service_accounts(fixture)[client["clientId"]]
    now = int(time.time())
    claims = {
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "iss": issuer(server, fixture["realm"]),
        "aud": audience,
        "sub": account["id"],
        "typ": "Bearer",
        "azp": client["clientId"],
        "acr": "1",
        "realm_access": {"roles": client["realm_roles"]},
        "resource_access": {k: {"roles": v} for k, v in client["resource_access"].items()},
        "scope": "profile email",
        "clientHost": "10.0.0.7",
        "email_verified": False,
        "preferred_username": account["username"],
        "clientAddress": "10.0.0.7",
        "client_id": client["clientId"],
    }
    header = {"alg": key["alg"], "typ": "JWT", "kid": key["kid"]}
    private = import_key(key["pem"], {"RSA": "RSA", "EC": "EC", "OKP": "OKP"}[key["jwk"]["kty"]])
    return jwt.encode(header, claims, private, algorithms=[key["alg"]])


@pytest.mark.parametrize("name", FULL)
def test_tokens_keycloak_signed_with_the_file_s_keys_are_accepted(
    server: Server, name: str
) -> None:
    fixture = EXPECTED[name]
    imported(server, name)
    client = next(c for c in fixture["clients"] if c["auth"] == "client-secret")
    caller = Credentials(fixture["realm"], client["clientId"], client["secret"])
    own = get_token(server, fixture["realm"], client).json()["access_token"]
    audience = audiences(jwt_parts(own)[1])
    verifier = Verifier([issuer(server, fixture["realm"])], audience=None)
    with verifier:
        for key in fixture["keys"]:
            token = keycloak_token(server, fixture, key, audience)
            assert verifier.verify(token).client_id == fixture["clients"][0]["clientId"]
            r = httpx.post(
                f"{issuer(server, fixture['realm'])}/protocol/openid-connect/token/introspect",
                data={"client_id": caller.client_id, "client_secret": caller.client_secret,
                      "token": token},
                timeout=10,
            )  # fmt: skip
            assert r.json()["active"] is True, (key["component"], r.text)
            r = httpx.get(settings_url(server), headers=bearer(token), timeout=10)
            assert r.status_code == 200, (key["component"], r.text)


def test_partial_export_blocks_without_allow_partial_and_dry_run_writes_nothing(
    server: Server,
) -> None:
    fixture = EXPECTED["kc26-partial"]
    path = str(FIXTURES / fixture["path"])
    result, report = run_import(server, path, "--dry-run", "--allow-partial")
    assert result.returncode == 0, result.stderr
    assert report["dryRun"] is True
    url = f"{issuer(server, fixture['realm'])}/protocol/openid-connect/certs"
    assert httpx.get(url, timeout=10).status_code == 404
    result, report = run_import(server, path)
    assert result.returncode == 1
    (realm,) = report["realms"]
    assert realm["outcome"] == "blocked"
    assert realm["blocking"] >= len(fixture["clients"])
    assert httpx.get(url, timeout=10).status_code == 404
    result, report = run_import(server, path, "--allow-partial")
    assert result.returncode == 0, result.stderr
    wait_for_realm(server, fixture["realm"])
    (realm,) = report["realms"]
    secrets = {s["clientId"]: s["secret"] for s in realm["secrets"]}
    assert set(secrets) >= {c["clientId"] for c in fixture["clients"]}
    for client in fixture["clients"]:
        new = client | {"secret": secrets[client["clientId"]]}
        r = get_token(server, fixture["realm"], new)
        assert r.status_code == 200, r.text
        assert set(jwt_parts(r.json()["access_token"])[1]["realm_access"]["roles"]) >= set(
            client["realm_roles"]
        )
    # a new key was generated: the masked ones were not carried
    published = httpx.get(url, timeout=10).json()["keys"]
    assert published
    assert KeySet.import_key_set({"keys": published})
