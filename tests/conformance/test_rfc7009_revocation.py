"""Token revocation (RFC 7009): ``POST /realms/{t}/protocol/openid-connect/revoke``.

200 with an empty body for the caller's own tokens and for unknown or invalid tokens; a
revoked token is inactive at introspection and refused by the tenant API at once.
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
    revoke,
    revoke_url,
    tamper_signature,
)
from tests.integration.helpers import (
    access_token,
    assert_oauth_error,
    get_settings,
    unique_shortcode,
)
from tests.servers import Credentials, Server


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    """The onboarding client: role tenant-admin."""
    return server.create_tenant(unique_shortcode("r"))


@pytest.fixture(scope="module")
def plain(server: Server, tenant: Credentials) -> Credentials:
    """A client without roles."""
    return server.create_client(tenant.tenant, "plain")


@pytest.fixture(scope="module")
def plain2(server: Server, tenant: Credentials) -> Credentials:
    return server.create_client(tenant.tenant, "plain2")


def assert_revoked_ok(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.content == b""
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"


def test_revoke_own_token(server: Server, plain: Credentials) -> None:
    token = access_token(server, plain)
    assert get_settings(server, token).status_code == 200
    assert_active(introspect(server, plain, token))

    assert_revoked_ok(revoke(server, plain, token))

    assert_inactive(introspect(server, plain, token))
    assert_api_invalid_token(get_settings(server, token))
    # another token of the same client is not affected
    other = access_token(server, plain)
    assert_active(introspect(server, plain, other))
    assert get_settings(server, other).status_code == 200


def test_revoke_with_basic_and_token_type_hint(server: Server, plain: Credentials) -> None:
    token = access_token(server, plain)
    raw = f"{plain.client_id}:{plain.client_secret}".encode()
    r = httpx.post(
        revoke_url(server, plain.tenant),
        data={"token": token, "token_type_hint": "access_token"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert_revoked_ok(r)
    assert_inactive(introspect(server, plain, token))


def test_an_unknown_hint_is_ignored(server: Server, plain: Credentials) -> None:
    token = access_token(server, plain)
    assert_revoked_ok(revoke(server, plain, token, token_type_hint="refresh_token"))
    assert_inactive(introspect(server, plain, token))


def test_revoking_twice(server: Server, plain: Credentials) -> None:
    token = access_token(server, plain)
    assert_revoked_ok(revoke(server, plain, token))
    assert_revoked_ok(revoke(server, plain, token))
    assert_inactive(introspect(server, plain, token))


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 9000])
def test_unknown_or_invalid_token_answers_200(
    server: Server, plain: Credentials, garbage: str
) -> None:
    assert_revoked_ok(revoke(server, plain, garbage))


def test_a_tampered_copy_does_not_revoke_the_original(server: Server, plain: Credentials) -> None:
    token = access_token(server, plain)
    assert_revoked_ok(revoke(server, plain, tamper_signature(token)))
    assert_active(introspect(server, plain, token))
    assert get_settings(server, token).status_code == 200


def test_another_tenants_token_is_not_revoked(server: Server, plain: Credentials) -> None:
    other = server.create_tenant(unique_shortcode("ro"))
    foreign = access_token(server, other)
    # invalid for this realm: 200, and nothing happens to it in its own realm
    assert_revoked_ok(revoke(server, plain, foreign))
    assert_active(introspect(server, other, foreign))
    assert get_settings(server, foreign).status_code == 200


def test_revoking_another_clients_token_needs_tenant_admin(
    server: Server, tenant: Credentials, plain: Credentials, plain2: Credentials
) -> None:
    token = access_token(server, plain2)
    r = revoke(server, plain, token)
    body = assert_oauth_error(r, 400, "unauthorized_client")
    assert body["error_description"] == "The token was not issued to this client."
    assert_active(introspect(server, plain2, token))
    assert get_settings(server, token).status_code == 200

    # the onboarding client has the role tenant-admin: it may revoke any token of the tenant
    assert_revoked_ok(revoke(server, tenant, token))
    assert_inactive(introspect(server, plain2, token))
    assert_api_invalid_token(get_settings(server, token))


def test_a_client_with_the_tenant_admin_role_may_revoke(
    server: Server, tenant: Credentials, plain2: Credentials
) -> None:
    admin = server.create_client(tenant.tenant, f"adm-{uuid.uuid4().hex[:8]}", "tenant-admin")
    token = access_token(server, plain2)
    assert_revoked_ok(revoke(server, admin, token))
    assert_inactive(introspect(server, plain2, token))


def test_unauthenticated(server: Server, plain: Credentials) -> None:
    token = access_token(server, plain)
    r = httpx.post(revoke_url(server, plain.tenant), data={"token": token})
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json() == INVALID_CLIENT
    # only the client id, no secret
    r = httpx.post(
        revoke_url(server, plain.tenant), data={"token": token, "client_id": plain.client_id}
    )
    assert_oauth_error(r, 401, "invalid_client")
    assert_active(introspect(server, plain, token))


def test_wrong_secret(server: Server, plain: Credentials) -> None:
    token = access_token(server, plain)
    wrong = Credentials(plain.tenant, plain.client_id, plain.client_secret + "x")
    r = revoke(server, wrong, token)
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json() == INVALID_CLIENT
    assert_active(introspect(server, plain, token))


def test_missing_token_parameter(server: Server, plain: Credentials) -> None:
    r = httpx.post(
        revoke_url(server, plain.tenant),
        data={"client_id": plain.client_id, "client_secret": plain.client_secret},
    )
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods(server: Server, plain: Credentials, method: str) -> None:
    r = httpx.request(method, revoke_url(server, plain.tenant))
    assert_oauth_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST"
