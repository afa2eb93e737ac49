"""Widely used third-party OAuth clients obtain tokens from realmgate, and realmgate's verifier
(what resource servers run) and tenant API accept them: Authlib's httpx client (sync and
async) and Authlib's requests session, each with ``client_secret_post`` and
``client_secret_basic``; and requests-oauthlib (oauthlib). (Third-party *verification* with
PyJWT is covered in tests/integration/test_third_party_verify.py.)
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import authlib.deprecate
import pytest
from authlib.integrations.requests_client import OAuth2Session

from realmgate.verifier import AccessTokenClaims, AsyncVerifier, InvalidTokenError, Verifier
from tests.sdk_integration.support import tamper, token_requests
from tests.servers import Credentials, Server

with warnings.catch_warnings():
    # Authlib would rather import httpx under the name "httpx2" and says so once, with a
    # filter of its own ("always", installed by authlib.deprecate): ours must come after it.
    warnings.filterwarnings(
        "ignore", "The httpx module is deprecated", authlib.deprecate.AuthlibDeprecationWarning
    )
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client

AUTH_METHODS = ["client_secret_post", "client_secret_basic"]
SETTINGS_PATH = "/v2/tenants/current/settings"


def check_response(token: dict[str, Any]) -> str:
    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] == 7200
    assert isinstance(token["access_token"], str)
    return str(token["access_token"])


def check_claims(claims: AccessTokenClaims, server: Server, creds: Credentials) -> None:
    assert claims.issuer == f"{server.base_url}/realms/{creds.tenant}"
    assert claims.audience == (server.base_url,)
    assert claims.client_id == creds.client_id
    assert claims.tenant == creds.tenant
    assert "tenant-admin" in claims.roles


@pytest.mark.parametrize("method", AUTH_METHODS)
def test_authlib_httpx_client(server: Server, tenant: Credentials, method: str) -> None:
    before = token_requests(server)
    with OAuth2Client(
        tenant.client_id, tenant.client_secret, token_endpoint_auth_method=method
    ) as client:
        token = client.fetch_token(server.token_url(tenant.tenant), grant_type="client_credentials")
        value = check_response(token)
        # Authlib's session then calls the tenant API with the token it manages.
        response = client.get(f"{server.base_url}{SETTINGS_PATH}")
    assert response.status_code == 200
    assert response.json()["data"]["shortcode"] == tenant.tenant
    assert token_requests(server) - before == 1
    with Verifier.from_realm(server.base_url, tenant.tenant, audience=server.base_url) as v:
        check_claims(v.verify(value), server, tenant)
        with pytest.raises(InvalidTokenError):
            v.verify(tamper(value))


@pytest.mark.parametrize("method", AUTH_METHODS)
def test_authlib_requests_session(server: Server, tenant: Credentials, method: str) -> None:
    with OAuth2Session(
        tenant.client_id, tenant.client_secret, token_endpoint_auth_method=method
    ) as session:
        token = session.fetch_token(
            server.token_url(tenant.tenant), grant_type="client_credentials"
        )
        value = check_response(token)
        response = session.get(f"{server.base_url}{SETTINGS_PATH}", timeout=30)
    assert response.status_code == 200
    assert response.json()["data"]["shortcode"] == tenant.tenant
    with Verifier.from_realm(server.base_url, tenant.tenant, audience=server.base_url) as v:
        check_claims(v.verify(value), server, tenant)


@pytest.mark.parametrize("method", AUTH_METHODS)
def test_authlib_async_client_and_async_verifier(
    server: Server, tenant: Credentials, method: str
) -> None:
    async def scenario() -> AccessTokenClaims:
        async with AsyncOAuth2Client(
            tenant.client_id, tenant.client_secret, token_endpoint_auth_method=method
        ) as client:
            token = await client.fetch_token(
                server.token_url(tenant.tenant), grant_type="client_credentials"
            )
        async with AsyncVerifier.from_realm(
            server.base_url, tenant.tenant, audience=server.base_url
        ) as verifier:
            return await verifier.verify(check_response(token))

    check_claims(asyncio.run(scenario()), server, tenant)


def test_authlib_token_for_another_audience_is_refused(server: Server, tenant: Credentials) -> None:
    with OAuth2Client(tenant.client_id, tenant.client_secret) as client:
        value = check_response(
            client.fetch_token(server.token_url(tenant.tenant), grant_type="client_credentials")
        )
    with (
        Verifier.from_realm(server.base_url, tenant.tenant, audience="https://other.example") as v,
        pytest.raises(InvalidTokenError),
    ):
        v.verify(value)


def test_requests_oauthlib_backend_application_client(
    server: Server, tenant: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests-oauthlib (oauthlib's BackendApplicationClient), the classic client credentials
    recipe: the token it fetches is accepted by realmgate's verifier and by the tenant API."""
    from oauthlib.oauth2 import BackendApplicationClient

    # oauthlib insists on https; the test server is plain HTTP on loopback
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    from requests_oauthlib import OAuth2Session as OAuthlibSession

    before = token_requests(server)
    session = OAuthlibSession(client=BackendApplicationClient(client_id=tenant.client_id))
    token = session.fetch_token(
        token_url=server.token_url(tenant.tenant),
        client_id=tenant.client_id,
        client_secret=tenant.client_secret,
    )
    value = check_response(token)
    assert token_requests(server) == before + 1
    with Verifier.from_realm(server.base_url, tenant.tenant, audience=server.base_url) as verifier:
        check_claims(verifier.verify(value), server, tenant)
    response = session.get(f"{server.base_url}{SETTINGS_PATH}")
    assert response.status_code == 200
    assert response.json()["data"]["shortcode"] == tenant.tenant
