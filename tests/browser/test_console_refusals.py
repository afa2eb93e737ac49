"""What the console refuses: a form posted from another origin while the browser holds a valid
session, and the actions of the support and viewer roles (the buttons are absent and the POSTs
answer 403), and the operators page that only admins reach."""

from __future__ import annotations

import html
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Locator, Page, expect

from tests.browser.flows import (
    Onboarded,
    client_path,
    onboard,
    token_status,
    wait_token_status,
)
from tests.browser.support import (
    Operator,
    PageFactory,
    add_operator,
    console_url,
    csrf_of,
    expect_alert,
    expect_heading,
    form_action,
    nav_link,
    nav_to,
    shoot,
    sign_in,
    signed_in_page,
    submit_sign_in,
)
from tests.servers import Credentials, Server

ADMIN_ONLY_CLIENT = ("Revoke tokens", "Save client")
SUPPORT_CLIENT = ("Rotate secret", "End previous secret", "Disable client")
ADMIN_ONLY_TENANT = ("Save settings", "Rotate key", "Emergency rotate")


@contextmanager
def attacker_site(page_html: str) -> Iterator[str]:
    """A second local HTTP server (another port, so another origin) serving one page."""
    body = page_html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_a_form_posted_from_another_origin_is_refused(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    done = onboard(page)
    page.goto(client_path(done.tenant, done.client_id))
    action = form_action(page, "Disable client")
    csrf = csrf_of(page)  # even the session's own CSRF token does not help another origin
    forged = f"""<!doctype html><title>win a prize</title>
<form method="post" action="{html.escape(console_server.base_url + action)}">
<input type="hidden" name="csrf" value="{html.escape(csrf)}"></form>
<script>document.forms[0].submit()</script>"""
    with attacker_site(forged) as url:
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith(action)
        ) as posted:
            page.goto(url)
        assert posted.value.status == 403
        expect(page.get_by_text("Request refused").first).to_be_visible()
    shoot(page, "refused")
    # nothing happened: the client still gets tokens and is still enabled in the console
    assert token_status(console_server, done.creds) == 200
    page.goto(client_path(done.tenant, done.client_id))
    expect(page.get_by_role("button", name="Disable client", exact=True)).to_be_visible()


def post_as(page: Page, server: Server, path: str, **fields: str) -> int:
    """POSTs a form with the page's session and its own CSRF token (what a crafted form
    would send); returns the status."""
    response = page.request.post(
        server.base_url + path, form={"csrf": csrf_of(page), **fields}, max_redirects=0
    )
    return response.status


def actions_of(page: Page, done: Onboarded) -> tuple[dict[str, str], Credentials]:
    """The POST paths of every button of the client and tenant pages (as the admin sees them,
    after a rotation so that "End previous secret" is there too) and the new credentials."""
    page.goto(client_path(done.tenant, done.client_id))
    page.get_by_role("button", name="Rotate secret", exact=True).click()
    creds = Credentials(done.tenant, done.client_id, page.locator("#client-secret").inner_text())
    page.goto(client_path(done.tenant, done.client_id))
    paths = {b: form_action(page, b) for b in (*ADMIN_ONLY_CLIENT, *SUPPORT_CLIENT)}
    page.goto(console_url(f"/tenants/{done.tenant}"))
    paths |= {b: form_action(page, b) for b in ADMIN_ONLY_TENANT}
    page.goto(console_url("/onboard"))
    paths["Create tenant"] = form_action(page, "Create tenant")
    return paths, creds


def expect_buttons(page: Page, names: tuple[str, ...], count: int) -> None:
    for name in names:
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(count)


