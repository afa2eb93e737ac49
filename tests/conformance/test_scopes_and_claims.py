"""What a client gets: scopes (RFC 6749 §3.3, Keycloak-style client scopes), custom claims,
roles, lifespans, and the not-before policy, as configured through the CLI."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conformance.oauth_helpers import (
    assert_api_invalid_token,
    token_claims,
    wait_for_next_second,
)
from tests.integration.helpers import (
    access_token,
    assert_oauth_error,
    cli_json,
    get_settings,
    jwt_parts,
    poll,
    request_token,
    unique_shortcode,
)
from tests.servers import Credentials, Server


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    """A tenant with the optional scope "reports"."""
    creds = server.create_tenant(unique_shortcode("sc"))
    shown = cli_json(server, "tenant", "set", creds.tenant, "--scope", "reports=optional")
    assert shown["clientScopes"] == {
        "email": "default",
        "profile": "default",
        "openid": "optional",
        "reports": "optional",
    }
    poll(lambda: request_token(server, creds, scope="reports"), lambda r: r.status_code == 200)
    return creds


def new_client(server: Server, tenant: Credentials, *roles: str) -> Credentials:
    return server.create_client(tenant.tenant, f"c-{uuid.uuid4().hex[:8]}", *roles)


def client_set(server: Server, creds: Credentials, *args: str) -> dict[str, Any]:
    return dict(cli_json(server, "client", "set", creds.tenant, creds.client_id, *args))


def wait_token(server: Server, creds: Credentials, done: Any, **extra: str) -> httpx.Response:
    """Token responses until ``done(body, claims)``: a CLI change has reached the server."""

    def ok(r: httpx.Response) -> bool:
        if r.status_code != 200:
            return False
        body = r.json()
        return bool(done(body, token_claims(body["access_token"])))

    r = poll(lambda: request_token(server, creds, **extra), ok)
    assert r.status_code == 200, r.text
    return r


def granted(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    scope = r.json()["scope"]
    assert token_claims(r.json()["access_token"])["scope"] == scope
    return str(scope)


# scopes --------------------------------------------------------------------------------------
def test_default_scope(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("sd"))
    assert granted(request_token(server, creds)) == "email profile"
    assert granted(request_token(server, creds, scope="email")) == "email profile"
    assert_oauth_error(request_token(server, creds, scope="reports"), 400, "invalid_scope")


def test_optional_scope_granted_on_request(server: Server, tenant: Credentials) -> None:
    assert granted(request_token(server, tenant)) == "email profile"
    assert granted(request_token(server, tenant, scope="reports")) == "reports email profile"
    assert granted(request_token(server, tenant, scope="openid reports")) == (
        "openid reports email profile"
    )


@pytest.mark.parametrize("scope", ["unknown", "reports unknown", "Reports", "reports,email"])
def test_unknown_scope(server: Server, tenant: Credentials, scope: str) -> None:
    assert_oauth_error(request_token(server, tenant, scope=scope), 400, "invalid_scope")


def test_a_new_default_scope_is_always_granted(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("sn"))
    server.cli("tenant", "set", creds.tenant, "--scope", "audit=default")
    r = wait_token(server, creds, lambda b, c: "audit" in b["scope"].split())
    assert granted(r) == "email profile audit"


def test_client_default_scopes_narrow(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant)
    shown = client_set(server, client, "--default-scope", "email")
    assert shown["defaultScopes"] == ["email"]
    r = wait_token(server, client, lambda b, c: b["scope"] == "email")
    assert granted(r) == "email"
    # the tenant's optional scopes stay available, the dropped default one does not
    assert granted(request_token(server, client, scope="reports")) == "reports email"
    assert_oauth_error(request_token(server, client, scope="profile"), 400, "invalid_scope")


def test_client_optional_scopes_narrow(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant)
    shown = client_set(server, client, "--optional-scope", "openid")
    assert shown["optionalScopes"] == ["openid"]
    r = poll(lambda: request_token(server, client, scope="reports"), lambda r: r.status_code == 400)
    assert_oauth_error(r, 400, "invalid_scope")
    assert granted(request_token(server, client, scope="openid")) == "openid email profile"


def test_client_scopes_must_exist_in_the_realm(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant)
    r = server.cli(
        "client", "set", tenant.tenant, client.client_id, "--default-scope", "nosuch", check=False
    )
    assert r.returncode != 0
    assert "nosuch" in r.stderr
    assert (
        cli_json(server, "client", "show", tenant.tenant, client.client_id)["defaultScopes"] is None
    )


# custom claims -------------------------------------------------------------------------------
def test_custom_claims_keep_their_json_types(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant)
    shown = client_set(
        server, client,
        "--claim", "department=sales", "--claim", "level=3", "--claim", "ratio=0.5",
        "--claim", "vip=true", "--claim", "regions=[\"eu\",\"us\"]", "--claim", "meta={\"a\":1}",
    )  # fmt: skip
    expected = {
        "department": "sales",
        "level": 3,
        "ratio": 0.5,
        "vip": True,
        "regions": ["eu", "us"],
        "meta": {"a": 1},
    }
    assert shown["claims"] == expected
    r = wait_token(server, client, lambda b, c: "department" in c)
    claims = token_claims(r.json()["access_token"])
    for name, value in expected.items():
        assert claims[name] == value
        assert type(claims[name]) is type(value)
    # the standard claims are untouched
    assert claims["client_id"] == client.client_id
    assert claims["tenant"] == tenant.tenant


def test_reserved_claims_cannot_be_set(server: Server, tenant: Credentials) -> None:
    r = server.cli(
        "client", "set", tenant.tenant, tenant.client_id, "--claim", "iss=x", check=False
    )
    assert r.returncode != 0
    assert "reserved claims cannot be set: iss" in r.stderr
    names = ["sub", "aud", "exp", "realm_access", "tenant", "azp", "roles"]
    args = [a for n in names for a in ("--claim", f"{n}=x")]
    r = server.cli(
        "client", "set", tenant.tenant, tenant.client_id, "--claim", "ok=1", *args, check=False
    )
    assert r.returncode != 0
    assert f"reserved claims cannot be set: {', '.join(sorted(names))}" in r.stderr
    assert cli_json(server, "client", "show", tenant.tenant, tenant.client_id)["claims"] == {}


# roles ---------------------------------------------------------------------------------------
def test_roles_appear_in_realm_access(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant, "viewer")
    assert jwt_parts(access_token(server, client))[1]["realm_access"] == {"roles": ["viewer"]}
    shown = client_set(server, client, "--role", "editor", "--role", "auditor")
    assert shown["roles"] == ["editor", "auditor"]
    r = wait_token(server, client, lambda b, c: c["realm_access"]["roles"] != ["viewer"])
    assert token_claims(r.json()["access_token"])["realm_access"] == {
        "roles": ["editor", "auditor"]
    }


# lifespans -----------------------------------------------------------------------------------
def lifespan_of(r: httpx.Response) -> int:
    assert r.status_code == 200, r.text
    body = r.json()
    claims = token_claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    return int(body["expires_in"])


def test_client_lifespan(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant)
    assert lifespan_of(request_token(server, client)) == 7200
    assert client_set(server, client, "--lifespan", "600")["accessTokenLifespan"] == 600
    r = wait_token(server, client, lambda b, c: b["expires_in"] != 7200)
    assert lifespan_of(r) == 600
    # 0 goes back to the tenant's lifespan
    assert client_set(server, client, "--lifespan", "0")["accessTokenLifespan"] is None
    assert lifespan_of(wait_token(server, client, lambda b, c: b["expires_in"] == 7200)) == 7200


def test_client_lifespan_out_of_range_is_a_cli_error(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant)
    for lifespan, message in [
        ("57601", "the lifespan cannot exceed the tenant's maximum (57600 s)"),
        ("59", "the access token lifespan must be between 60 and"),
    ]:
        r = server.cli(
            "client", "set", tenant.tenant, client.client_id, "--lifespan", lifespan, check=False
        )
        assert r.returncode != 0
        assert message in r.stderr
    shown = cli_json(server, "client", "show", tenant.tenant, client.client_id)
    assert shown["accessTokenLifespan"] is None


def test_tenant_lifespan_and_maximum(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("sl"))
    own = server.create_client(creds.tenant, "own")
    client_set(server, own, "--lifespan", "600")
    shown = cli_json(server, "tenant", "set", creds.tenant, "--lifespan", "900")
    assert shown["accessTokenLifespan"] == 900
    # the tenant's lifespan applies to clients without their own
    assert lifespan_of(wait_token(server, creds, lambda b, c: b["expires_in"] == 900)) == 900
    assert lifespan_of(request_token(server, own)) == 600

    # above the maximum: refused
    r = server.cli("tenant", "set", creds.tenant, "--lifespan", "57601", check=False)
    assert r.returncode != 0
    assert "lifespan" in r.stderr

    # a lower maximum caps every client's lifespan, also one set before
    cli_json(server, "tenant", "set", creds.tenant, "--lifespan", "300", "--max-lifespan", "300")
    assert lifespan_of(wait_token(server, own, lambda b, c: b["expires_in"] != 600)) == 300
    assert lifespan_of(request_token(server, creds)) == 300
    r = server.cli("client", "set", creds.tenant, "own", "--lifespan", "301", check=False)
    assert r.returncode != 0
    assert "maximum" in r.stderr


# not-before ----------------------------------------------------------------------------------
def iso_seconds(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


def test_client_revoke_tokens_sets_not_before(server: Server, tenant: Credentials) -> None:
    client = new_client(server, tenant)
    r = request_token(server, client)
    assert r.json()["not-before-policy"] == 0
    old = r.json()["access_token"]
    assert get_settings(server, old).status_code == 200
    wait_for_next_second(token_claims(old)["iat"])

    server.cli("client", "revoke-tokens", tenant.tenant, client.client_id)
    not_before = iso_seconds(
        cli_json(server, "client", "show", tenant.tenant, client.client_id)["notBefore"]
    )
    assert not_before > token_claims(old)["iat"]

    r = wait_token(server, client, lambda b, c: b["not-before-policy"] > 0)
    assert r.json()["not-before-policy"] == not_before
    assert_api_invalid_token(get_settings(server, old))
    new = r.json()["access_token"]
    assert get_settings(server, new).status_code == 200
    # other clients of the tenant are not affected
    other = request_token(server, tenant).json()
    assert other["not-before-policy"] == 0


def test_tenant_revoke_tokens_sets_not_before_for_every_client(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("sb"))
    client = server.create_client(creds.tenant, "second")
    old_admin, old_client = access_token(server, creds), access_token(server, client)
    wait_for_next_second(max(token_claims(t)["iat"] for t in (old_admin, old_client)))

    server.cli("tenant", "revoke-tokens", creds.tenant)
    not_before = cli_json(server, "tenant", "show", creds.tenant)["notBefore"]
    assert not_before > 0

    for c in (creds, client):
        r = wait_token(server, c, lambda b, cl: b["not-before-policy"] > 0)
        assert r.json()["not-before-policy"] == not_before
        assert get_settings(server, r.json()["access_token"]).status_code == 200
    assert_api_invalid_token(get_settings(server, old_admin))
    assert_api_invalid_token(get_settings(server, old_client))
