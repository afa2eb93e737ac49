"""An admin's tenant work in the console: settings with field errors, key rotation (by hand and
emergency) and revoking a client's tokens, each seen at the token and API endpoints and in the
audit trail."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import expect

from tests.browser.flows import client_path, onboard, wait_token_status
from tests.browser.support import (
    Operator,
    PageFactory,
    console_url,
    expect_heading,
    signed_in_page,
)
from tests.integration.helpers import access_token, get_settings, poll
from tests.servers import Server


def jwks_kids(server: Server, tenant: str) -> set[str]:
    url = f"{server.base_url}/realms/{tenant}/protocol/openid-connect/certs"
    return {k["kid"] for k in httpx.get(url, timeout=30).json()["keys"]}


def test_settings_keys_and_revocation(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    done = onboard(page)
    wait_token_status(console_server, done.creds, 200)
    page.goto(console_url(f"/tenants/{done.tenant}"))
    expect_heading(page, done.tenant)

    # settings: a bad value is refused next to its field, keeping what was typed
    webhooks = page.get_by_label("Maximum active webhooks per user", exact=True)
    webhooks.fill("many")
    page.get_by_label("Display name", exact=True).fill("Renamed tenant")
    page.get_by_role("button", name="Save settings", exact=True).click()
    expect(webhooks).to_have_attribute("aria-invalid", "true")
    expect(webhooks).to_have_value("many")
    expect(page.get_by_label("Display name", exact=True)).to_have_value("Renamed tenant")
    webhooks.fill("3")
    page.get_by_role("button", name="Save settings", exact=True).click()
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    expect(page.get_by_label("Display name", exact=True)).to_have_value("Renamed tenant")
    token = access_token(console_server, done.creds)
    settings = get_settings(console_server, token)
    assert settings.status_code == 200
    assert "Renamed tenant" in settings.text

    # a key rotation publishes a second key; the old token keeps working
    before = jwks_kids(console_server, done.tenant)
    page.get_by_role("button", name="Rotate key", exact=True).click()
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    kids = poll(lambda: jwks_kids(console_server, done.tenant), lambda k: len(k) > len(before))
    assert before < kids
    assert get_settings(console_server, token).status_code == 200

    # revoking the client's tokens ends the ones issued before (in an earlier second)
    fresh = access_token(console_server, done.creds)
    issued = int(time.time())  # >= the token's iat (whole seconds)
    while int(time.time()) <= issued:  # not-before is whole seconds too: let one pass
        time.sleep(0.05)
    page.goto(client_path(done.tenant, done.client_id))
    page.get_by_role("button", name="Revoke tokens", exact=True).click()
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    status = poll(lambda: get_settings(console_server, fresh).status_code, lambda s: s == 401)
    assert status == 401
    newer = access_token(console_server, done.creds)
    assert poll(lambda: get_settings(console_server, newer).status_code, lambda s: s == 200) == 200

    # an emergency rotation removes the current key: its tokens stop working at once
    page.goto(console_url(f"/tenants/{done.tenant}"))
    page.get_by_role("button", name="Emergency rotate", exact=True).click()
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    status = poll(lambda: get_settings(console_server, newer).status_code, lambda s: s == 401)
    assert status == 401
    after = access_token(console_server, done.creds)
    assert get_settings(console_server, after).status_code == 200

    page.goto(console_url(f"/tenants/{done.tenant}"))
    audit = page.locator("#audit")
    for action in (
        "tenant.settings_changed",
        "key.rotated",
        "client.tokens_revoked",
        "key.emergency_rotated",
    ):
        expect(audit.locator("tr", has_text=action).first).to_contain_text(
            f"console:{admin.username}"
        )
