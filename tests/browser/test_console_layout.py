"""The console at a phone's width (360 px): no page is wider than the screen (wide tables
scroll inside their own box), and every form control has a label."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.flows import client_path, onboard
from tests.browser.support import Operator, PageFactory, console_url, signed_in_page
from tests.servers import Server

PHONE = 360

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id)"""


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the viewport."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_every_page_fits_a_phone_and_labels_its_controls(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    page.set_viewport_size({"width": PHONE, "height": 800})
    done = onboard(page)
    wide = {"(tenant created)": overflow(page)} if overflow(page) > 0 else {}
    paths = [
        "/",
        "/tenants",
        f"/tenants/{done.tenant}",
        client_path(done.tenant, done.client_id).removeprefix(console_url("")),
        "/onboard",
        "/throttling",
        "/operators",
        "/account",
    ]
    unlabelled = {}
    for path in paths:
        page.goto(console_url(path))
        page.locator("h1").first.wait_for()
        if (extra := overflow(page)) > 0:
            wide[path] = extra
        if names := page.evaluate(UNLABELLED):
            unlabelled[path] = names
    assert not wide, f"pages wider than {PHONE} px (by px): {wide}"
    assert not unlabelled, f"form controls without a label: {unlabelled}"
