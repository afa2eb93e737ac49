"""``realmgate token`` and ``realmgate api settings get|set`` as separate processes against the
real server, configured like an integrator's shell: ``REALMGATE_*`` variables (or flags), no
database settings, run in an empty directory that must stay empty (nothing opens a database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from realmgate.client import TenantApiClient
from realmgate.verifier import Verifier
from tests.sdk_integration.support import token_requests
from tests.servers import Credentials, Server, free_port

SETTINGS_PATH = "/v2/tenants/current/settings"


class Cli:
    def __init__(self, base_url: str, creds: Credentials, workdir: Path) -> None:
        self.workdir = workdir
        base = {k: v for k, v in os.environ.items() if not k.startswith("REALMGATE_")}
        self.env = {
            **base,
            "COLUMNS": "200",
            "REALMGATE_SSO_URL": base_url,
            "REALMGATE_API_URL": base_url,
            "REALMGATE_TENANT": creds.tenant,
            "REALMGATE_CLIENT_ID": creds.client_id,
            "REALMGATE_CLIENT_SECRET": creds.client_secret,
        }

    def __call__(
        self, *args: str, env: dict[str, str | None] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        merged = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return subprocess.run(
            [sys.executable, "-m", "realmgate", *args],
            env=merged,
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def cli(server: Server, tenant: Credentials, tmp_path: Path) -> Iterator[Cli]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    yield Cli(server.base_url, tenant, workdir)
    assert list(workdir.iterdir()) == []  # no database, no data directory was created


@pytest.fixture
def offline_cli(tmp_path: Path) -> Iterator[Cli]:
    """Configured for a server that is not there: any request would fail with exit code 1."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    creds = Credentials("acme", "reporting", "cs-offline-Sentinel-0123456789")
    yield Cli(f"http://127.0.0.1:{free_port()}", creds, workdir)
    assert list(workdir.iterdir()) == []


def assert_clean_failure(result: subprocess.CompletedProcess[str], *secrets: str) -> str:
    """Exit code != 0, nothing on stdout, one line on stderr, no traceback, no secret."""
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for secret in secrets:
        assert secret not in result.stderr
    return lines[0]


def test_token_prints_only_a_token_that_opens_the_api(
    cli: Cli, server: Server, tenant: Credentials
) -> None:
    before = token_requests(server)
    result = cli("token")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n" and token.count(".") == 2 and " " not in token
    assert token_requests(server) - before == 1

    response = httpx.get(
        f"{server.base_url}{SETTINGS_PATH}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["shortcode"] == tenant.tenant
    with Verifier.from_realm(server.base_url, tenant.tenant, audience=server.base_url) as v:
        assert v.verify(token).client_id == tenant.client_id


def test_token_json(cli: Cli, tenant: Credentials) -> None:
    result = cli("token", "--json", "--scope", "openid")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"access_token", "token_type", "expires_in", "scope"}
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == 7200
    assert "openid" in data["scope"].split()
    assert tenant.client_secret not in result.stdout


