"""The differences from Keycloak that docs/keycloak-compatibility.md lists and no other test
shows: a new realm's token lifespan, its roles, a create-realm-only master client, the routes
realmgate does not serve, and the names it refuses."""

from __future__ import annotations

import pytest

from tests.integration.admin_api_support import (
    Api,
    api,
    claims,
    new_client,
    realm,
    service_account,
    token_of,
    unique,
)
from tests.servers import Server

__all__ = ["api", "realm"]  # fixtures


def test_a_new_realm_takes_the_servers_lifespan_and_has_no_roles(api: Api, realm: str) -> None:
    rep = api.json("GET", f"/{realm}")
    assert rep["accessTokenLifespan"] == 7200  # access_token_lifespan's default, not 300
    assert api.json("GET", f"/{realm}/roles") == []
    cid, creds = new_client(api, realm, "plain")
    token = claims(token_of(api.server, creds))
    assert token["realm_access"] == {"roles": []}
    assert token["exp"] - token["iat"] == 7200
    api.created(f"/{realm}/roles", {"name": "reader"})
    role = api.json("GET", f"/{realm}/roles/reader")
    user = service_account(api, realm, cid)
    api.json("POST", f"/{realm}/users/{user}/role-mappings/realm", [role], status=204)
    assert claims(token_of(api.server, creds))["realm_access"] == {"roles": ["reader"]}


def test_a_create_realm_master_client_does_not_administer_what_it_creates(
    api: Api, server: Server
) -> None:
    cid, creds = new_client(api, "master", unique("creator"))
    user = service_account(api, "master", cid)
    role = api.json("GET", "/master/roles/create-realm")
    api.json("POST", f"/master/users/{user}/role-mappings/realm", [role], status=204)
    creator = Api(server, token_of(server, creds))
    name = unique("made")
    try:
        assert creator.created("", {"realm": name, "enabled": True}) == name
        assert creator("GET", f"/{name}/clients").status_code == 403
        assert creator("DELETE", f"/{name}").status_code == 403
    finally:
        api("DELETE", f"/{name}")
        api("DELETE", f"/master/clients/{cid}")


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/{realm}/roles/reader"), ("POST", "/{realm}/push-revocation")],
)
def test_routes_realmgate_does_not_serve(api: Api, realm: str, method: str, path: str) -> None:
    api.created(f"/{realm}/roles", {"name": "reader"})
    r = api(method, path.format(realm=realm), {"name": "reader"})
    assert r.status_code in (404, 405), r.text
    assert r.json() in ({"error": "HTTP 404 Not Found"}, {"error": "HTTP 405 Method Not Allowed"})


@pytest.mark.parametrize("name", ["CX Operator", "x" * 64, "bad/name", "-x", "..", "caf\u00e9"])
def test_realm_names_are_shortcodes(api: Api, name: str) -> None:
    r = api("POST", "", {"realm": name, "enabled": True})
    assert r.status_code == 400, r.text
    assert "errorMessage" in r.json()


@pytest.mark.parametrize("client_id", ["with space", "", "a/b"])
def test_client_ids_are_url_safe(api: Api, realm: str, client_id: str) -> None:
    r = api("POST", f"/{realm}/clients", {"clientId": client_id, "serviceAccountsEnabled": True})
    assert r.status_code == 400, r.text
    assert "errorMessage" in r.json()
