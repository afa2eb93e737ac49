"""Tenants are isolated: credentials, tokens and settings of one never act on another, and
forged tokens are refused with RFC 6750 challenges and JSend bodies.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.helpers import (
    access_token,
    assert_jsend_fail,
    assert_oauth_error,
    b64url_encode,
    bearer,
    get_settings,
    jwt_parts,
    patch_settings,
    settings_url,
    token_form,
    unique_shortcode,
)
from tests.servers import Credentials, Server

INVALID_TOKEN_PREFIX = 'Bearer realm="realmgate", error="invalid_token", error_description="'


@pytest.fixture(scope="module")
def tenant_a(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("a"))


@pytest.fixture(scope="module")
def tenant_b(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("b"))


@pytest.fixture(scope="module")
def token_a(server: Server, tenant_a: Credentials) -> str:
    return access_token(server, tenant_a)


@pytest.fixture(scope="module")
def token_b(server: Server, tenant_b: Credentials) -> str:
    return access_token(server, tenant_b)


def assert_invalid_token(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith(INVALID_TOKEN_PREFIX), challenge
    assert challenge.endswith('"')
    data = assert_jsend_fail(r, 401)
    assert set(data) == {"authorization"}


def reassemble(header: dict[str, Any], claims: dict[str, Any], signature: str) -> str:
    return f"{b64url_encode(header)}.{b64url_encode(claims)}.{signature}"


def test_credentials_of_a_at_the_realm_of_b_are_invalid_client(
    server: Server, tenant_a: Credentials, tenant_b: Credentials
) -> None:
    r = httpx.post(server.token_url(tenant_b.tenant), data=token_form(tenant_a))
    assert_oauth_error(r, 401, "invalid_client")
    basic = httpx.post(
        server.token_url(tenant_b.tenant),
        data={"grant_type": "client_credentials"},
        auth=(tenant_a.client_id, tenant_a.client_secret),
    )
    assert_oauth_error(basic, 401, "invalid_client")
    assert basic.headers["www-authenticate"] == f'Basic realm="{tenant_b.tenant}"'


def test_same_client_id_in_two_tenants_has_separate_secrets(
    server: Server, tenant_a: Credentials, tenant_b: Credentials
) -> None:
    client_id = f"shared-{uuid.uuid4().hex[:8]}"
    in_a = server.create_client(tenant_a.tenant, client_id)
    in_b = server.create_client(tenant_b.tenant, client_id)
    assert in_a.client_secret != in_b.client_secret
    crossed = Credentials(tenant_b.tenant, client_id, in_a.client_secret)
    r = httpx.post(server.token_url(tenant_b.tenant), data=token_form(crossed))
    assert_oauth_error(r, 401, "invalid_client")
    claims_b = jwt_parts(access_token(server, in_b))[1]
    claims_a = jwt_parts(access_token(server, in_a))[1]
    assert claims_a["tenant"] == tenant_a.tenant
    assert claims_b["tenant"] == tenant_b.tenant
    assert claims_a["sub"] != claims_b["sub"]


def test_a_token_reads_only_its_own_settings(
    server: Server, tenant_a: Credentials, tenant_b: Credentials, token_a: str, token_b: str
) -> None:
    ra = get_settings(server, token_a)
    rb = get_settings(server, token_b)
    assert ra.status_code == 200
    assert rb.status_code == 200
    assert ra.json()["data"]["shortcode"] == tenant_a.tenant
    assert rb.json()["data"]["shortcode"] == tenant_b.tenant


def test_patch_affects_only_the_token_tenant(
    server: Server, tenant_a: Credentials, tenant_b: Credentials, token_a: str, token_b: str
) -> None:
    before_b = get_settings(server, token_b).json()
    new_name = f"Tenant A {uuid.uuid4().hex[:6]}"
    r = patch_settings(server, token_a, {"name": new_name, "maxActiveWebhooksPerUser": 3})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == new_name
    assert r.json()["data"]["shortcode"] == tenant_a.tenant
    assert get_settings(server, token_a).json()["data"]["name"] == new_name
    assert get_settings(server, token_a).json()["data"]["maxActiveWebhooksPerUser"] == 3
    assert get_settings(server, token_b).json() == before_b


def test_tampered_payload_is_refused(server: Server, token_a: str, tenant_b: Credentials) -> None:
    header, claims, signature = jwt_parts(token_a)
    for change in (
        {"tenant": tenant_b.tenant},
        {"realm_access": {"roles": ["tenant-admin", "super-admin"]}},
        {"exp": claims["exp"] + 3600},
    ):
        forged = reassemble(header, {**claims, **change}, signature)
        assert_invalid_token(get_settings(server, forged))
        assert_invalid_token(patch_settings(server, forged, {"name": "forged"}))


def test_signature_by_a_foreign_key_with_the_same_kid_is_refused(
    server: Server, token_a: str
) -> None:
    header, claims, _ = jwt_parts(token_a)
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": header["kid"]})
    assert jwt_parts(forged)[0]["kid"] == header["kid"]
    assert_invalid_token(get_settings(server, forged))


def test_issuer_changed_to_another_tenant_is_refused(
    server: Server, token_a: str, token_b: str, tenant_b: Credentials
) -> None:
    header, claims, signature = jwt_parts(token_a)
    _, claims_b, _ = jwt_parts(token_b)
    forged = reassemble(header, {**claims, "iss": claims_b["iss"]}, signature)
    assert_invalid_token(get_settings(server, forged))

    # Re-signed by a foreign key under B's issuer and B's kid: still refused.
    header_b = jwt_parts(token_b)[0]
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    resigned = jwt.encode(
        {**claims, "iss": claims_b["iss"], "tenant": tenant_b.tenant},
        foreign,
        algorithm="RS256",
        headers={"kid": header_b["kid"]},
    )
    assert_invalid_token(get_settings(server, resigned))


def test_unsigned_and_hmac_tokens_are_refused(server: Server, token_a: str) -> None:
    header, claims, _ = jwt_parts(token_a)
    unsigned = reassemble({**header, "alg": "none"}, claims, "")
    assert_invalid_token(get_settings(server, unsigned))
    hmac = jwt.encode(
        claims,
        "a-guessed-shared-secret-of-32-bytes!",
        algorithm="HS256",
        headers={"kid": header["kid"], "typ": "JWT"},
    )
    assert jwt_parts(hmac)[0]["alg"] == "HS256"
    assert_invalid_token(get_settings(server, hmac))


def test_garbage_tokens_are_refused(server: Server) -> None:
    for token in ("x", "x.y.z", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2ln", "a" * 9000):
        assert_invalid_token(get_settings(server, token))


def test_missing_authorization_gets_a_challenge_without_error(server: Server) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        r = httpx.get(settings_url(server), headers=headers)
        assert r.status_code == 401
        assert (
            r.headers["www-authenticate"]
            == 'Bearer realm="realmgate", DPoP algs="ES256 EdDSA RS256 PS256"'
        )
        data = assert_jsend_fail(r, 401)
        assert set(data) == {"authorization"}
    r = httpx.patch(
        settings_url(server),
        json={"name": "x"},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 401
    assert (
        r.headers["www-authenticate"]
        == 'Bearer realm="realmgate", DPoP algs="ES256 EdDSA RS256 PS256"'
    )


def test_a_client_without_tenant_admin_reads_but_cannot_write(
    server: Server, tenant_a: Credentials
) -> None:
    reader = server.create_client(tenant_a.tenant, f"reader-{uuid.uuid4().hex[:6]}", "reader")
    token = access_token(server, reader)
    before = get_settings(server, token)
    assert before.status_code == 200
    assert before.json()["status"] == "success"
    assert before.json()["data"]["shortcode"] == tenant_a.tenant

    r = patch_settings(server, token, {"name": "not allowed"})
    assert r.status_code == 403
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="realmgate", error="insufficient_scope"'), challenge
    assert 'scope="tenant-admin"' in challenge
    data = assert_jsend_fail(r, 403)
    assert set(data) == {"authorization"}
    assert get_settings(server, token).json() == before.json()


def test_api_challenges_use_bearer_for_tokens_sent_with_other_headers(
    server: Server, token_a: str
) -> None:
    # The token in a query parameter is not accepted (RFC 6750 §2.3 is optional; we do not).
    r = httpx.get(settings_url(server), params={"access_token": token_a})
    assert r.status_code == 401
    assert (
        r.headers["www-authenticate"]
        == 'Bearer realm="realmgate", DPoP algs="ES256 EdDSA RS256 PS256"'
    )
    ok = httpx.get(settings_url(server), headers=bearer(token_a))
    assert ok.status_code == 200