def test_settings_set_then_get(cli: Cli, tenant: Credentials) -> None:
    result = cli(
        "api",
        "settings",
        "set",
        "locale=de-AT",
        "duplicateCheck=true",
        "max_active_webhooks_per_user=5",
    )
    assert result.returncode == 0, result.stderr
    assert "de-AT" in result.stdout and "maxActiveWebhooksPerUser" in result.stdout

    result = cli("api", "settings", "get", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["shortcode"] == tenant.tenant
    assert data["locale"] == "de-AT"
    assert data["duplicateCheck"] is True
    assert data["maxActiveWebhooksPerUser"] == 5

    table = cli("api", "settings", "get")
    assert table.returncode == 0, table.stderr
    assert f"Settings of tenant {tenant.tenant}" in table.stdout
    assert "de-AT" in table.stdout


def test_settings_validation_failure_names_the_fields(
    cli: Cli, server: Server, tenant: Credentials
) -> None:
    with TenantApiClient.from_env(cli.env) as api:
        before = api.get_settings()
        result = cli(
            "api",
            "settings",
            "set",
            "timezone=Mars/Olympus_Mons",
            "maxActiveWebhooksPerUser=5000",
            "name=fine",
        )
        line = assert_clean_failure(result, tenant.client_secret)
        assert "HTTP 422" in line
        assert "timezone" in line and "maxActiveWebhooksPerUser" in line
        assert api.get_settings() == before  # all or nothing


def test_bad_assignments_are_refused_before_any_request(offline_cli: Cli) -> None:
    for assignment, named in (
        ("colour=blue", "'colour'"),
        ("createdAt=2024-01-01", "'createdAt' is read-only"),
        ("duplicateCheck=yes", "duplicate_check must be a bool"),
        ("locale", "expected FIELD=VALUE, got 'locale'"),
    ):
        result = offline_cli("api", "settings", "set", assignment)
        assert result.returncode == 2  # a request would have failed with 1
        assert named in assert_clean_failure(result)


def test_bad_secret_fails_cleanly(cli: Cli, server: Server, tenant: Credentials) -> None:
    wrong = tenant.client_secret[::-1]
    refused = token_requests(server, "invalid_client")
    for args, env in (
        (("token",), {"REALMGATE_CLIENT_SECRET": wrong}),
        (("token", "--client-secret", wrong), {"REALMGATE_CLIENT_SECRET": None}),
        (("api", "settings", "get"), {"REALMGATE_CLIENT_SECRET": wrong}),
    ):
        result = cli(*args, env=env)
        assert result.returncode == 1
        line = assert_clean_failure(result, wrong, tenant.client_secret)
        assert "invalid_client" in line and "401" in line
    assert token_requests(server, "invalid_client") - refused == 3


def test_unknown_tenant_fails_cleanly(cli: Cli, tenant: Credentials) -> None:
    result = cli("token", "--tenant", "nosuchtenant0")
    line = assert_clean_failure(result, tenant.client_secret)
    assert "realm_not_found" in line and "404" in line


def test_secret_from_a_file_or_stdin_and_flags_over_env(
    cli: Cli, server: Server, tenant: Credentials, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(tenant.client_secret + "\n")
    overridden = {"REALMGATE_CLIENT_SECRET": None, "REALMGATE_TENANT": "nosuchtenant0"}
    for args, stdin in (
        (("--client-secret-file", str(secret_file)), None),
        (("--client-secret-file", "-"), tenant.client_secret),
    ):
        result = cli("token", "--tenant", tenant.tenant, *args, env=overridden, stdin=stdin)
        assert result.returncode == 0, result.stderr
        with Verifier.from_realm(server.base_url, tenant.tenant, audience=server.base_url) as v:
            assert v.verify(result.stdout.strip()).tenant == tenant.tenant


def test_configuration_errors(offline_cli: Cli, tmp_path: Path) -> None:
    result = offline_cli(
        "api",
        "settings",
        "get",
        env={"REALMGATE_SSO_URL": None, "REALMGATE_CLIENT_SECRET": None, "REALMGATE_API_URL": None},
    )
    assert result.returncode == 2
    line = assert_clean_failure(result)
    for name in ("--sso-url", "REALMGATE_SSO_URL", "REALMGATE_CLIENT_SECRET", "REALMGATE_API_URL"):
        assert name in line
    assert "REALMGATE_TENANT" not in line

    result = offline_cli("token", "--sso-url", "ftp://example.com")
    assert result.returncode == 2
    assert "sso_base_url must be an absolute http(s) URL" in assert_clean_failure(result)

    secret_file = tmp_path / "secret"
    secret_file.write_text("cs-Sentinel-file-0123456789\n")
    result = offline_cli("token", "--client-secret", "x", "--client-secret-file", str(secret_file))
    assert result.returncode == 2
    assert "not both" in assert_clean_failure(result, "cs-Sentinel-file-0123456789")

    result = offline_cli("token", "--client-secret-file", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "FileNotFoundError" in assert_clean_failure(result)


def test_unreachable_server_fails_cleanly(offline_cli: Cli) -> None:
    result = offline_cli("token")
    assert result.returncode == 1
    line = assert_clean_failure(result, "cs-offline-Sentinel-0123456789")
    assert "token endpoint unavailable after 4 attempts" in line and "ConnectError" in line
