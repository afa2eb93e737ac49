"""The JWT profile for OAuth 2.0 access tokens (RFC 9068), per client: ``--profile rfc9068``."""

from __future__ import annotations

import jwt
import pytest

from tests.conformance.oauth_helpers import (
    assert_active,
    assert_api_invalid_token,
    introspect,
    issuer,
    oidc_url,
    revoke,
    tamper_signature,
)
from tests.integration.helpers import (
    SEED_TOKEN_FIELDS,
    access_token,
    cli_json,
    get_settings,
    jwt_parts,
    patch_settings,
    poll,
    request_token,
    unique_shortcode,
)
from tests.servers import Credentials, Server

RFC9068_CLAIMS = {"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope", "roles", "tenant"}


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    """The onboarding client (role tenant-admin), switched to the RFC 9068 profile."""
    creds = server.create_tenant(unique_shortcode("at"))
    shown = cli_json(server, "client", "set", creds.tenant, creds.client_id, "--profile", "rfc9068")
    assert shown["tokenProfile"] == "rfc9068"
    poll(lambda: at_jwt(server, creds), lambda t: jwt_parts(t)[0]["typ"] == "at+jwt")
    return creds


@pytest.fixture(scope="module")
def plain(server: Server, tenant: Credentials) -> Credentials:
    """A second client of the tenant with the default profile."""
    return server.create_client(tenant.tenant, "plain", "reader")


def at_jwt(server: Server, creds: Credentials) -> str:
    return access_token(server, creds)


def test_header_and_claims(server: Server, tenant: Credentials) -> None:
    r = request_token(server, tenant)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == SEED_TOKEN_FIELDS
    assert body["token_type"] == "Bearer"
    header, claims, _ = jwt_parts(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert isinstance(header["kid"], str)
    assert set(claims) == RFC9068_CLAIMS
    assert "typ" not in claims
    assert "azp" not in claims
    assert claims["iss"] == issuer(server, tenant.tenant)
    assert claims["aud"] == server.base_url
    assert claims["client_id"] == tenant.client_id
    assert claims["roles"] == ["tenant-admin"]
    assert claims["scope"] == "email profile"
    assert claims["tenant"] == tenant.tenant
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 7200
    assert isinstance(claims["jti"], str)
    assert claims["jti"]


def test_sub_is_the_same_service_account_as_in_the_default_profile(
    server: Server, plain: Credentials
) -> None:
    before = jwt_parts(access_token(server, plain))
    assert before[0]["typ"] == "JWT"
    assert before[1]["typ"] == "Bearer"
    assert before[1]["realm_access"] == {"roles": ["reader"]}
    server.cli("client", "set", plain.tenant, plain.client_id, "--profile", "rfc9068")
    after = jwt_parts(
        poll(
            lambda: access_token(server, plain),
            lambda t: jwt_parts(t)[0]["typ"] == "at+jwt",
        )
    )
    assert after[0]["typ"] == "at+jwt"
    assert after[1]["sub"] == before[1]["sub"]
    assert after[1]["roles"] == ["reader"]
    assert "realm_access" not in after[1]
    # and back
    server.cli("client", "set", plain.tenant, plain.client_id, "--profile", "jwt")
    back = poll(lambda: access_token(server, plain), lambda t: jwt_parts(t)[0]["typ"] == "JWT")
    assert jwt_parts(back)[1]["typ"] == "Bearer"


def test_custom_claims_are_added(server: Server, tenant: Credentials) -> None:
    client = server.create_client(tenant.tenant, "custom")
    server.cli(
        "client", "set", tenant.tenant, "custom", "--profile", "rfc9068",
        "--claim", "department=sales",
    )  # fmt: skip
    token = poll(
        lambda: access_token(server, client),
        lambda t: jwt_parts(t)[1].get("department") == "sales",
    )
    header, claims, _ = jwt_parts(token)
    assert header["typ"] == "at+jwt"
    assert set(claims) == RFC9068_CLAIMS | {"department"}
    assert claims["roles"] == []


def test_the_tenant_api_accepts_it(server: Server, tenant: Credentials) -> None:
    token = at_jwt(server, tenant)
    r = get_settings(server, token)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["shortcode"] == tenant.tenant
    # the top-level "roles" claim carries tenant-admin: writing is allowed
    r = patch_settings(server, token, {"locale": "de-AT"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["locale"] == "de-AT"


def test_pyjwt_verifies_it(server: Server, tenant: Credentials) -> None:
    token = at_jwt(server, tenant)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    jwks = jwt.PyJWKClient(oidc_url(server, tenant.tenant, "certs"), cache_keys=False)
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=server.base_url,
        issuer=issuer(server, tenant.tenant),
        options={"require": sorted(RFC9068_CLAIMS - {"roles", "tenant"})},
    )
    assert claims["client_id"] == tenant.client_id
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=["RS256"], audience="https://other.example")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            tamper_signature(token),
            key.key,
            algorithms=["RS256"],
            audience=server.base_url,
        )


def test_introspection_and_revocation(server: Server, tenant: Credentials) -> None:
    token = at_jwt(server, tenant)
    body = assert_active(introspect(server, tenant, token))
    assert body["token_type"] == "Bearer"
    assert body["client_id"] == tenant.client_id
    assert body["roles"] == ["tenant-admin"]
    assert revoke(server, tenant, token).status_code == 200
    assert introspect(server, tenant, token).json() == {"active": False}
    assert_api_invalid_token(get_settings(server, token))


def test_unknown_profile_is_a_cli_error(server: Server, tenant: Credentials) -> None:
    r = server.cli("client", "set", tenant.tenant, "plain", "--profile", "at+jwt", check=False)
    assert r.returncode != 0
    assert "profile" in (r.stdout + r.stderr)
