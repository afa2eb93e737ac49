"""Console flows shared by the browser tests: onboarding a tenant through the form, running the
curl snippet the result page shows, and token requests that poll until the server agrees."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field

import httpx
from playwright.sync_api import Page, expect

from tests.browser.support import console_url, expect_heading
from tests.integration.helpers import poll
from tests.servers import Credentials, Server

DEADLINE = 30.0  # seconds a change may take to reach the token endpoint (change feed: ~1 s)


@dataclass
class Onboarded:
    tenant: str
    client_id: str
    secret: str = field(repr=False)
    curl: str = field(repr=False)

    @property
    def creds(self) -> Credentials:
        return Credentials(self.tenant, self.client_id, self.secret)


def shortcode(prefix: str = "b") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def fill_onboard_form(page: Page, tenant: str, name: str, client_id: str | None = None) -> None:
    page.goto(console_url("/onboard"))
    expect_heading(page, "Onboard a tenant")
    page.get_by_label("Tenant shortcode", exact=True).fill(tenant)
    page.get_by_label("Display name", exact=True).fill(name)
    if client_id is not None:
        page.get_by_label("Client ID", exact=True).fill(client_id)


def onboard(page: Page, tenant: str | None = None) -> Onboarded:
    """Creates a tenant with the onboarding form and reads the one-time result page."""
    tenant = tenant or shortcode()
    fill_onboard_form(page, tenant, f"Tenant {tenant}")
    expect(page.get_by_label("Client ID", exact=True)).to_have_value("api-client")
    page.get_by_role("button", name="Create tenant", exact=True).click()
    expect_heading(page, "Tenant created")
    return Onboarded(
        tenant,
        page.locator("#client-id").inner_text().strip(),
        page.locator("#client-secret").inner_text().strip(),
        page.locator("#snippet-curl").inner_text(),
    )


def run_curl_snippet(snippet: str) -> httpx.Response | subprocess.CompletedProcess[str]:
    """Runs the snippet as a user pasting it into a shell would (no shell: its words)."""
    words = shlex.split(snippet.replace("\\\n", " "))
    assert words and words[0] == "curl", snippet
    if shutil.which("curl"):
        return subprocess.run(
            [*words, "--silent", "--show-error"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    # no curl here: replay its options with httpx
    url, headers, data = "", {}, []
    it = iter(words[1:])
    for word in it:
        if word == "--url":
            url = next(it)
        elif word == "--header":
            key, _, value = next(it).partition(":")
            headers[key.strip()] = value.strip()
        elif word == "--data":
            key, _, value = next(it).partition("=")
            data.append((key, value))
        elif word == "--request":
            assert next(it) == "POST"
    return httpx.post(url, headers=headers, data=dict(data), timeout=30)


def token_json(snippet: str) -> dict[str, object]:
    result = run_curl_snippet(snippet)
    if isinstance(result, httpx.Response):
        assert result.status_code == 200, result.text
        return dict(result.json())
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def token_status(server: Server, creds: Credentials) -> int:
    return httpx.post(
        server.token_url(creds.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
        timeout=30,
    ).status_code


def wait_token_status(server: Server, creds: Credentials, status: int) -> None:
    """Polls the token endpoint until it answers ``status`` for ``creds`` (bounded)."""
    last = poll(lambda: token_status(server, creds), lambda s: s == status, DEADLINE)
    assert last == status, f"token endpoint kept answering {last}, expected {status}"


def client_path(tenant: str, client_id: str) -> str:
    return console_url(f"/tenants/{tenant}/clients/{client_id}")
