"""realmgate's admin extensions over HTTP (``/admin/realmgate``): onboarding, clients and their
secrets, keys and their rotation period, tenant settings, the audit trail with its filters,
and the answers to bad requests. The caller is the master admin printed on the first start,
or a tenant's own ``realm-admin``. The throttle across two nodes and the scheduled rotation are
in ``test_admin_ext_nodes.py``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.admin_support import AdminHttp, master_admin, unique
from tests.conformance.oauth_helpers import token_claims, wait_for_next_second
from tests.integration.helpers import (
    bearer,
    get_settings,
    keys_named,
    poll,
    request_token,
)
from tests.servers import Credentials, Server

X = "/admin/realmgate"
CREDENTIAL_KEYS = {"tenantShortcode", "clientId", "clientSecret"}


@pytest.fixture(scope="module")
def api(server: Server) -> AdminHttp:
    return AdminHttp(server, master_admin(server))


def onboard(api: AdminHttp, prefix: str = "x", **body: Any) -> Credentials:
    shortcode = unique(prefix)
    r = api.request("POST", f"{X}/tenants", {"shortcode": shortcode, **body})
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith(f"{X}/tenants/{shortcode}")
    assert r.headers["cache-control"] == "no-store"
    data = r.json()
    assert set(data) == CREDENTIAL_KEYS
    return Credentials(data["tenantShortcode"], data["clientId"], data["clientSecret"])


def new_client(api: AdminHttp, tenant: str, client_id: str, **body: Any) -> Credentials:
    data = api.ok(
        "POST", f"{X}/tenants/{tenant}/clients", {"clientId": client_id, **body}, status=201
    )
    assert set(data) == CREDENTIAL_KEYS
    return Credentials(tenant, client_id, data["clientSecret"])


def token_status(server: Server, creds: Credentials) -> int:
    return request_token(server, creds).status_code


def test_onboarding_lifecycle(server: Server, api: AdminHttp) -> None:
    creds = onboard(api, name="ACME Corp", signingAlg="ES256", clientId="acme-ops")
    assert creds.client_id == "acme-ops"
    token = request_token(server, creds).json()["access_token"]
    listed = {t["shortcode"]: t for t in api.ok("GET", f"{X}/tenants")}
    assert listed[creds.tenant]["name"] == "ACME Corp"
    assert listed[creds.tenant]["signingAlgorithm"] == "ES256"
    shown = api.ok("GET", f"{X}/tenants/{creds.tenant}")
    assert shown["clients"] == ["acme-ops"] and shown["notBefore"] == 0
    changed = api.ok(
        "PATCH",
        f"{X}/tenants/{creds.tenant}",
        {"accessTokenLifespan": 600, "clientScopes": {"reports": "optional", "email": None}},
    )
    assert changed["accessTokenLifespan"] == 600
    assert changed["clientScopes"] == {
        "profile": "default",
        "openid": "optional",
        "reports": "optional",
    }
    wait_for_next_second(token_claims(token)["iat"])
    revoked = api.ok("POST", f"{X}/tenants/{creds.tenant}/revoke-tokens")
    assert set(revoked) == {"tenant", "notBefore"}
    assert datetime.fromisoformat(revoked["notBefore"]).tzinfo is not None
    refused = poll(lambda: get_settings(server, token).status_code, lambda s: s == 401)
    assert refused == 401
    r = api.request("DELETE", f"{X}/tenants/{creds.tenant}")
    assert r.status_code == 204 and r.content == b""
    assert api.request("GET", f"{X}/tenants/{creds.tenant}").status_code == 404
    assert poll(lambda: token_status(server, creds), lambda s: s != 200) != 200


def test_client_lifecycle(server: Server, api: AdminHttp) -> None:
    tenant = onboard(api).tenant
    svc = new_client(api, tenant, "reporting", roles=["reader"])
    assert token_status(server, svc) == 200
    view = api.ok("GET", f"{X}/tenants/{tenant}/clients/reporting")
    assert view["roles"] == ["reader"] and view["enabled"] is True
    assert keys_named(view, "clientSecret") == [] and svc.client_secret not in str(view)
    listed = api.ok("GET", f"{X}/tenants/{tenant}/clients")
    assert [c["clientId"] for c in listed] == sorted(c["clientId"] for c in listed)
    assert view in listed
    patched = api.ok(
        "PATCH",
        f"{X}/tenants/{tenant}/clients/reporting",
        {"roles": ["writer"], "accessTokenLifespan": 300, "claims": {"team": "blue"}},
    )
    assert patched["roles"] == ["writer"] and patched["accessTokenLifespan"] == 300
    assert patched["claims"] == {"team": "blue"}
    reset = api.ok("PATCH", f"{X}/tenants/{tenant}/clients/reporting", {"accessTokenLifespan": 0})
    assert reset["accessTokenLifespan"] is None
    off = api.ok("PATCH", f"{X}/tenants/{tenant}/clients/reporting", {"enabled": False})
    assert off["enabled"] is False
    assert poll(lambda: token_status(server, svc), lambda s: s != 200) == 401
    api.ok("PATCH", f"{X}/tenants/{tenant}/clients/reporting", {"enabled": True})
    assert poll(lambda: token_status(server, svc), lambda s: s == 200) == 200

    rotated = api.ok(
        "POST", f"{X}/tenants/{tenant}/clients/reporting/rotate-secret", {"grace": 600}
    )
    new = Credentials(tenant, "reporting", rotated["clientSecret"])
    assert new.client_secret != svc.client_secret
    assert poll(lambda: token_status(server, new), lambda s: s == 200) == 200
    assert token_status(server, svc) == 200  # in its grace period
    ended = api.ok("POST", f"{X}/tenants/{tenant}/clients/reporting/end-previous-secret")
    assert ended["previousSecretValidUntil"] is None
    assert poll(lambda: token_status(server, svc), lambda s: s != 200) == 401
    at_once = api.ok("POST", f"{X}/tenants/{tenant}/clients/reporting/rotate-secret", {"grace": 0})
    assert poll(lambda: token_status(server, new), lambda s: s != 200) == 401
    newest = Credentials(tenant, "reporting", at_once["clientSecret"])
    token = request_token(server, newest).json()["access_token"]
    wait_for_next_second(token_claims(token)["iat"])
    revoked = api.ok("POST", f"{X}/tenants/{tenant}/clients/reporting/revoke-tokens")
    assert revoked["clientId"] == "reporting" and revoked["tenant"] == tenant
    assert poll(lambda: get_settings(server, token).status_code, lambda s: s == 401) == 401
    r = api.request("DELETE", f"{X}/tenants/{tenant}/clients/reporting")
    assert r.status_code == 204
    assert api.request("GET", f"{X}/tenants/{tenant}/clients/reporting").status_code == 404
    assert poll(lambda: token_status(server, newest), lambda s: s != 200) == 401


def test_keys_and_their_rotation_period(server: Server, api: AdminHttp) -> None:
    tenant = onboard(api).tenant
    (first,) = api.ok("GET", f"{X}/tenants/{tenant}/keys")
    assert first["status"] == "active" and first["alg"] == "RS256"
    new = api.ok("POST", f"{X}/tenants/{tenant}/keys/rotate", {"algorithm": "EdDSA"})
    assert new["alg"] == "EdDSA" and new["kid"] != first["kid"]
    statuses = {k["kid"]: k["status"] for k in api.ok("GET", f"{X}/tenants/{tenant}/keys")}
    assert statuses == {first["kid"]: "retired", new["kid"]: "active"}
    urgent = api.ok("POST", f"{X}/tenants/{tenant}/keys/rotate", {"emergency": True})
    kids = {
        k["kid"] for k in api.ok("GET", f"{X}/tenants/{tenant}/keys") if k["status"] != "revoked"
    }
    assert kids == {urgent["kid"]}
    jwks = f"{server.base_url}/realms/{tenant}/protocol/openid-connect/certs"
    published = poll(
        lambda: {k["kid"] for k in httpx.get(jwks).json()["keys"]}, lambda s: s == {urgent["kid"]}
    )
    assert published == {urgent["kid"]}

    policy = api.ok("GET", f"{X}/tenants/{tenant}/key-policy")
    assert policy["tenant"] == tenant and policy["rotationPeriod"] is None
    assert policy["effectiveRotationPeriod"] > 0  # the server's key_rotation_period
    own = api.ok("PUT", f"{X}/tenants/{tenant}/key-policy", {"rotationPeriod": 86400})
    assert own == {"tenant": tenant, "rotationPeriod": 86400, "effectiveRotationPeriod": 86400}
    never = api.ok("PUT", f"{X}/tenants/{tenant}/key-policy", {"rotationPeriod": 0})
    assert never["effectiveRotationPeriod"] == 0
    back = api.ok("PUT", f"{X}/tenants/{tenant}/key-policy", {"rotationPeriod": None})
    assert back == policy
    for bad in (5, -1, "weekly", True):
        r = api.request("PUT", f"{X}/tenants/{tenant}/key-policy", {"rotationPeriod": bad})
        assert r.status_code == 400 and "rotationPeriod" in r.json()["errorMessage"], r.text


def test_tenant_settings(server: Server, api: AdminHttp) -> None:
    creds = onboard(api)
    path = f"{X}/tenants/{creds.tenant}/settings"
    before = api.ok("GET", path)
    assert before["shortcode"] == creds.tenant and before["duplicateCheck"] is False
    after = api.ok("PATCH", path, {"duplicateCheck": True, "timezone": "Europe/Vienna"})
    assert after["duplicateCheck"] is True and after["timezone"] == "Europe/Vienna"
    r = api.request("PATCH", path, {"locale": "not a tag", "shortcode": "x", "nope": 1})
    assert r.status_code == 400
    assert set(r.json()["errors"]) == {"locale", "shortcode", "nope"}
    assert api.ok("GET", path) == after  # a patch with any problem changes nothing
    token = request_token(server, creds).json()["access_token"]
    seen = poll(
        lambda: get_settings(server, token).json()["data"],
        lambda d: d["timezone"] == "Europe/Vienna",
    )
    assert seen["duplicateCheck"] is True


def test_audit_trail_with_filters_and_paging(server: Server, api: AdminHttp) -> None:
    start = int(time.time()) - 1
    tenant = onboard(api).tenant
    for name in ("a1", "a2", "a3"):
        new_client(api, tenant, name)
    api.ok("POST", f"{X}/tenants/{tenant}/clients/a2/rotate-secret", {"grace": 0})
    r = api.request("GET", f"{X}/audit", params={"tenant": tenant})
    events = r.json()
    assert r.status_code == 200
    assert [e["action"] for e in events] == [
        "client.secret_rotated",
        "client.created",
        "client.created",
        "client.created",
        "tenant.created",
    ]
    actor = f"admin:master/{master_admin(server).client_id}"
    assert {e["actor"] for e in events} == {actor}
    assert {e["details"]["source"] for e in events} == {"127.0.0.1"}
    assert keys_named(events, "clientSecret") == []

    def query(**params: Any) -> list[dict[str, Any]]:
        r = api.request("GET", f"{X}/audit", params={"tenant": tenant, **params})
        assert r.status_code == 200, r.text
        return list(r.json())

    assert [e["target"] for e in query(action="client.created")] == ["a3", "a2", "a1"]
    assert len(query(action="client.*")) == 4
    assert query(action="client.*", first=1, max=2) == query(action="client.*")[1:3]
    assert query(actor=actor) == events
    assert query(actor="cli:nobody") == []
    since = datetime.fromtimestamp(start, UTC).isoformat()
    assert query(since=since) == events
    assert query(until=str(start - 3600)) == []
    everything = api.ok("GET", f"{X}/audit?max=500")  # master admin: every tenant
    assert {e["tenant"] for e in everything} > {tenant}
    for bad in ({"since": "yesterday"}, {"max": "0"}, {"first": "-1"}, {"max": "ten"}):
        r = api.request("GET", f"{X}/audit", params={"tenant": tenant, **bad})
        assert r.status_code == 400, (bad, r.text)


def test_a_tenants_own_admin(server: Server, api: AdminHttp) -> None:
    tenant = onboard(api).tenant
    other = onboard(api).tenant
    ops, _, _ = api.service_client(tenant, "ops", admin_roles=("realm-admin",))
    own = AdminHttp(server, ops)
    assert [t["shortcode"] for t in own.ok("GET", f"{X}/tenants")] == [tenant]
    assert own.ok("GET", f"{X}/tenants/{tenant}")["shortcode"] == tenant
    new_client(own, tenant, "made-by-ops")
    r = own.request("GET", f"{X}/audit", params={"tenant": tenant, "actor": f"admin:{tenant}/ops"})
    assert [e["target"] for e in r.json()] == ["made-by-ops"]
    for method, path, body in (
        ("GET", f"{X}/tenants/{other}", None),
        ("GET", f"{X}/tenants/{other}/clients", None),
        ("POST", f"{X}/tenants", {"shortcode": unique("no")}),
        ("GET", f"{X}/audit", None),  # every tenant: master admin only
        ("GET", f"{X}/audit?tenant={other}", None),
        ("DELETE", f"{X}/tenants/{other}/throttle", None),
    ):
        r = own.request(method, path, body)
        assert (r.status_code, r.json()) == (403, {"error": "HTTP 403 Forbidden"}), (method, path)
    plain = new_client(api, tenant, "plain")
    assert AdminHttp(server, plain).request("GET", f"{X}/tenants/{tenant}").status_code == 403


def test_bad_requests_get_keycloak_shaped_answers(server: Server, api: AdminHttp) -> None:
    tenant = onboard(api).tenant
    r = httpx.get(f"{server.base_url}{X}/tenants")
    assert r.status_code == 401 and r.json() == {"error": "HTTP 401 Unauthorized"}
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.get(f"{server.base_url}{X}/tenants", headers=bearer("not.a.token"))
    assert r.status_code == 401
    cases = [
        ("POST", f"{X}/tenants", {"shortcode": tenant}, 409, "errorMessage"),
        ("POST", f"{X}/tenants", {"shortcode": "Bad!"}, 400, "errorMessage"),
        ("POST", f"{X}/tenants", {"shortcode": unique("u"), "colour": "red"}, 400, "errorMessage"),
        ("POST", f"{X}/tenants", {"name": "no shortcode"}, 400, "errorMessage"),
        (
            "POST",
            f"{X}/tenants/{tenant}/clients",
            {"clientId": f"{tenant}-admin"},
            409,
            "errorMessage",
        ),
        (
            "POST",
            f"{X}/tenants/{tenant}/clients",
            {"clientId": "x", "roles": "reader"},
            400,
            "errorMessage",
        ),
        ("PATCH", f"{X}/tenants/{tenant}", {"accessTokenLifespan": "soon"}, 400, "errorMessage"),
        ("GET", f"{X}/tenants/{unique('none')}", None, 404, "error"),
        ("GET", f"{X}/tenants/{tenant}/clients/nobody", None, 404, "error"),
        ("POST", f"{X}/tenants/{tenant}/clients/nobody/rotate-secret", {}, 404, "error"),
        ("GET", f"{X}/tenants/{tenant}/nothing-here", None, 404, "error"),
        ("PUT", f"{X}/tenants/{tenant}", {}, 405, "error"),
        (
            "DELETE",
            f"{X}/tenants/{tenant}/throttle?source=bad%20address",
            None,
            400,
            "errorMessage",
        ),
    ]
    for method, path, body, status, key in cases:
        r = api.request(method, path, body)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        assert set(r.json()) >= {key} and "Traceback" not in r.text, r.text
    headers = {**bearer(api.token), "Content-Type": "application/json"}
    r = httpx.post(f"{server.base_url}{X}/tenants", content=b"{nope", headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "unknown_error"
    big = b'{"shortcode": "' + b"a" * (2 << 20) + b'"}'
    r = httpx.post(f"{server.base_url}{X}/tenants", content=big, headers=headers, timeout=60)
    assert r.status_code == 413
