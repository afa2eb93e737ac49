"""The onboarding page's code snippets: the seed document's "Get a Token" and "Use a Token"
examples (curl, Python, TypeScript), filled with this server's URLs and a new client's
credentials.

Pure functions, so the exact text is unit-tested. The URLs come from the settings
(``issuer_base_url``/``api_base_url`` or the values the server derives from its own address),
never from a request's ``Host`` header, which a client chooses. Every value is quoted for the
language it lands in, so a snippet copied from the page runs as shown whatever it holds; the
HTML layer escapes the result once more for the page.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from urllib.parse import quote

# What a form value may hold and still go into ``--data`` unencoded (RFC 3986 unreserved).
_FORM_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
SETTINGS_PATH = "/v2/tenants/current/settings"


@dataclass(frozen=True, slots=True)
class Snippets:
    """The six snippets of the onboarding result page. ``curl``, ``python`` and ``typescript``
    get a token (they hold the secret); the ``use_*`` ones call the tenant API with it."""

    curl: str = field(repr=False)
    python: str = field(repr=False)
    typescript: str = field(repr=False)
    use_curl: str
    use_python: str
    use_typescript: str


def token_url(issuer_base: str, tenant: str) -> str:
    """The tenant's token endpoint under the issuer base URL."""
    return (
        f"{issuer_base.rstrip('/')}/realms/{quote(tenant, safe='')}/protocol/openid-connect/token"
    )


def _str(value: str) -> str:
    """A double-quoted string literal valid in Python and in TypeScript (JSON's escapes)."""
    return json.dumps(value)


def _curl_data(name: str, value: str) -> str:
    """A ``--data`` option as the seed writes it, or ``--data-urlencode`` when the value has
    characters a form body must encode."""
    if value and set(value) <= _FORM_SAFE:
        return f"--data {shlex.quote(f'{name}={value}')}"
    return f"--data-urlencode {shlex.quote(f'{name}={value}')}"


def curl_snippet(url: str, client_id: str, secret: str) -> str:
    return (
        "curl --request POST \\\n"
        f"  --url {shlex.quote(url)} \\\n"
        "  --header 'Content-Type: application/x-www-form-urlencoded' \\\n"
        "  --data grant_type=client_credentials \\\n"
        f"  {_curl_data('client_id', client_id)} \\\n"
        f"  {_curl_data('client_secret', secret)}"
    )


def python_snippet(url: str, client_id: str, secret: str) -> str:
    return (
        "import requests\n"
        "\n"
        "response = requests.post(\n"
        f"    {_str(url)},\n"
        "    data={\n"
        '        "grant_type": "client_credentials",\n'
        f'        "client_id": {_str(client_id)},\n'
        f'        "client_secret": {_str(secret)},\n'
        "    },\n"
        ")\n"
        "token_data = response.json()\n"
        'access_token = token_data["access_token"]'
    )


def typescript_snippet(url: str, client_id: str, secret: str) -> str:
    return (
        "const response = await fetch(\n"
        f"  {_str(url)},\n"
        "  {\n"
        '    method: "POST",\n'
        '    headers: { "Content-Type": "application/x-www-form-urlencoded" },\n'
        "    body: new URLSearchParams({\n"
        '      grant_type: "client_credentials",\n'
        f"      client_id: {_str(client_id)},\n"
        f"      client_secret: {_str(secret)},\n"
        "    }),\n"
        "  }\n"
        ");\n"
        "const { access_token: accessToken } = await response.json();"
    )


def use_curl_snippet(api_base: str) -> str:
    url = api_base.rstrip("/") + SETTINGS_PATH
    return (
        "curl --request GET \\\n"
        f"  --url {shlex.quote(url)} \\\n"
        "  --header 'Authorization: Bearer {token}' \\\n"
        "  --header 'Content-Type: application/json'"
    )


def use_python_snippet(api_base: str) -> str:
    url = api_base.rstrip("/") + SETTINGS_PATH
    return (
        "response = requests.get(\n"
        f"    {_str(url)},\n"
        "    headers={\n"
        '        "Authorization": f"Bearer {access_token}",\n'
        '        "Content-Type": "application/json",\n'
        "    },\n"
        ")\n"
        "settings = response.json()"
    )


def use_typescript_snippet(api_base: str) -> str:
    url = api_base.rstrip("/") + SETTINGS_PATH
    return (
        "const settings = await fetch(\n"
        f"  {_str(url)},\n"
        "  {\n"
        "    headers: {\n"
        "      Authorization: `Bearer ${accessToken}`,\n"
        '      "Content-Type": "application/json",\n'
        "    },\n"
        "  }\n"
        ").then((r) => r.json());"
    )


def snippets(issuer_base: str, api_base: str, tenant: str, client_id: str, secret: str) -> Snippets:
    """All six snippets for a tenant's client."""
    url = token_url(issuer_base, tenant)
    return Snippets(
        curl=curl_snippet(url, client_id, secret),
        python=python_snippet(url, client_id, secret),
        typescript=typescript_snippet(url, client_id, secret),
        use_curl=use_curl_snippet(api_base),
        use_python=use_python_snippet(api_base),
        use_typescript=use_typescript_snippet(api_base),
    )


__all__ = ["SETTINGS_PATH", "Snippets", "snippets", "token_url"]
