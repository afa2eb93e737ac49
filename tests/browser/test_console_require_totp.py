"""An install that makes two-factor mandatory (``console_require_totp``): an operator without
it is led to set it up right after the password and reaches nothing else until done."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.support import (
    PageFactory,
    add_operator,
    console_url,
    expect_heading,
    sign_in,
    start_server,
    submit_sign_in,
)
from tests.servers import Server


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("console-totp"), REALMGATE_CONSOLE_REQUIRE_TOTP="true"
    )
    try:
        yield srv
    finally:
        srv.stop()


def test_an_operator_without_two_factor_must_set_it_up(
    new_page: PageFactory, console_server: Server
) -> None:
    op = add_operator(console_server, f"new-{uuid.uuid4().hex[:6]}", "viewer")
    page = new_page(console_server)
    submit_sign_in(page, op.username, op.password)
    setup = page.get_by_role("button", name="Set up two-factor", exact=True)
    expect(setup).to_be_visible()
    # nothing else is reachable in this stage
    for path in ("/", "/tenants", "/throttling"):
        page.goto(console_url(path))
        expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_have_count(0)
        expect(page.get_by_role("heading", name="Tenants", exact=True)).to_have_count(0)
        expect(page.get_by_role("heading", name="Throttling", exact=True)).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/(signin|account)"))

    page.goto(console_url("/account/enroll"))
    page.get_by_role("button", name="Set up two-factor", exact=True).click()
    op.totp_secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Authentication code", exact=True).fill(op.next_code())
    page.get_by_role("button", name="Enable two-factor", exact=True).click()
    expect_heading(page, "Dashboard")

    # from now on the operator signs in with the code
    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, op)
    page.goto(console_url("/tenants"))
    expect_heading(page, "Tenants")