def test_support_and_viewer_are_refused_what_their_role_lacks(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    admin_page = signed_in_page(new_page, console_server, admin)
    done = onboard(admin_page)
    paths, creds = actions_of(admin_page, done)
    client = client_path(done.tenant, done.client_id)
    supporter = ""

    for role in ("support", "viewer"):
        op = add_operator(console_server, f"{role}-{uuid.uuid4().hex[:6]}", role)
        page = signed_in_page(new_page, console_server, op)
        nav = page.get_by_role("navigation").first
        expect(nav.get_by_role("link", name="Onboard", exact=True)).to_have_count(0)
        expect(nav.get_by_role("link", name="Operators", exact=True)).to_have_count(0)
        response = page.goto(console_url("/operators"))
        assert response is not None and response.status == 403

        page.goto(console_url(f"/tenants/{done.tenant}"))
        expect_heading(page, done.tenant)
        expect_buttons(page, ADMIN_ONLY_TENANT, 0)
        page.goto(client)
        expect_heading(page, done.client_id)
        expect_buttons(page, ADMIN_ONLY_CLIENT, 0)
        expect_buttons(page, SUPPORT_CLIENT, 1 if role == "support" else 0)
        shoot(page, f"client-{role}")

        refused = [*ADMIN_ONLY_CLIENT, *ADMIN_ONLY_TENANT, "Create tenant"]
        if role == "viewer":
            refused += SUPPORT_CLIENT
        for button in refused:
            assert post_as(page, console_server, paths[button]) == 403, (role, button)
        if role == "support":  # what support may do works
            page.get_by_role("button", name="Disable client", exact=True).click()
            page.get_by_role("button", name="Enable client", exact=True).click()
            expect(page.get_by_role("button", name="Disable client", exact=True)).to_be_visible()
            supporter = op.username

    # nothing else happened: both secrets still work, no change by the viewer was audited
    wait_token_status(console_server, creds, 200)
    assert token_status(console_server, done.creds) == 200
    admin_page.goto(console_url(f"/tenants/{done.tenant}"))
    audit = admin_page.locator("#audit")
    expect(audit.locator("tr", has_text="client.disabled")).to_contain_text(f"console:{supporter}")
    expect(audit).not_to_contain_text(re.compile(r"console:viewer-"))
    assert len(re.findall(r"console:support-", audit.inner_text())) == 2  # disabled, enabled


def operator_button(page: Page, username: str, button: str) -> Locator:
    """A button of the operator's row in the ``#operators`` table."""
    row = page.locator("#operators tr", has_text=username)
    return row.get_by_role("button", name=button, exact=True)


def test_admins_manage_operators(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    done = onboard(page)
    nav_to(page, "Operators")
    expect_heading(page, "Operators")
    name = f"ops-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Username", exact=True).fill(name)
    page.get_by_label("Role", exact=True).select_option("support")
    page.get_by_role("button", name="Create operator", exact=True).click()
    password = page.locator("code#operator-password").inner_text().strip()
    assert len(password) >= 12
    shoot(page, "operators")
    page.goto(console_url("/operators"))
    assert password not in page.content(), "the generated password is shown once"

    other = new_page(console_server)
    created = Operator(name, password)
    sign_in(other, created)
    expect(nav_link(other, "Operators")).to_have_count(0)
    other.goto(client_path(done.tenant, done.client_id))
    expect(other.get_by_role("button", name="Rotate secret", exact=True)).to_be_visible()

    # a new role applies to the operator's session at once
    row = page.locator("#operators tr", has_text=name)
    row.get_by_label(f"Role of {name}", exact=True).select_option("viewer")
    row.get_by_role("button", name="Change role", exact=True).click()
    expect(page.locator("#operators tr", has_text=name)).to_contain_text("viewer")
    other.reload()
    expect_heading(other, done.client_id)
    expect(other.get_by_role("button", name="Rotate secret", exact=True)).to_have_count(0)

    # disabling the operator ends its session, and it cannot sign in again
    operator_button(page, name, "Disable").click()
    row = page.locator("#operators tr", has_text=name)
    expect(row.get_by_role("button", name="Enable", exact=True)).to_be_visible()
    other.goto(console_url("/tenants"))
    expect(other).to_have_url(re.compile(re.escape(console_url("/signin"))))
    submit_sign_in(other, name, password)
    expect_alert(other, "Invalid username or password")

    row.get_by_role("button", name="Enable", exact=True).click()
    expect(operator_button(page, name, "Disable")).to_be_visible()
    sign_in(other, created)
    operator_button(page, name, "Remove").click()
    expect(page.locator("#operators tr", has_text=name)).to_have_count(0)
    other.goto(console_url("/tenants"))
    expect(other).to_have_url(re.compile(re.escape(console_url("/signin"))))
