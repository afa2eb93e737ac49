"""Console sessions end after their idle time: the next page is the sign-in page, which leads
back to the page asked for (a console path only). The server of this module has an idle
timeout of 5 seconds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import (
    Operator,
    PageFactory,
    admin_of,
    console_url,
    expect_heading,
    sign_in,
    signed_in_page,
    start_server,
)
from tests.servers import Server

IDLE = 5  # seconds; long enough that signing in and one page view fit in it on a busy machine


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("console-idle"), REALMGATE_CONSOLE_SESSION_IDLE=str(IDLE)
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(console_server: Server) -> Operator:
    return admin_of(console_server)


def test_an_idle_session_is_sent_back_to_sign_in(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    tenants = console_url("/tenants")
    page.goto(tenants)
    expect_heading(page, "Tenants")
    # Stay away longer than the idle timeout (any request would renew the session), then come
    # back; once more if the server's clock had not yet passed the timeout.
    for _ in range(5):
        page.wait_for_timeout((IDLE + 1.5) * 1000)
        page.goto(tenants)
        if "/signin" in page.url:
            break
    expect(page).to_have_url(re.compile(re.escape(console_url("/signin?next="))))
    assert unquote(page.url.split("next=", 1)[1]) == tenants
    sign_in_to_next(page, admin)
    expect_heading(page, "Tenants")


def sign_in_to_next(page: Page, op: Operator) -> None:
    """Fills the sign-in form the page shows (keeping its ``next``)."""
    page.get_by_label("Username", exact=True).fill(op.username)
    page.get_by_label("Password", exact=True).fill(op.password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_next_only_goes_to_console_pages(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = new_page(console_server)
    for target in ("https://evil.example/", "//evil.example/x", "/realms/master"):
        page.goto(console_url("/signin") + "?next=" + quote(target, safe=""))
        sign_in_to_next(page, admin)
        expect_heading(page, "Dashboard")
        assert page.url.startswith(console_server.base_url + console_url("/")), page.url
        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page).to_have_url(re.compile(re.escape(console_url("/signin"))))
    sign_in(page, admin)
