"""Bad input to the Admin REST API never breaks the server: Keycloak's 4xx bodies for bad
JSON, wrong types, huge bodies, unknown routes and ids."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.admin_api_support import (
    Api,
    api,
    realm,
)

__all__ = ["api", "realm"]  # fixtures

# bad input ---------------------------------------------------------------------------------


def test_collection_paths_with_a_trailing_slash(api: Api, realm: str) -> None:
    """keycloak-admin-client sends ``/admin/realms/`` and ``.../clients/``; JAX-RS matches."""
    assert realm in [r["realm"] for r in api.json("GET", "/")]
    cid = api.created(f"/{realm}/clients/", {"clientId": "slash"})
    assert api.json("GET", f"/{realm}/clients/{cid}/")["clientId"] == "slash"


def test_unknown_routes_and_methods(api: Api, realm: str) -> None:
    r = api("GET", f"/{realm}/nothing-here")
    assert (r.status_code, r.json()) == (404, {"error": "HTTP 404 Not Found"})
    r = api("PATCH", f"/{realm}")
    assert (r.status_code, r.json()) == (405, {"error": "HTTP 405 Method Not Allowed"})


BAD_BODIES: list[tuple[bytes, str]] = [
    (b"{", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'"text"', "application/json"),
    (b"\xff\xfe{}", "application/json"),
    (b'{"clientId": NaN}', "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (b'{"a":' * 100 + b"1" + b"}" * 100, "application/json"),
    (b"{}", "text/plain"),
    (b'{"clientId": ["a"], "enabled": {"x": 1}}', "application/json"),
    (b'{"clientId": "c", "attributes": ["x"]}', "application/json"),
    (b'{"clientId": "c", "redirectUris": "https://x"}', "application/json"),
    (b'{"clientId": "c", "defaultClientScopes": [{}]}', "application/json"),
    (b'{"clientId": "' + b"x" * 5000 + b'"}', "application/json"),
    (b'{"clientId": "c\\u0000"}', "application/json"),
    (b'{"realm": 12, "accessTokenLifespan": 1e400}', "application/json"),
    (b'{"name": {"n": 1}}', "application/json"),
]


@pytest.mark.parametrize("target", ["", "/{realm}/clients", "/{realm}/roles", "/{realm}"])
def test_bad_bodies_never_break_the_server(api: Api, realm: str, target: str) -> None:
    path = target.format(realm=realm)
    method = "PUT" if target == "/{realm}" else "POST"
    for content, ctype in BAD_BODIES:
        r = api(method, path, content=content, headers={"Content-Type": ctype})
        assert 400 <= r.status_code < 500, (content[:60], r.status_code, r.text)
        body = r.json()
        assert "error" in body or "errorMessage" in body, body


def test_huge_bodies_are_refused(api: Api, realm: str) -> None:
    huge = b'{"clientId": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = api("POST", f"/{realm}/clients", content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "path",
    [
        "/{realm}/clients/" + "x" * 300,
        "/{realm}/clients/%00",
        "/{realm}/clients/..%2F..",
        "/{realm}/clients/{uuid}/client-secret",
        "/{realm}/clients/{uuid}/service-account-user",
        "/{realm}/clients/{uuid}/roles",
        "/{realm}/users/" + "y" * 300,
        "/{realm}/users/{uuid}/role-mappings/realm",
        "/{realm}/users/{uuid}/role-mappings/clients/{uuid}",
        "/{realm}/roles/%00",
        "/{realm}/roles/" + "z" * 300,
        "/" + "R" * 300,
        "/%E2%98%83/clients",
    ],
)
def test_unknown_ids_are_404_not_500(api: Api, realm: str, path: str) -> None:
    r = api("GET", path.format(realm=realm, uuid=uuid.uuid4()))
    assert r.status_code == 404, r.text
    assert r.json()["error"]


def test_bad_query_parameters(api: Api, realm: str) -> None:
    for params in ({"max": "x"}, {"first": "1.5"}, {"first": "9" * 50}):
        r = api("GET", f"/{realm}/roles", params=params)
        assert r.status_code in (200, 400), r.text
    assert api("GET", f"/{realm}/roles", params={"first": "-5", "max": "-1"}).status_code == 200
