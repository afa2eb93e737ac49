"""Signing in to the console with a password, with a second factor (TOTP), signing out."""

from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import Page, Response, expect

from tests.browser.support import (
    CONSOLE,
    Operator,
    PageFactory,
    add_operator,
    console_url,
    expect_alert,
    expect_heading,
    nav_to,
    shoot,
    sign_in,
    signed_in_page,
    submit_sign_in,
    totp_code,
)
from tests.servers import Server

NAV_ADMIN = ("Dashboard", "Tenants", "Onboard", "Throttling", "Operators", "Account")


def session_cookie(page: Page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "rg_console"), None)


def test_sign_in_with_a_password(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = new_page(console_server)
    # an anonymous visit is sent to the sign-in page
    page.goto(console_url("/"))
    expect(page).to_have_url(re.compile(re.escape(console_url("/signin"))))
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    shoot(page, "signin")

    submit_sign_in(page, admin.username, admin.password + "x")
    expect_alert(page, "Invalid username or password")
    expect(page.get_by_label("Username", exact=True)).to_have_value(admin.username)
    assert session_cookie(page) is None

    submit_sign_in(page, f"nobody-{uuid.uuid4().hex[:6]}", admin.password)
    expect_alert(page, "Invalid username or password")

    sign_in(page, admin)
    cookie = next(c for c in page.context.cookies() if c["name"] == "rg_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == CONSOLE
    nav = page.get_by_role("navigation").first
    for name in NAV_ADMIN:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.locator("svg#traffic-chart[role=img]")).to_have_attribute(
        "aria-label", re.compile(r".")
    )
    expect(page.locator("#tenant-traffic")).to_be_attached()
    expect(page.locator("#blocked-now")).to_be_attached()

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(console_url("/signin"))))
    page.goto(console_url("/tenants"))
    expect(page).to_have_url(re.compile(re.escape(console_url("/signin"))))


def test_sign_in_with_two_factor(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    op = add_operator(console_server, f"totp-{uuid.uuid4().hex[:6]}", "viewer")
    page = signed_in_page(new_page, console_server, op)

    nav_to(page, "Account")
    expect_heading(page, "Account")
    shoot(page, "account")
    page.get_by_role("button", name="Set up two-factor", exact=True).click()
    secret = page.locator("#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}=*", secret), secret
    expect(page.get_by_text(re.compile(r"otpauth://totp/"))).to_be_visible()
    shoot(page, "totp-setup")

    # a wrong code (ten steps ago) is refused with an inline error
    page.get_by_label("Authentication code", exact=True).fill(
        totp_code(secret, int(time.time()) // 30 - 10)
    )
    page.get_by_role("button", name="Enable two-factor", exact=True).click()
    expect(page.get_by_role("alert").first).to_be_visible()
    expect(page.locator("#totp-secret")).to_have_text(secret)

    op.totp_secret = secret
    page.get_by_label("Authentication code", exact=True).fill(op.next_code())
    page.get_by_role("button", name="Enable two-factor", exact=True).click()
    expect(page.locator("#totp-secret")).to_have_count(0)
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    page.get_by_role("button", name="Sign out", exact=True).click()

    # the password alone leads to the second step, which grants nothing else
    submit_sign_in(page, op.username, op.password)
    expect(page.get_by_label("Authentication code", exact=True)).to_be_visible()
    pending = session_cookie(page)
    shoot(page, "signin-totp")
    page.goto(console_url("/tenants"))
    expect(page.get_by_role("heading", name="Tenants", exact=True)).to_have_count(0)
    expect(page).to_have_url(re.compile(re.escape(console_url("/signin"))))

    page.goto(console_url("/signin/totp"))
    page.get_by_label("Authentication code", exact=True).fill(
        totp_code(secret, int(time.time()) // 30 - 10)
    )
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_role("alert").first).to_be_visible()

    page.get_by_label("Authentication code", exact=True).fill(op.next_code())
    page.get_by_role("button", name="Verify", exact=True).click()
    expect_heading(page, "Dashboard")
    assert session_cookie(page) not in (None, pending), "the session id is renewed after TOTP"

    # an admin resets the second factor (a lost phone): the password alone signs in again
    admin_page = signed_in_page(new_page, console_server, admin)
    nav_to(admin_page, "Operators")
    row = admin_page.locator("#operators tr", has_text=op.username)
    row.get_by_role("button", name="Reset two-factor", exact=True).click()  # shown: TOTP on
    expect(admin_page.locator("p.flash[role=status]")).to_be_visible()
    expect(row.get_by_role("button", name="Reset two-factor", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, Operator(op.username, op.password))


def test_sign_out_everywhere(new_page: PageFactory, console_server: Server) -> None:
    op = add_operator(console_server, f"multi-{uuid.uuid4().hex[:6]}", "viewer")
    first = signed_in_page(new_page, console_server, op)
    second = signed_in_page(new_page, console_server, op)
    first.goto(console_url("/account"))
    first.get_by_role("button", name="Sign out everywhere", exact=True).click()
    expect(first).to_have_url(re.compile(re.escape(console_url("/signin"))))
    second.goto(console_url("/tenants"))
    expect(second).to_have_url(re.compile(re.escape(console_url("/signin"))))
    # and a fresh sign-in works again
    sign_in(second, op)


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def test_pages_and_assets_carry_the_security_headers(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = new_page(console_server)
    assets: list[Response] = []
    page.on("response", lambda r: assets.append(r) if "/static/" in r.url else None)
    signin = page.goto(console_url("/signin"))
    assert signin is not None
    sign_in(page, admin)
    dashboard = page.goto(console_url("/"))
    assert dashboard is not None
    for response in (signin, dashboard):
        headers = response.headers
        assert headers["content-security-policy"] == CSP
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
    names = {r.url.rsplit("/", 1)[1] for r in assets}
    assert any(re.fullmatch(r"console\.[0-9a-f]{12}\.css", n) for n in names), names
    assert any(re.fullmatch(r"console\.[0-9a-f]{12}\.js", n) for n in names), names
    for r in assets:
        assert r.status == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
