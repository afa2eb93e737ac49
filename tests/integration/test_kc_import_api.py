"""Realm imports through Keycloak's admin API (issue 16), beside the acceptance tests of
test_keycloak_import_input.py: invalid bodies name the JSON path and write nothing, masked
secrets become new secrets readable once, ``partialImport`` needs manage-realm."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.admin_api_support import (
    Api,
    api,
    grant,
    new_client,
    realm,
    service_account,
    token_of,
    unique,
)
from tests.servers import Server

__all__ = ["api", "realm"]  # fixtures


def rep_of(name: str, **kw: Any) -> dict[str, Any]:
    client_id = f"svc-{uuid.uuid4().hex[:8]}"
    return {
        "realm": name,
        "enabled": True,
        "clients": [
            {
                "id": str(uuid.uuid4()),
                "clientId": client_id,
                "secret": "**********",
                "serviceAccountsEnabled": True,
                "clientAuthenticatorType": "client-secret",
            }
        ],
        "roles": {"realm": [{"id": str(uuid.uuid4()), "name": "reader"}]},
        "users": [
            {
                "id": str(uuid.uuid4()),
                "username": f"service-account-{client_id}",
                "serviceAccountClientId": client_id,
                "realmRoles": ["reader"],
            }
        ],
        **kw,
    }


def test_an_invalid_import_names_the_path_and_writes_nothing(api: Api) -> None:
    name = unique("bad")
    body = rep_of(name)
    body["clients"].append(dict(body["clients"][0]))
    r = api("POST", "", body)
    assert r.status_code == 400, r.text
    assert r.json() == {
        "errorMessage": f"$.clients[1].clientId: duplicate clientId "
        f"'{body['clients'][0]['clientId']}' (also at $.clients[0])"
    }
    assert api("GET", f"/{name}").status_code == 404
    r = api("POST", "", rep_of("no/way"))
    assert r.status_code == 400 and r.json()["errorMessage"].startswith("$.realm: ")


def test_a_masked_secret_becomes_a_new_secret_readable_once(server: Server, api: Api) -> None:
    name = unique("masked")
    body = rep_of(name)
    assert api.created("", body) == name
    try:
        client = body["clients"][0]
        path = f"/{name}/clients/{client['id']}/client-secret"
        secret = api.json("GET", path)["value"]
        assert api("GET", path).status_code == 410  # once
        r = httpx.post(
            f"{server.base_url}/realms/{name}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials", "client_id": client["clientId"],
                  "client_secret": secret},
            timeout=30,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert api("POST", "", body).status_code == 409
    finally:
        api("DELETE", f"/{name}")


def test_partial_import_needs_manage_realm(server: Server, api: Api, realm: str) -> None:
    cid, creds = new_client(api, realm, "viewer")
    grant(api, realm, service_account(api, realm, cid), "view-realm", "manage-clients")
    viewer = Api(server, token_of(server, creds))
    body = {"ifResourceExists": "SKIP", "roles": {"realm": [{"name": "new-role"}]}}
    assert viewer("POST", f"/{realm}/partialImport", body).status_code == 403
    assert api("GET", f"/{realm}/roles/new-role").status_code == 404
    result = api.json("POST", f"/{realm}/partialImport", body)
    assert result["added"] == 1 and result["results"][0]["resourceType"] == "REALM_ROLE"
    bad = api("POST", f"/{realm}/partialImport", {"ifResourceExists": "MERGE"})
    assert bad.status_code == 400
    assert bad.json() == {"errorMessage": "$.ifResourceExists: must be FAIL, SKIP or OVERWRITE"}
