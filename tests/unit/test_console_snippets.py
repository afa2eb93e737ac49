"""The onboarding snippets: the seed's text, filled and quoted for each language."""

from __future__ import annotations

import ast
import shlex

from realmgate.server.console.snippets import snippets, token_url

SSO = "https://sso.example.com"
API = "https://api.example.com/"


def test_token_url_is_the_seed_endpoint() -> None:
    assert token_url(SSO + "/", "acme") == (
        "https://sso.example.com/realms/acme/protocol/openid-connect/token"
    )


def test_curl_is_the_seed_text() -> None:
    s = snippets(SSO, API, "acme", "api-client", "s3cr3t_-x")
    assert s.curl == (
        "curl --request POST \\\n"
        "  --url https://sso.example.com/realms/acme/protocol/openid-connect/token \\\n"
        "  --header 'Content-Type: application/x-www-form-urlencoded' \\\n"
        "  --data grant_type=client_credentials \\\n"
        "  --data client_id=api-client \\\n"
        "  --data client_secret=s3cr3t_-x"
    )


def test_curl_quotes_and_encodes_unusual_values() -> None:
    s = snippets("https://sso.example.com/a b", API, "acme", "c", "a+b&c='d'")
    words = shlex.split(s.curl.replace("\\\n", " "))
    assert "https://sso.example.com/a b/realms/acme/protocol/openid-connect/token" in words
    i = words.index("client_secret=a+b&c='d'")
    assert words[i - 1] == "--data-urlencode"


def test_python_snippet_is_valid_python_holding_the_values() -> None:
    s = snippets(SSO, API, "acme", "api-client", 'we"ird\\secret')
    tree = ast.parse(s.python)
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert "https://sso.example.com/realms/acme/protocol/openid-connect/token" in literals
    assert {"api-client", 'we"ird\\secret', "client_credentials"} <= literals
    assert s.python.startswith("import requests\n")
    ast.parse("access_token = 't'\nimport requests\n" + s.use_python)


def test_typescript_snippet_holds_the_values() -> None:
    s = snippets(SSO, API, "acme", "api-client", "sec")
    assert '"https://sso.example.com/realms/acme/protocol/openid-connect/token"' in s.typescript
    assert 'client_id: "api-client"' in s.typescript
    assert 'client_secret: "sec"' in s.typescript
    assert "const { access_token: accessToken } = await response.json();" in s.typescript


def test_use_snippets_call_the_api_base() -> None:
    s = snippets(SSO, API, "acme", "api-client", "sec")
    url = "https://api.example.com/v2/tenants/current/settings"
    assert f"--url {url}" in s.use_curl
    assert f'"{url}"' in s.use_python
    assert f'"{url}"' in s.use_typescript
    assert "sec" not in s.use_curl + s.use_python + s.use_typescript


def test_repr_never_shows_the_secret() -> None:
    assert "topsecret" not in repr(snippets(SSO, API, "acme", "api-client", "topsecret"))
