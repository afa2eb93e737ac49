"""Authorization server metadata: RFC 8414 and OpenID Connect Discovery 1.0 (one document)."""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.oauth_helpers import issuer, oidc_url
from tests.integration.helpers import (
    access_token,
    assert_oauth_error,
    jwt_parts,
    poll,
    unique_shortcode,
)
from tests.servers import Credentials, Server

AUTH_METHODS = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("m"))


def oidc_discovery_url(server: Server, tenant: str) -> str:
    return f"{issuer(server, tenant)}/.well-known/openid-configuration"


def rfc8414_url(server: Server, tenant: str) -> str:
    return f"{server.base_url}/.well-known/oauth-authorization-server/realms/{tenant}"


def get_json(url: str, **kwargs: object) -> dict[str, object]:
    r = httpx.get(url, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return dict(r.json())


def test_both_documents_are_equal(server: Server, tenant: Credentials) -> None:
    oidc = get_json(oidc_discovery_url(server, tenant.tenant))
    rfc = get_json(rfc8414_url(server, tenant.tenant))
    assert oidc == rfc


def test_endpoints_are_exact(server: Server, tenant: Credentials) -> None:
    doc = get_json(rfc8414_url(server, tenant.tenant))
    base = f"{server.base_url}/realms/{tenant.tenant}"
    assert doc["issuer"] == base
    assert doc["token_endpoint"] == f"{base}/protocol/openid-connect/token"
    assert doc["token_endpoint"] == server.token_url(tenant.tenant)
    assert doc["jwks_uri"] == f"{base}/protocol/openid-connect/certs"
    assert doc["introspection_endpoint"] == f"{base}/protocol/openid-connect/token/introspect"
    assert doc["revocation_endpoint"] == f"{base}/protocol/openid-connect/revoke"


def test_capabilities(server: Server, tenant: Credentials) -> None:
    doc = get_json(oidc_discovery_url(server, tenant.tenant))
    assert doc["token_endpoint_auth_methods_supported"] == AUTH_METHODS
    assert doc["introspection_endpoint_auth_methods_supported"] == AUTH_METHODS
    assert doc["revocation_endpoint_auth_methods_supported"] == AUTH_METHODS
    assert doc["grant_types_supported"] == ["client_credentials"]
    algs = doc["token_endpoint_auth_signing_alg_values_supported"]
    assert isinstance(algs, list)
    assert {"RS256", "ES256", "HS256"} <= set(algs)
    assert "none" not in algs
    assert doc["scopes_supported"] == ["email", "openid", "profile"]


def test_issuer_matches_the_tokens_iss(server: Server, tenant: Credentials) -> None:
    doc = get_json(rfc8414_url(server, tenant.tenant))
    assert jwt_parts(access_token(server, tenant))[1]["iss"] == doc["issuer"]


def test_issuer_never_comes_from_the_host_header(server: Server, tenant: Credentials) -> None:
    doc = get_json(
        rfc8414_url(server, tenant.tenant),
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert doc["issuer"] == issuer(server, tenant.tenant)
    assert "evil.example" not in str(doc)


def test_scopes_supported_reflects_the_realms_client_scopes(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("ms"))
    url = oidc_discovery_url(server, creds.tenant)
    assert get_json(url)["scopes_supported"] == ["email", "openid", "profile"]
    server.cli("tenant", "set", creds.tenant, "--scope", "reports=optional")
    doc = poll(lambda: get_json(url), lambda d: "reports" in d["scopes_supported"])  # type: ignore[operator]
    assert doc["scopes_supported"] == ["email", "openid", "profile", "reports"]
    assert get_json(rfc8414_url(server, creds.tenant)) == doc
    server.cli("tenant", "set", creds.tenant, "--remove-scope", "openid")
    doc = poll(lambda: get_json(url), lambda d: "openid" not in d["scopes_supported"])  # type: ignore[operator]
    assert doc["scopes_supported"] == ["email", "profile", "reports"]


def test_every_advertised_endpoint_answers(server: Server, tenant: Credentials) -> None:
    doc = get_json(oidc_discovery_url(server, tenant.tenant))
    # POST endpoints exist and want client authentication: 401, not 404
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        r = httpx.post(str(doc[name]), data={"grant_type": "client_credentials", "token": "x"})
        assert_oauth_error(r, 401, "invalid_client")
    # and authenticated, they work
    token = access_token(server, tenant)
    auth = {"client_id": tenant.client_id, "client_secret": tenant.client_secret}
    r = httpx.post(str(doc["introspection_endpoint"]), data={**auth, "token": token})
    assert r.status_code == 200
    assert r.json()["active"] is True
    r = httpx.post(str(doc["revocation_endpoint"]), data={**auth, "token": token})
    assert r.status_code == 200
    assert r.content == b""
    # the JWKS publishes the key that signs the realm's tokens
    jwks = get_json(str(doc["jwks_uri"]))
    kids = [k["kid"] for k in jwks["keys"]]  # type: ignore[attr-defined]
    assert jwt_parts(access_token(server, tenant))[0]["kid"] in kids
    assert oidc_url(server, tenant.tenant, "certs") == doc["jwks_uri"]


def test_every_tenant_has_its_own_document(server: Server, tenant: Credentials) -> None:
    other = server.create_tenant(unique_shortcode("mo"))
    a = get_json(oidc_discovery_url(server, tenant.tenant))
    b = get_json(oidc_discovery_url(server, other.tenant))
    assert a["issuer"] != b["issuer"]
    assert b["issuer"] == issuer(server, other.tenant)
    ka = {k["kid"] for k in get_json(str(a["jwks_uri"]))["keys"]}  # type: ignore[attr-defined]
    kb = {k["kid"] for k in get_json(str(b["jwks_uri"]))["keys"]}  # type: ignore[attr-defined]
    assert ka.isdisjoint(kb)


@pytest.mark.parametrize("kind", ["oidc", "rfc8414"])
def test_unknown_realm(server: Server, kind: str) -> None:
    url = (oidc_discovery_url if kind == "oidc" else rfc8414_url)(server, "nosuchrealm")
    r = httpx.get(url)
    body = assert_oauth_error(r, 404, "realm_not_found")
    assert body["error_description"] == "Realm does not exist"


def test_post_to_a_document_is_not_allowed(server: Server, tenant: Credentials) -> None:
    r = httpx.post(oidc_discovery_url(server, tenant.tenant))
    assert_oauth_error(r, 405, "invalid_request")
