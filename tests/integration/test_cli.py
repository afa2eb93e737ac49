"""The admin CLI against the server's database: clear errors, JSON output without secrets,
and deletion that the running server notices.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    assert_oauth_error,
    cli_json,
    keys_named,
    poll,
    request_token,
    unique_shortcode,
)
from tests.servers import Credentials, Server


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("cli"))


def assert_clean_failure(server: Server, *args: str, message: str) -> str:
    result = server.cli(*args, check=False)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert message in result.stderr, result.stderr
    assert result.stderr.strip().startswith("error:"), result.stderr
    return result.stderr


def assert_no_secrets(data: Any, raw: str, *secrets: str) -> None:
    assert keys_named(data, "clientSecret") == []
    assert "clientSecret" not in raw
    assert "secret_hash" not in raw
    for secret in secrets:
        assert secret not in raw


@pytest.mark.parametrize("shortcode", ["_lead", "x" * 64])
def test_tenant_create_with_an_invalid_shortcode(server: Server, shortcode: str) -> None:
    stderr = assert_clean_failure(
        server, "tenant", "create", shortcode, message="invalid tenant shortcode"
    )
    assert "1-63 letters, digits" in stderr


def test_failed_tenant_creates_create_nothing(server: Server) -> None:
    stderr = assert_clean_failure(
        server, "tenant", "create", "Bad!", message="invalid tenant shortcode"
    )
    assert "'Bad!'" in stderr
    shortcode = unique_shortcode("alg")
    assert_clean_failure(
        server,
        "tenant",
        "create",
        shortcode,
        "--algorithm",
        "HS256",
        message="unsupported algorithm",
    )
    shortcodes = {t["shortcode"] for t in cli_json(server, "tenant", "list")}
    assert shortcode not in shortcodes
    assert not {"Bad!", "bad!", "bad"} & shortcodes


def test_tenant_create_duplicate(server: Server, tenant: Credentials) -> None:
    assert_clean_failure(server, "tenant", "create", tenant.tenant, message="exists already")
    # The original tenant's credentials are untouched.
    assert request_token(server, tenant).status_code == 200


def test_client_show_of_an_unknown_tenant(server: Server) -> None:
    missing = unique_shortcode("none")
    assert_clean_failure(server, "client", "show", missing, "x", message="unknown tenant")
    assert_clean_failure(server, "tenant", "delete", missing, "--yes", message="unknown tenant")


def test_client_show_of_an_unknown_client(server: Server, tenant: Credentials) -> None:
    assert_clean_failure(
        server, "client", "show", tenant.tenant, "nobody-here", message="unknown client"
    )


def test_client_create_duplicate(server: Server, tenant: Credentials) -> None:
    assert_clean_failure(
        server, "client", "create", tenant.tenant, tenant.client_id, message="already exists"
    )  # Keycloak's text, which the admin API answers too
    assert request_token(server, tenant).status_code == 200


@pytest.mark.parametrize("client_id", ["bad id"])
def test_client_create_with_an_invalid_client_id(
    server: Server, tenant: Credentials, client_id: str
) -> None:
    assert_clean_failure(
        server, "client", "create", tenant.tenant, client_id, message="invalid client id"
    )


def test_json_outputs_parse_and_hold_no_secret(server: Server, tenant: Credentials) -> None:
    other = server.create_client(tenant.tenant, f"svc-{uuid.uuid4().hex[:6]}", "reader", "x:y")
    secrets = (tenant.client_secret, other.client_secret)

    outputs: dict[str, Any] = {}
    for args in (
        ("tenant", "list"),
        ("tenant", "show", tenant.tenant),
        ("client", "list", tenant.tenant),
        ("client", "show", tenant.tenant, other.client_id),
        ("keys", "list", tenant.tenant),
    ):
        result = server.cli(*args, "--json")
        assert result.stderr == ""
        data = json.loads(result.stdout)
        assert_no_secrets(data, result.stdout, *secrets)
        outputs[" ".join(args[:2])] = data

    assert tenant.tenant in {t["shortcode"] for t in outputs["tenant list"]}
    shown_tenant = outputs["tenant show"]
    assert shown_tenant["shortcode"] == tenant.tenant
    assert set(shown_tenant["clients"]) >= {tenant.client_id, other.client_id}

    clients = {c["clientId"]: c for c in outputs["client list"]}
    assert set(clients) >= {tenant.client_id, other.client_id}
    assert clients[tenant.client_id]["roles"] == ["tenant-admin"]
    assert clients[other.client_id]["roles"] == ["reader", "x:y"]
    assert clients[other.client_id]["enabled"] is True
    assert outputs["client show"] == clients[other.client_id]

    keys = outputs["keys list"]
    assert len(keys) == 1
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["status"] == "active"
    assert set(keys[0]) == {"kid", "alg", "status", "createdAt", "verifyUntil"}


def test_human_outputs_hold_no_secret(server: Server, tenant: Credentials) -> None:
    for args in (
        ("tenant", "show", tenant.tenant),
        ("client", "show", tenant.tenant, tenant.client_id),
    ):
        result = server.cli(*args)
        assert tenant.tenant in result.stdout
        assert tenant.client_secret not in result.stdout
        assert "clientSecret" not in result.stdout


def test_tenant_create_prints_the_secret_once_and_it_works(server: Server) -> None:
    shortcode = unique_shortcode("once")
    result = server.cli("tenant", "create", shortcode)
    assert "clientSecret:" in result.stdout
    secret_line = next(line for line in result.stdout.splitlines() if "clientSecret:" in line)
    secret = secret_line.split("clientSecret:", 1)[1].strip()
    creds = Credentials(shortcode, f"{shortcode}-admin", secret)
    assert request_token(server, creds).status_code == 200
    shown = server.cli("tenant", "show", shortcode, "--json").stdout
    assert secret not in shown


def test_tenant_delete_removes_the_realm(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("del"))
    extra = server.create_client(creds.tenant, "extra")
    assert request_token(server, creds).status_code == 200
    certs = f"{server.base_url}/realms/{creds.tenant}/protocol/openid-connect/certs"
    assert httpx.get(certs).status_code == 200

    result = server.cli("tenant", "delete", creds.tenant, "--yes")
    assert "Deleted" in result.stdout
    assert creds.tenant not in {t["shortcode"] for t in cli_json(server, "tenant", "list")}

    # The running server notices through its change feed (polled every second).
    r = poll(lambda: request_token(server, creds), lambda r: r.status_code == 404)
    assert_oauth_error(r, 404, "realm_not_found")
    assert_oauth_error(request_token(server, extra), 404, "realm_not_found")
    assert httpx.get(certs).status_code == 404
    discovery = f"{server.base_url}/realms/{creds.tenant}/.well-known/openid-configuration"
    assert httpx.get(discovery).status_code == 404


def test_tenant_delete_without_yes_does_not_delete(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("keep"))
    result = server.cli("tenant", "delete", creds.tenant, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert request_token(server, creds).status_code == 200


def test_client_delete(server: Server, tenant: Credentials) -> None:
    gone = server.create_client(tenant.tenant, f"gone-{uuid.uuid4().hex[:6]}")
    assert request_token(server, gone).status_code == 200
    server.cli("client", "delete", tenant.tenant, gone.client_id, "--yes")
    r = poll(lambda: request_token(server, gone), lambda r: r.status_code == 401)
    assert_oauth_error(r, 401, "invalid_client")
    assert gone.client_id not in {
        c["clientId"] for c in cli_json(server, "client", "list", tenant.tenant)
    }
    assert request_token(server, tenant).status_code == 200
