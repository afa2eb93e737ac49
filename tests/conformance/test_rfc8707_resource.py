"""Resource indicators (RFC 8707): ``resource`` narrows the token's ``aud`` to allowed audiences."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import httpx
import pytest

from tests.conformance.oauth_helpers import introspect, token_claims
from tests.integration.helpers import (
    assert_oauth_error,
    cli_json,
    get_settings,
    poll,
    token_form,
    unique_shortcode,
)
from tests.servers import Credentials, Server

A = "https://a.example"
B = "https://b.example"


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("ri"))


@pytest.fixture(scope="module")
def multi(server: Server, tenant: Credentials) -> Credentials:
    """A client allowed the audiences A and B (and no longer the default one)."""
    creds = server.create_client(tenant.tenant, "multi")
    shown = cli_json(
        server, "client", "set", tenant.tenant, "multi", "--audience", A, "--audience", B
    )
    assert shown["audiences"] == [A, B]
    poll(lambda: token(server, creds), lambda r: r.status_code == 200 and aud(r) == [A, B])
    return creds


def token(server: Server, creds: Credentials, *resources: str) -> httpx.Response:
    """A token request with ``resource`` given once per value (repeated parameters)."""
    pairs = [*token_form(creds).items(), *(("resource", r) for r in resources)]
    return httpx.post(
        server.token_url(creds.tenant),
        content=urlencode(pairs).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def aud(r: httpx.Response) -> object:
    assert r.status_code == 200, r.text
    return token_claims(r.json()["access_token"])["aud"]


def test_no_resource_gives_the_default_audience(server: Server, tenant: Credentials) -> None:
    assert aud(token(server, tenant)) == server.base_url


def test_resource_equal_to_the_default_audience(server: Server, tenant: Credentials) -> None:
    r = token(server, tenant, server.base_url)
    assert aud(r) == server.base_url
    assert r.headers["cache-control"] == "no-store"
    assert get_settings(server, r.json()["access_token"]).status_code == 200


def test_the_same_resource_twice_counts_once(server: Server, tenant: Credentials) -> None:
    assert aud(token(server, tenant, server.base_url, server.base_url)) == server.base_url


def test_several_allowed_audiences_without_resource(server: Server, multi: Credentials) -> None:
    assert aud(token(server, multi)) == [A, B]


def test_resource_narrows_the_audience(server: Server, multi: Credentials) -> None:
    assert aud(token(server, multi, A)) == A
    assert aud(token(server, multi, B)) == B


def test_two_resources(server: Server, multi: Credentials) -> None:
    assert aud(token(server, multi, A, B)) == [A, B]
    assert aud(token(server, multi, B, A)) == [B, A]


def test_a_token_for_another_audience_is_refused_by_the_tenant_api(
    server: Server, multi: Credentials
) -> None:
    r = token(server, multi, A)
    api = get_settings(server, r.json()["access_token"])
    assert api.status_code == 401
    assert 'error="invalid_token"' in api.headers["www-authenticate"]
    # introspection does not judge the audience: the token is in force, for A
    body = introspect(server, multi, r.json()["access_token"]).json()
    assert body["active"] is True
    assert body["aud"] == A


@pytest.mark.parametrize(
    "resources",
    [
        ("https://c.example",),
        (A, "https://c.example"),
        ("https://a.example/",),
        ("https://A.example",),
        ("http://a.example",),
    ],
)
def test_resource_not_allowed(server: Server, multi: Credentials, resources: tuple[str]) -> None:
    assert_oauth_error(token(server, multi, *resources), 400, "invalid_target")


def test_default_audience_no_longer_allowed_once_audiences_are_set(
    server: Server, multi: Credentials
) -> None:
    assert_oauth_error(token(server, multi, server.base_url), 400, "invalid_target")


@pytest.mark.parametrize(
    "resource",
    ["a.example", "/v2/tenants", "https://a.example#frag", f"{A}#", "%%%", "https://a.example/#x"],
)
def test_resource_not_an_absolute_uri_without_fragment(
    server: Server, tenant: Credentials, resource: str
) -> None:
    assert_oauth_error(token(server, tenant, resource), 400, "invalid_target")


def test_resource_with_a_fragment_even_when_allowed_without(
    server: Server, multi: Credentials
) -> None:
    assert_oauth_error(token(server, multi, f"{A}#part"), 400, "invalid_target")


def test_one_allowed_audience_is_a_string(server: Server, tenant: Credentials) -> None:
    client = server.create_client(tenant.tenant, f"aud-{uuid.uuid4().hex[:8]}")
    server.cli("client", "set", tenant.tenant, client.client_id, "--audience", A)
    r = poll(lambda: token(server, client), lambda r: r.status_code == 200 and aud(r) == A)
    assert aud(r) == A
    assert aud(token(server, client, A)) == A
