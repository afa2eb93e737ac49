"""A third-party resource server (PyJWT's ``PyJWKClient``) verifies realmgate tokens found
through discovery, for every signing algorithm; the token's claims follow docs/api.md.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.helpers import access_token, jwt_parts, unique_shortcode
from tests.servers import Credentials, Server

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def tenants(server: Server) -> dict[str, Credentials]:
    return {
        alg: server.create_tenant(unique_shortcode(alg.lower()), "--algorithm", alg)
        for alg in ALGORITHMS
    }


def discover(server: Server, tenant: str) -> dict[str, Any]:
    r = httpx.get(f"{server.base_url}/realms/{tenant}/.well-known/openid-configuration")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    return dict(r.json())


def verify_with_pyjwt(server: Server, tenant: str, token: str, alg: str) -> dict[str, Any]:
    config = discover(server, tenant)
    jwks_client = jwt.PyJWKClient(config["jwks_uri"], cache_keys=False)
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    return dict(
        jwt.decode(
            token,
            signing_key.key,
            algorithms=[alg],
            audience=server.base_url,
            issuer=config["issuer"],
            options={
                "verify_signature": True,
                "verify_aud": True,
                "verify_iss": True,
                "verify_exp": True,
                "require": ["exp", "iat", "iss", "aud", "sub", "jti"],
            },
        )
    )


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_verifies_through_discovery(
    server: Server, tenants: dict[str, Credentials], alg: str
) -> None:
    creds = tenants[alg]
    token = access_token(server, creds)
    header, _, _ = jwt_parts(token)
    assert header["alg"] == alg
    claims = verify_with_pyjwt(server, creds.tenant, token, alg)
    assert claims["tenant"] == creds.tenant


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_rejects_a_wrong_audience_and_issuer(
    server: Server, tenants: dict[str, Credentials], alg: str
) -> None:
    creds = tenants[alg]
    token = access_token(server, creds)
    config = discover(server, creds.tenant)
    key = jwt.PyJWKClient(config["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(token)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=[alg], audience="https://elsewhere.example")
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=server.base_url,
            issuer=f"{server.base_url}/realms/other",
        )


def test_pyjwt_rejects_a_token_of_another_realm(
    server: Server, tenants: dict[str, Credentials]
) -> None:
    a, b = tenants["RS256"], tenants["ES256"]
    token_a = access_token(server, a)
    jwks_b = jwt.PyJWKClient(discover(server, b.tenant)["jwks_uri"], cache_keys=False)
    with pytest.raises(jwt.PyJWKClientError):
        jwks_b.get_signing_key_from_jwt(token_a)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_rfc8414_metadata_equals_openid_configuration(
    server: Server, tenants: dict[str, Credentials], alg: str
) -> None:
    tenant = tenants[alg].tenant
    oidc = discover(server, tenant)
    r = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server/realms/{tenant}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == oidc
    issuer = f"{server.base_url}/realms/{tenant}"
    assert oidc["issuer"] == issuer
    assert oidc["token_endpoint"] == f"{issuer}/protocol/openid-connect/token"
    assert oidc["jwks_uri"] == f"{issuer}/protocol/openid-connect/certs"
    assert oidc["grant_types_supported"] == ["client_credentials"]
    assert set(oidc["token_endpoint_auth_methods_supported"]) >= {
        "client_secret_basic",
        "client_secret_post",
    }


def test_discovery_of_an_unknown_realm_is_404(server: Server) -> None:
    missing = unique_shortcode("missing")
    for url in (
        f"{server.base_url}/realms/{missing}/.well-known/openid-configuration",
        f"{server.base_url}/.well-known/oauth-authorization-server/realms/{missing}",
        f"{server.base_url}/realms/{missing}/protocol/openid-connect/certs",
    ):
        r = httpx.get(url)
        assert r.status_code == 404, url
        assert r.json()["error"] == "realm_not_found"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_token_claims_follow_product_md(
    server: Server, tenants: dict[str, Credentials], alg: str
) -> None:
    creds = tenants[alg]
    first = access_token(server, creds)
    second = access_token(server, creds)
    header, claims, _ = jwt_parts(first)
    _, claims2, _ = jwt_parts(second)

    assert header["typ"] == "JWT"
    assert header["alg"] == alg
    jwks = httpx.get(discover(server, creds.tenant)["jwks_uri"]).json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}

    assert claims["iss"] == f"{server.base_url}/realms/{creds.tenant}"
    assert claims["aud"] == server.base_url
    assert UUID_RE.fullmatch(claims["sub"])
    assert uuid.UUID(claims["sub"])
    assert claims2["sub"] == claims["sub"]
    assert claims["exp"] - claims["iat"] == 7200
    assert isinstance(claims["jti"], str)
    assert claims["jti"]
    assert claims2["jti"] != claims["jti"]
    assert claims["typ"] == "Bearer"
    assert claims["azp"] == creds.client_id
    assert claims["client_id"] == creds.client_id
    assert claims["preferred_username"] == f"service-account-{creds.client_id}"
    assert claims["scope"] == "email profile"
    assert "tenant-admin" in claims["realm_access"]["roles"]
    assert claims["tenant"] == creds.tenant


def test_sub_differs_between_clients_and_roles_follow_the_client(
    server: Server, tenants: dict[str, Credentials]
) -> None:
    admin = tenants["RS256"]
    reader = server.create_client(admin.tenant, f"reader-{uuid.uuid4().hex[:6]}", "reader")
    admin_claims = jwt_parts(access_token(server, admin))[1]
    reader_claims = jwt_parts(access_token(server, reader))[1]
    assert reader_claims["sub"] != admin_claims["sub"]
    assert reader_claims["realm_access"]["roles"] == ["reader"]
    assert reader_claims["preferred_username"] == f"service-account-{reader.client_id}"
    assert verify_with_pyjwt(server, admin.tenant, access_token(server, reader), "RS256")[
        "client_id"
    ] == (reader.client_id)


def test_scope_openid_is_carried_in_the_token(
    server: Server, tenants: dict[str, Credentials]
) -> None:
    creds = tenants["ES256"]
    claims = verify_with_pyjwt(
        server, creds.tenant, access_token(server, creds, scope="openid"), "ES256"
    )
    assert claims["scope"] == "openid email profile"
