"""Onboarding a tenant and managing its client in the console, as an admin: the onboarding
snippet gets a real token, secret rotation with "End previous secret", disabling, the audit
trail, inline form errors, the search, and the dashboard's traffic table."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.flows import (
    client_path,
    fill_onboard_form,
    onboard,
    shortcode,
    token_json,
    token_status,
    wait_token_status,
)
from tests.browser.support import (
    Operator,
    PageFactory,
    console_url,
    expect_heading,
    nav_to,
    shoot,
    signed_in_page,
)
from tests.integration.helpers import b64url_json, get_settings, poll
from tests.servers import Credentials, Server


def test_onboard_and_the_curl_snippet_gets_a_token(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    nav_to(page, "Onboard")
    expect_heading(page, "Onboard a tenant")
    shoot(page, "onboard")

    done = onboard(page)
    assert done.client_id == "api-client"
    assert len(done.secret) >= 20
    for snippet in ("#snippet-curl", "#snippet-python", "#snippet-typescript"):
        code = page.locator(f"pre > code{snippet}")
        expect(code).to_contain_text(console_server.token_url(done.tenant))
        expect(code).to_contain_text(done.secret)
        expect(code).to_contain_text(done.client_id)
    for copied in ("#client-secret", "#snippet-curl", "#snippet-python", "#snippet-typescript"):
        expect(page.locator(f'button[data-copy="{copied}"]')).to_have_text("Copy")
    shoot(page, "onboarded")

    body = token_json(done.curl)
    assert body["token_type"] == "Bearer"
    token = str(body["access_token"])
    claims = b64url_json(token.split(".")[1])
    assert claims["iss"] == f"{console_server.base_url}/realms/{done.tenant}"
    assert get_settings(console_server, token).status_code == 200

    # the secret is shown once: not on a reload, nor on the tenant's pages
    page.reload()
    expect(page.get_by_text(done.secret)).to_have_count(0)
    assert done.secret not in page.content()
    page.goto(console_url(f"/tenants/{done.tenant}"))
    expect_heading(page, done.tenant)
    assert done.secret not in page.content()

    # the dashboard reads the server's own traffic figures (flushed every second here)
    def tenant_row_on_dashboard() -> bool:
        page.goto(console_url("/"))
        return page.locator("#tenant-traffic tr", has_text=done.tenant).count() > 0

    assert poll(tenant_row_on_dashboard, bool, 30.0), "tenant missing from #tenant-traffic"
    row = page.locator("#tenant-traffic tr", has_text=done.tenant)
    expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^\s*[1-9]\d*\s*$"))  # tokens
    shoot(page, "dashboard")


def expect_field_error(page: Page, field: Locator) -> None:
    """The field is marked invalid and names its error (``<field>-error``, role alert)."""
    expect(field).to_have_attribute("aria-invalid", "true")
    described = (field.get_attribute("aria-describedby") or "").split()
    errors = [i for i in described if i.endswith("-error")]
    assert errors, f"the invalid field names no error: aria-describedby={described}"
    error = page.locator(f"#{errors[0]}")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_be_visible()


def test_inline_errors_keep_what_was_typed(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    fill_onboard_form(page, "Not A Shortcode!", "Kept name")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Create tenant", exact=True).click()
    assert posted.value.status == 400
    field = page.get_by_label("Tenant shortcode", exact=True)
    expect(field).to_have_value("Not A Shortcode!")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect_field_error(page, field)
    expect(page.locator("div.form-errors[role=alert]")).to_be_visible()
    expect(page.get_by_label("Display name", exact=True)).to_have_value("Kept name")
    shoot(page, "form-errors")

    done = onboard(page)
    page.goto(client_path(done.tenant, done.client_id))
    lifespan = page.get_by_label("Token lifespan (seconds)", exact=True)
    lifespan.fill("soon")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save client", exact=True).click()
    assert posted.value.status == 400
    expect(lifespan).to_have_value("soon")
    expect_field_error(page, lifespan)


def open_client(page: Page, creds: Credentials) -> None:
    page.goto(console_url(f"/tenants/{creds.tenant}"))
    page.locator("#clients").get_by_role("link", name=creds.client_id, exact=True).click()
    expect_heading(page, creds.client_id)


def test_rotate_end_previous_disable_and_the_audit_trail(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    done = onboard(page)
    old = done.creds

    # the tenants list finds it; its page links the client
    page.goto(console_url("/tenants"))
    expect_heading(page, "Tenants")
    page.get_by_label("Search tenants", exact=True).fill(done.tenant)
    page.get_by_label("Search tenants", exact=True).press("Enter")
    link = page.locator("#tenants").get_by_role("link", name=done.tenant, exact=True)
    expect(link).to_be_visible()
    shoot(page, "tenants")
    link.click()
    expect_heading(page, done.tenant)
    for section in ("Settings", "Clients", "Signing keys", "Audit trail"):
        expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()
    for button in ("Save settings", "Rotate key", "Emergency rotate"):
        expect(page.get_by_role("button", name=button, exact=True)).to_be_visible()
    shoot(page, "tenant")

    open_client(page, old)
    expect(page.get_by_label("Grace period (seconds)", exact=True)).to_have_value("86400")
    for label in ("Roles", "Scopes", "Token lifespan (seconds)", "Audiences"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_label("Custom claims (JSON)", exact=True)).to_be_visible()
    shoot(page, "client")

    page.get_by_role("button", name="Rotate secret", exact=True).click()
    secret = page.locator("code#client-secret")
    expect(secret).to_be_visible()
    new = Credentials(old.tenant, old.client_id, secret.inner_text().strip())
    assert new.client_secret != old.client_secret
    shoot(page, "secret-once")
    copy = page.get_by_role("button", name="Copy", exact=True)
    expect(copy).to_have_attribute("data-copy", "#client-secret")
    copy.click()
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard.strip() == new.client_secret
    open_client(page, old)
    assert new.client_secret not in page.content(), "the new secret is shown once"

    wait_token_status(console_server, new, 200)
    assert token_status(console_server, old) == 200, "the old secret works during the grace"

    page.get_by_role("button", name="End previous secret", exact=True).click()
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    wait_token_status(console_server, old, 401)
    assert token_status(console_server, new) == 200

    page.get_by_role("button", name="Disable client", exact=True).click()
    expect(page.get_by_role("button", name="Enable client", exact=True)).to_be_visible()
    wait_token_status(console_server, new, 401)
    page.get_by_role("button", name="Enable client", exact=True).click()
    expect(page.get_by_role("button", name="Disable client", exact=True)).to_be_visible()
    wait_token_status(console_server, new, 200)

    # every change is in the tenant's audit trail, with the operator and the source address
    page.goto(console_url(f"/tenants/{done.tenant}"))
    audit = page.locator("#audit")
    for action in (
        "tenant.created",
        "client.secret_rotated",
        "client.previous_secret_ended",
        "client.disabled",
        "client.enabled",
    ):
        row = audit.locator("tr", has_text=action)
        expect(row.first).to_contain_text(f"console:{admin.username}")
        expect(row.first).to_contain_text("127.0.0.1")
    assert old.client_secret not in page.content() and new.client_secret not in page.content()


def test_unknown_tenant_is_an_error_page(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    response = page.goto(console_url(f"/tenants/{shortcode('missing')}"))
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_be_visible()
    expect(page.get_by_role("navigation").first).to_be_visible()
    shoot(page, "error")


def test_reloading_the_new_secret_page_does_not_rotate_again(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    done = onboard(page)
    page.goto(client_path(done.tenant, done.client_id))
    page.get_by_role("button", name="Rotate secret", exact=True).click()
    shown = Credentials(done.tenant, done.client_id, page.locator("#client-secret").inner_text())
    page.reload()  # an operator refreshing the page (the browser may send the form again)
    page.goto(client_path(done.tenant, done.client_id))
    page.get_by_role("button", name="End previous secret", exact=True).click()
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    wait_token_status(console_server, done.creds, 401)
    assert token_status(console_server, shown) == 200, "the secret shown is the current one"
