"""Token introspection (RFC 7662): ``POST /realms/{t}/protocol/openid-connect/token/introspect``.

The caller authenticates like at the token endpoint; the answer is the token's claims with
``"active": true``, or exactly ``{"active": false}`` for anything not in force.
"""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from tests.conformance.oauth_helpers import (
    INVALID_CLIENT,
    assert_active,
    assert_api_invalid_token,
    assert_inactive,
    introspect,
    introspect_url,
    issuer,
    revoke,
    tamper_signature,
    token_claims,
    wait_api_status,
    wait_for_next_second,
    wait_introspection,
)
from tests.integration.helpers import (
    access_token,
    assert_oauth_error,
    b64url_encode,
    get_settings,
    jwt_parts,
    poll,
    unique_shortcode,
)
from tests.servers import Credentials, Server


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("i"))


@pytest.fixture(scope="module")
def reader(server: Server, tenant: Credentials) -> Credentials:
    """A second client of the tenant, without roles."""
    return server.create_client(tenant.tenant, "reader")


@pytest.fixture(scope="module")
def other(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("io"))


def basic(creds: Credentials) -> dict[str, str]:
    raw = f"{creds.client_id}:{creds.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# active tokens ---------------------------------------------------------------------------
def test_active_token_answers_its_claims(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    claims = token_claims(token)
    r = introspect(server, tenant, token)
    body = assert_active(r)
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["content-type"] == "application/json"
    assert body == {
        **claims,
        "active": True,
        "token_type": "Bearer",
        "username": f"service-account-{tenant.client_id}",
    }
    assert body["client_id"] == tenant.client_id
    assert body["scope"] == "email profile"
    assert body["iss"] == issuer(server, tenant.tenant)
    assert body["sub"] == claims["sub"]
    assert isinstance(body["exp"], int)
    assert isinstance(body["iat"], int)
    assert body["exp"] - body["iat"] == 7200


def test_any_client_of_the_tenant_may_introspect(
    server: Server, tenant: Credentials, reader: Credentials
) -> None:
    token = access_token(server, tenant)
    body = assert_active(introspect(server, reader, token))
    assert body["client_id"] == tenant.client_id
    # and with HTTP Basic instead of client_secret_post
    r = httpx.post(
        introspect_url(server, tenant.tenant), data={"token": token}, headers=basic(reader)
    )
    assert assert_active(r)["jti"] == token_claims(token)["jti"]


def test_token_type_hint_is_accepted(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    r = httpx.post(
        introspect_url(server, tenant.tenant),
        data={
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "token": token,
            "token_type_hint": "access_token",
        },
    )
    assert_active(r)


# inactive tokens -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        "x" * 9000,
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
    ],
)
def test_garbage_is_inactive(server: Server, tenant: Credentials, garbage: str) -> None:
    assert_inactive(introspect(server, tenant, garbage))


