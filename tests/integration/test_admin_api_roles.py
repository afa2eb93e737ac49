"""The Admin REST API's realm roles, service accounts' role mappings, the admin roles of
``realm-management`` and who may administer what, against a real server."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.admin_api_support import (
    Api,
    api,
    claims,
    grant,
    new_client,
    realm,
    service_account,
    token_of,
    token_response,
    unique,
)
from tests.servers import Server

__all__ = ["api", "realm"]  # fixtures

# roles and mappings ------------------------------------------------------------------------


def test_realm_roles(api: Api, realm: str) -> None:
    for name in ("r-a", "r-b", "r-c"):
        assert api.created(f"/{realm}/roles", {"name": name, "description": name.upper()}) == name
    r = api("POST", f"/{realm}/roles", {"name": "r-a"})
    assert (r.status_code, r.json()) == (409, {"errorMessage": "Role with name r-a already exists"})
    r = api("POST", f"/{realm}/roles", {"description": "no name"})
    assert (r.status_code, r.json()) == (400, {"error": "HTTP 400 Bad Request"})
    r = api("POST", f"/{realm}/roles", {"name": "c", "composite": True})
    assert r.status_code == 400 and "composite" in r.json()["errorMessage"]
    role = api.json("GET", f"/{realm}/roles/r-b")
    assert (role["name"], role["description"], role["composite"], role["clientRole"]) == (
        "r-b",
        "R-B",
        False,
        False,
    )
    assert role["attributes"] == {}
    names = [x["name"] for x in api.json("GET", f"/{realm}/roles")]
    assert names == sorted(names) and {"r-a", "r-b", "r-c"} <= set(names)
    page = api.json("GET", f"/{realm}/roles", params={"first": 1, "max": 1})
    assert [x["name"] for x in page] == names[1:2]
    assert api.json("GET", f"/{realm}/roles", params={"first": len(names), "max": 100}) == []
    found = api.json("GET", f"/{realm}/roles", params={"search": "r-c"})
    assert [x["name"] for x in found] == ["r-c"]
    full = api.json("GET", f"/{realm}/roles", params={"briefRepresentation": "false"})
    assert all("attributes" in x for x in full)
    api.json("DELETE", f"/{realm}/roles/r-c", status=204)
    r = api("GET", f"/{realm}/roles/r-c")
    assert (r.status_code, r.json()) == (404, {"error": "Could not find role"})


def test_realm_role_mappings_reach_the_token(api: Api, realm: str, server: Server) -> None:
    cid, creds = new_client(api, realm, "mapped")
    uid = service_account(api, realm, cid)
    user = api.json("GET", f"/{realm}/users/{uid}")
    assert (user["username"], user["serviceAccountClientId"]) == (
        "service-account-mapped",
        "mapped",
    )
    api.created(f"/{realm}/roles", {"name": "reader"})
    api.created(f"/{realm}/roles", {"name": "writer"})
    roles = {r["name"]: r for r in api.json("GET", f"/{realm}/roles")}
    path = f"/{realm}/users/{uid}/role-mappings/realm"
    body = [{"id": roles[n]["id"], "name": n} for n in ("reader", "writer")]
    api.json("POST", path, body, status=204)
    assert {r["name"] for r in api.json("GET", path)} == {"reader", "writer"}
    token = claims(token_of(server, creds))
    assert {"reader", "writer"} <= set(token["realm_access"]["roles"])
    r = api("POST", path, [{"id": "not-its-id", "name": "reader"}])
    assert (r.status_code, r.json()) == (404, {"error": "Role not found"})
    r = api("POST", path, [{"id": roles["reader"]["id"], "name": "nope"}])
    assert (r.status_code, r.json()) == (404, {"error": "Role not found"})
    api.json("DELETE", path, [body[0]], status=204)
    assert [r["name"] for r in api.json("GET", path)] == ["writer"]
    assert "reader" in [r["name"] for r in api.json("GET", path + "/available")]
    api.json("DELETE", path, status=204)  # no body: every mapping
    assert api.json("GET", path) == []
    r = api("GET", f"/{realm}/users/{uuid.uuid4()}")
    assert (r.status_code, r.json()) == (404, {"error": "User not found"})


def test_admin_roles_of_realm_management(api: Api, realm: str, server: Server) -> None:
    cid, creds = new_client(api, realm, "ops")
    uid = service_account(api, realm, cid)
    grant(api, realm, uid, "manage-clients", "view-realm")
    token = claims(token_of(server, creds))
    assert set(token["resource_access"]["realm-management"]["roles"]) == {
        "manage-clients",
        "view-realm",
    }
    all_maps = api.json("GET", f"/{realm}/users/{uid}/role-mappings")
    held = all_maps["clientMappings"]["realm-management"]["mappings"]
    assert {m["name"] for m in held} == {"manage-clients", "view-realm"}
    ops = Api(server, token_of(server, creds))
    new = ops.created(f"/{realm}/clients", {"clientId": "made-by-ops"})
    assert ops.json("GET", f"/{realm}/clients/{new}")["clientId"] == "made-by-ops"
    assert ops.json("GET", f"/{realm}")["realm"] == realm
    assert ops("POST", f"/{realm}/roles", {"name": "x"}).status_code == 403  # manage-realm
    assert ops("GET", "/master").status_code == 403
    assert ops("POST", "", {"realm": unique("r")}).status_code == 403
    assert [r["realm"] for r in ops.json("GET", "")] == [realm]
    # mapping needs manage-users; mapping realm-admin needs a master admin
    r = ops("POST", f"/{realm}/users/{uid}/role-mappings/realm", [])
    assert (r.status_code, r.json()) == (403, {"error": "HTTP 403 Forbidden"})
    grant(api, realm, uid, "manage-users")
    ops = Api(server, token_of(server, creds))
    rm = ops.json("GET", f"/{realm}/clients", params={"clientId": "realm-management"})[0]["id"]
    admin_roles = {r["name"]: r for r in ops.json("GET", f"/{realm}/clients/{rm}/roles")}
    path = f"/{realm}/users/{uid}/role-mappings/clients/{rm}"
    ra = admin_roles["realm-admin"]
    assert ops("POST", path, [{"id": ra["id"], "name": "realm-admin"}]).status_code == 403
    vu = admin_roles["view-users"]
    ops.json("POST", path, [{"id": vu["id"], "name": "view-users"}], status=204)
    api.json("DELETE", path, status=204)  # no body: every admin role
    assert api.json("GET", path) == []
    assert "resource_access" not in claims(token_of(server, creds))


def test_tokens_that_may_not_administer(api: Api, realm: str, server: Server) -> None:
    _, plain = new_client(api, realm, "plain")
    tenant = Api(server, token_of(server, plain))
    r = tenant("GET", f"/{realm}")
    assert (r.status_code, r.json()) == (403, {"error": "HTTP 403 Forbidden"})
    assert tenant("GET", "").status_code == 403
    other = unique("o")
    api.created("", {"realm": other, "enabled": True})
    try:
        cid, creds = new_client(api, other, "other-admin")
        grant(api, other, service_account(api, other, cid), "realm-admin")
        foreign = Api(server, token_of(server, creds))
        assert foreign("GET", f"/{other}/clients").status_code == 200
        assert foreign("GET", f"/{realm}/clients").status_code == 403
        assert foreign("GET", f"/{realm}").status_code == 403
    finally:
        api("DELETE", f"/{other}")
    for auth in (None, "Bearer not.a.token", "Basic abc", "Bearer a b"):
        r = httpx.get(
            f"{server.base_url}/admin/realms/{realm}",
            headers={"Authorization": auth} if auth else {},
            timeout=30,
        )
        assert (r.status_code, r.json()) == (401, {"error": "HTTP 401 Unauthorized"}), auth
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_admin_token_gets_401(api: Api, realm: str, server: Server) -> None:
    cid, creds = new_client(api, realm, "revoked")
    grant(api, realm, service_account(api, realm, cid), "view-realm")
    token = token_of(server, creds)
    assert Api(server, token)("GET", f"/{realm}").status_code == 200
    api.json("PUT", f"/{realm}/clients/{cid}", {"enabled": False}, status=204)
    assert Api(server, token)("GET", f"/{realm}").status_code == 401


def test_a_disabled_realm_is_managed_by_master_only(api: Api, realm: str, server: Server) -> None:
    cid, creds = new_client(api, realm, "own-admin")
    grant(api, realm, service_account(api, realm, cid), "realm-admin")
    token = token_of(server, creds)
    api.json("PUT", f"/{realm}", {"enabled": False}, status=204)
    assert token_response(server, creds).status_code != 200
    assert Api(server, token)("GET", f"/{realm}").status_code == 401
    assert api.json("GET", f"/{realm}")["enabled"] is False
    api.json("PUT", f"/{realm}", {"enabled": True}, status=204)
    assert token_response(server, creds).status_code == 200
