"""The Keycloak-compatible Admin REST API over HTTP against a real server: realms, clients,
Keycloak's status codes, ``Location`` headers, empty 201 bodies and error bodies, and the
secret reveal window."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.admin_api_support import (
    Api,
    api,
    master,
    new_client,
    realm,
    token_of,
    token_response,
    unique,
)
from tests.servers import Credentials, Server

__all__ = ["api", "realm"]  # fixtures

# realms ------------------------------------------------------------------------------------


def test_realm_lifecycle(api: Api) -> None:
    name = unique("r")
    assert api.created("", {"realm": name, "enabled": True, "displayName": "R"}) == name
    conflict = api("POST", "", {"realm": name})
    assert (conflict.status_code, conflict.json()) == (
        409,
        {"errorMessage": f"Realm {name} already exists"},
    )
    rep = api.json("GET", f"/{name}")
    assert rep["realm"] == name and rep["enabled"] is True and rep["displayName"] == "R"
    assert rep["id"]
    api.json("PUT", f"/{name}", {"accountTheme": "t", "attributes": {"k": "v"}}, status=204)
    api.json("PUT", f"/{name}", {"accessTokenLifespan": 600}, status=204)
    rep = api.json("GET", f"/{name}")
    assert (rep["accountTheme"], rep["attributes"], rep["accessTokenLifespan"]) == (
        "t",
        {"k": "v"},
        600,
    )
    names = [r["realm"] for r in api.json("GET", "")]
    assert name in names and "master" in names
    brief = api.json("GET", "", params={"briefRepresentation": "true"})
    assert all("accessTokenLifespan" not in r for r in brief)
    api.json("DELETE", f"/{name}", status=204)
    for method in ("GET", "DELETE", "PUT"):
        r = api(method, f"/{name}", {} if method == "PUT" else None)
        assert (r.status_code, r.json()) == (404, {"error": "Realm not found."})


def test_a_realm_is_created_disabled_unless_enabled_as_keycloak_does(api: Api) -> None:
    name = unique("r")
    api.created("", {"realm": name})
    try:
        assert api.json("GET", f"/{name}")["enabled"] is False
    finally:
        api("DELETE", f"/{name}")


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"realm": ""}, 400, {"errorMessage": "Realm name cannot be empty"}),
        ({}, 400, {"errorMessage": "Realm name cannot be empty"}),
        ({"realm": "x1", "wrong": "payload"}, 400, "Unrecognized field"),
        # a representation with sub-resources is an import (issue 16): refused naming the path
        ({"realm": "x1", "clients": [{"clientId": 7}]}, 400, "$.clients[0].clientId: must be"),
        ({"realm": "x/1", "clients": [{"clientId": "a"}]}, 400, "$.realm: "),
        ({"realm": "x1", "enabled": "maybe"}, 400, "unknown_error"),
        ({"realm": "Not A Shortcode!"}, 400, "errorMessage"),
        ({"realm": "x1", "defaultSignatureAlgorithm": "HS256"}, 400, "errorMessage"),
    ],
)
def test_realm_create_refusals(api: Api, body: Any, status: int, expected: Any) -> None:
    r = api("POST", "", body)
    assert r.status_code == status, r.text
    if isinstance(expected, dict):
        assert r.json() == expected
    else:
        assert expected in r.text


def test_master_cannot_be_deleted_or_renamed(api: Api, realm: str) -> None:
    r = api("DELETE", "/master")
    assert r.status_code == 400 and "errorMessage" in r.json()
    r = api("PUT", f"/{realm}", {"realm": "other"})
    assert r.status_code == 400 and "'realm'" in r.json()["errorMessage"]


def test_keys_and_client_scopes(api: Api, realm: str) -> None:
    keys = api.json("GET", f"/{realm}/keys")
    ((alg, kid),) = keys["active"].items()
    (key,) = [k for k in keys["keys"] if k["kid"] == kid]
    assert (key["algorithm"], key["status"], key["use"]) == (alg, "ACTIVE", "SIG")
    assert base64.b64decode(key["publicKey"])
    scopes = {s["name"] for s in api.json("GET", f"/{realm}/client-scopes")}
    assert {"email", "profile", "openid"} <= scopes


# clients -----------------------------------------------------------------------------------


def test_client_lifecycle(api: Api, realm: str, server: Server) -> None:
    cid, creds = new_client(
        api,
        realm,
        "svc",
        name="Service",
        redirectUris=["https://app.example/cb"],
        attributes={"access.token.lifespan": "120", "custom": "x"},
    )
    rep = api.json("GET", f"/{realm}/clients/{cid}")
    assert "secret" not in rep
    assert (rep["id"], rep["clientId"], rep["name"]) == (cid, "svc", "Service")
    assert rep["redirectUris"] == ["https://app.example/cb"]
    assert rep["attributes"]["custom"] == "x"
    assert rep["serviceAccountsEnabled"] is True and rep["publicClient"] is False
    assert rep["access"] == {"view": True, "configure": True, "manage": True}
    token = token_response(server, creds).json()
    assert token["expires_in"] == 120
    conflict = api("POST", f"/{realm}/clients", {"clientId": "svc"})
    assert (conflict.status_code, conflict.json()) == (
        409,
        {"errorMessage": "Client svc already exists"},
    )
    api.json("PUT", f"/{realm}/clients/{cid}", {"description": "d", "attributes": {"k": "v"}}, 204)
    rep = api.json("GET", f"/{realm}/clients/{cid}")
    assert rep["description"] == "d"
    assert rep["attributes"]["custom"] == "x" and rep["attributes"]["k"] == "v"
    api.json("PUT", f"/{realm}/clients/{cid}", {"enabled": False}, status=204)
    assert token_response(server, creds).status_code == 401
    api.json("PUT", f"/{realm}/clients/{cid}", {"enabled": True}, status=204)
    assert token_response(server, creds).status_code == 200
    api.json("DELETE", f"/{realm}/clients/{cid}", status=204)
    for method in ("GET", "PUT", "DELETE"):
        r = api(method, f"/{realm}/clients/{cid}", {} if method == "PUT" else None)
        assert (r.status_code, r.json()) == (404, {"error": "Could not find client"})
    assert token_response(server, creds).status_code == 401


def test_what_get_answers_put_takes_back_unchanged(api: Api, realm: str) -> None:
    """Scripts read a representation, change a field and send it all back."""
    keys = api.json("GET", f"/{realm}/keys")
    rep = api.json("GET", f"/{realm}")
    api.json("PUT", f"/{realm}", rep, status=204)
    assert api.json("GET", f"/{realm}") == rep
    assert api.json("GET", f"/{realm}/keys") == keys  # same algorithm: no rotation
    cid, _ = new_client(api, realm, "roundtrip", attributes={"access.token.lifespan": "90"})
    client = api.json("GET", f"/{realm}/clients/{cid}")
    api.json("PUT", f"/{realm}/clients/{cid}", client | {"description": "changed"}, status=204)
    assert api.json("GET", f"/{realm}/clients/{cid}") == client | {"description": "changed"}


def test_client_listing(api: Api, realm: str) -> None:
    for name in ("alpha", "beta", "gamma"):
        new_client(api, realm, name)
    every = [c["clientId"] for c in api.json("GET", f"/{realm}/clients")]
    assert every == sorted(every) and {"alpha", "beta", "gamma", "realm-management"} <= set(every)
    exact = api.json("GET", f"/{realm}/clients", params={"clientId": "beta"})
    assert [c["clientId"] for c in exact] == ["beta"]
    assert api.json("GET", f"/{realm}/clients", params={"clientId": "et"}) == []
    found = api.json("GET", f"/{realm}/clients", params={"clientId": "ET", "search": "true"})
    assert [c["clientId"] for c in found] == ["beta"]
    page = api.json("GET", f"/{realm}/clients", params={"first": 1, "max": 2})
    assert [c["clientId"] for c in page] == every[1:3]
    r = api("GET", f"/{realm}/clients", params={"first": "abc"})
    assert r.status_code == 400 and "'first'" in r.text


@pytest.mark.parametrize(
    ("rep", "field"),
    [
        ({"publicClient": True}, "publicClient"),
        ({"bearerOnly": True}, "bearerOnly"),
        ({"serviceAccountsEnabled": False}, "serviceAccountsEnabled"),
        ({"clientAuthenticatorType": "client-kerberos"}, "clientAuthenticatorType"),
        ({"protocol": "saml"}, "protocol"),
        ({"authorizationServicesEnabled": True}, "authorizationServicesEnabled"),
    ],
)
def test_what_realmgate_cannot_honour_is_refused(
    api: Api, realm: str, rep: dict[str, Any], field: str
) -> None:
    r = api("POST", f"/{realm}/clients", {"clientId": unique("c"), **rep})
    assert r.status_code == 400, r.text
    assert f"'{field}'" in r.json()["errorMessage"]


def test_client_update_refusals(api: Api, realm: str) -> None:
    cid, _ = new_client(api, realm, "upd")
    for body, text in (
        ({"clientId": "renamed"}, "clientId"),
        ({"secret": "new"}, "'secret'"),
        ({"clientAuthenticatorType": "client-secret-jwt"}, "clientAuthenticatorType"),
        ({"unknownField": 1}, "Unrecognized field"),
    ):
        r = api("PUT", f"/{realm}/clients/{cid}", body)
        assert r.status_code == 400 and text in r.text, r.text


def test_client_jwt_clients_keep_their_jwks_uri(api: Api, realm: str) -> None:
    attributes = {"use.jwks.url": "true", "jwks.url": "https://keys.example/jwks.json"}
    body = {"clientId": "jwt", "clientAuthenticatorType": "client-jwt", "attributes": attributes}
    cid = api.created(f"/{realm}/clients", body)
    rep = api.json("GET", f"/{realm}/clients/{cid}")
    assert rep["clientAuthenticatorType"] == "client-jwt"
    assert rep["attributes"]["jwks.url"] == "https://keys.example/jwks.json"
    r = api(
        "POST", f"/{realm}/clients", {"clientId": "jwt2", "clientAuthenticatorType": "client-jwt"}
    )
    assert r.status_code == 400 and "errorMessage" in r.json()


def test_changes_are_audited_with_the_admin_and_its_address(
    api: Api, realm: str, server: Server
) -> None:
    _, creds = new_client(api, realm, "audited")
    events = json.loads(server.cli("audit", "list", "--tenant", realm, "--json").stdout)
    (created,) = [e for e in events if e["action"] == "client.created"]
    assert created["actor"] == "admin:master/realmgate-admin"
    assert created["details"]["source"] == "127.0.0.1"
    assert creds.client_secret not in json.dumps(events)


# secrets -----------------------------------------------------------------------------------


def test_secret_readable_once_then_410_and_regenerate(api: Api, realm: str, server: Server) -> None:
    cid = api.created(f"/{realm}/clients", {"clientId": "gen", "serviceAccountsEnabled": True})
    path = f"/{realm}/clients/{cid}/client-secret"
    assert api("HEAD", path).status_code == 405  # a HEAD would destroy it unseen
    first = api("GET", path)
    assert first.status_code == 200 and first.headers["Cache-Control"].startswith("no-store")
    assert first.json()["type"] == "secret"
    secret = first.json()["value"]
    creds = Credentials(realm, "gen", secret)
    assert token_response(server, creds).status_code == 200
    gone = api("GET", path)
    assert gone.status_code == 410
    assert gone.json()["error"].startswith("The secret of client 'gen' cannot be read")
    new = api.json("POST", path, {})
    assert new["type"] == "secret" and new["value"] != secret
    assert token_response(server, creds).status_code == 401  # the old one: refused at once
    renewed = Credentials(realm, "gen", new["value"])
    assert token_response(server, renewed).status_code == 200
    assert api.json("GET", path) == new  # a regenerated secret is readable once too
    assert api("GET", path).status_code == 410
    assert secret not in server.output() and new["value"] not in server.output()


def test_a_given_secret_is_kept_and_readable_once(api: Api, realm: str, server: Server) -> None:
    cid, creds = new_client(api, realm, "given")
    path = f"/{realm}/clients/{cid}/client-secret"
    assert api.json("GET", path) == {"type": "secret", "value": creds.client_secret}
    assert api("GET", path).status_code == 410
    assert token_response(server, creds).status_code == 200


@pytest.fixture(scope="module")
def short_window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose secrets are revealable for 1 s, and a tiny admin rate."""
    srv = Server(
        tmp_path_factory.mktemp("admin-window"),
        None,
        {
            "REALMGATE_ADMIN_SECRET_REVEAL_WINDOW": "1",
            "REALMGATE_ADMIN_RATE_LIMIT": "0.01",
            "REALMGATE_ADMIN_RATE_BURST": "8",
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_after_the_window_the_secret_is_gone_and_the_rate_is_limited(
    short_window: Server,
) -> None:
    api = Api(short_window, token_of(short_window, master(short_window)))
    realm = unique("w")
    api.created("", {"realm": realm, "enabled": True})
    cid = api.created(f"/{realm}/clients", {"clientId": "late"})
    deadline = time.time() + 2.5  # past the 1 s window, whatever the clock's rounding
    while time.time() < deadline:
        time.sleep(0.25)
    r = api("GET", f"/{realm}/clients/{cid}/client-secret")
    assert r.status_code == 410, r.text
    # 8 requests at once, then one per 100 s: the burst is spent within these calls.
    statuses = [api("GET", f"/{realm}").status_code for _ in range(8)]
    assert 429 in statuses
    limited = api("GET", f"/{realm}")
    assert limited.status_code == 429
    assert limited.json() == {"error": "Too many requests"}
    assert int(limited.headers["Retry-After"]) >= 1