def test_tampered_tokens_are_inactive(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    header, payload, signature = token.split(".")
    claims = token_claims(token)
    forged_payload = b64url_encode({**claims, "scope": "email profile admin"})
    assert forged_payload != payload
    assert_inactive(introspect(server, tenant, f"{header}.{forged_payload}.{signature}"))
    assert_inactive(introspect(server, tenant, tamper_signature(token)))
    # the untouched token is still active
    assert_active(introspect(server, tenant, token))


def test_alg_none_copy_of_a_real_token_is_inactive(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    _, payload, _ = token.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    assert_inactive(introspect(server, tenant, f"{none_header}.{payload}."))


def test_another_tenants_token_is_inactive(
    server: Server, tenant: Credentials, other: Credentials
) -> None:
    foreign = access_token(server, other)
    assert_inactive(introspect(server, tenant, foreign))
    # at its own realm it is active
    assert_active(introspect(server, other, foreign))


def test_a_caller_of_another_tenant_is_not_authenticated(
    server: Server, tenant: Credentials, other: Credentials
) -> None:
    token = access_token(server, tenant)
    r = introspect(server, other, token, tenant=tenant.tenant)
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json() == INVALID_CLIENT


def test_revoked_token_is_inactive(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    assert_active(introspect(server, tenant, token))
    assert revoke(server, tenant, token).status_code == 200
    assert_inactive(introspect(server, tenant, token))


def test_tokens_issued_before_tenant_revoke_tokens_are_inactive(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("inb"))
    old = access_token(server, creds)
    assert_active(introspect(server, creds, old))
    wait_for_next_second(token_claims(old)["iat"])
    server.cli("tenant", "revoke-tokens", creds.tenant)
    assert_inactive(wait_introspection(server, creds, old, active=False))
    assert_api_invalid_token(get_settings(server, old))
    new = access_token(server, creds)
    assert_active(introspect(server, creds, new))
    assert get_settings(server, new).status_code == 200


def test_tokens_issued_before_client_revoke_tokens_are_inactive(
    server: Server, tenant: Credentials
) -> None:
    client = server.create_client(tenant.tenant, f"nb-{uuid.uuid4().hex[:8]}")
    bystander = access_token(server, tenant)
    old = access_token(server, client)
    assert_active(introspect(server, tenant, old))
    wait_for_next_second(token_claims(old)["iat"])
    server.cli("client", "revoke-tokens", tenant.tenant, client.client_id)
    assert_inactive(wait_introspection(server, tenant, old, active=False))
    # other clients' tokens are untouched, new tokens of the client are active
    assert_active(introspect(server, tenant, bystander))
    assert_active(introspect(server, tenant, access_token(server, client)))


def test_a_disabled_clients_token_is_inactive(server: Server, tenant: Credentials) -> None:
    client = server.create_client(tenant.tenant, f"dis-{uuid.uuid4().hex[:8]}")
    token = access_token(server, client)
    assert_active(introspect(server, tenant, token))
    server.cli("client", "disable", tenant.tenant, client.client_id)
    assert_inactive(wait_introspection(server, tenant, token, active=False))
    assert_api_invalid_token(wait_api_status(server, token, 401))
    # enabled again, the same token is in force again (it was not revoked)
    server.cli("client", "enable", tenant.tenant, client.client_id)
    assert_active(wait_introspection(server, tenant, token, active=True))


def test_a_deleted_clients_token_is_inactive(server: Server, tenant: Credentials) -> None:
    client = server.create_client(tenant.tenant, f"del-{uuid.uuid4().hex[:8]}")
    token = access_token(server, client)
    assert_active(introspect(server, tenant, token))
    server.cli("client", "delete", tenant.tenant, client.client_id, "--yes")
    assert_inactive(wait_introspection(server, tenant, token, active=False))


# the caller ------------------------------------------------------------------------------
def test_caller_without_credentials(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    r = httpx.post(introspect_url(server, tenant.tenant), data={"token": token})
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json() == INVALID_CLIENT
    assert "www-authenticate" not in r.headers


def test_caller_with_a_wrong_secret(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    wrong = Credentials(tenant.tenant, tenant.client_id, tenant.client_secret + "x")
    r = introspect(server, wrong, token)
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json() == INVALID_CLIENT
    r = httpx.post(
        introspect_url(server, tenant.tenant), data={"token": token}, headers=basic(wrong)
    )
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"] == f'Basic realm="{tenant.tenant}"'


def test_caller_that_is_disabled(server: Server, tenant: Credentials) -> None:
    caller = server.create_client(tenant.tenant, f"off-{uuid.uuid4().hex[:8]}")
    token = access_token(server, tenant)
    assert_active(introspect(server, caller, token))
    server.cli("client", "disable", tenant.tenant, caller.client_id)
    r = poll(lambda: introspect(server, caller, token), lambda r: r.status_code == 401)
    assert_oauth_error(r, 401, "invalid_client")


def test_missing_token_parameter(server: Server, tenant: Credentials) -> None:
    r = httpx.post(
        introspect_url(server, tenant.tenant),
        data={"client_id": tenant.client_id, "client_secret": tenant.client_secret},
    )
    assert_oauth_error(r, 400, "invalid_request")
    # an empty value counts as missing
    r = introspect(server, tenant, "")
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods(server: Server, tenant: Credentials, method: str) -> None:
    r = httpx.request(method, introspect_url(server, tenant.tenant))
    assert_oauth_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST"


def test_json_body_is_refused(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    r = httpx.post(
        introspect_url(server, tenant.tenant),
        json={"client_id": tenant.client_id, "client_secret": tenant.client_secret, "token": token},
    )
    assert_oauth_error(r, 400, "invalid_request")


def test_unknown_realm(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    r = introspect(server, tenant, token, tenant="nosuchrealm")
    body = assert_oauth_error(r, 404, "realm_not_found")
    assert body["error_description"] == "Realm does not exist"


def test_introspection_does_not_change_the_token(server: Server, tenant: Credentials) -> None:
    token = access_token(server, tenant)
    for _ in range(3):
        assert_active(introspect(server, tenant, token))
    assert get_settings(server, token).status_code == 200
    assert jwt_parts(token)[1]["tenant"] == tenant.tenant
