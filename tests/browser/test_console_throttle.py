"""Throttling in the console: wrong passwords throttle the account's sign-ins (as failed client
authentication throttles a client), and the Throttling page lists a blocked client and unblocks
it. The server of this module counts failures with low free allowances and long blocks."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Response, expect

from tests.browser.flows import onboard, token_status, wait_token_status
from tests.browser.support import (
    Operator,
    PageFactory,
    add_operator,
    admin_of,
    console_url,
    expect_heading,
    nav_to,
    shoot,
    signed_in_page,
    start_server,
    submit_sign_in,
)
from tests.integration.helpers import poll
from tests.servers import Credentials, Server

THROTTLED = re.compile(r"Too many failed sign-ins; try again in \d+ seconds")


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # two free failures per account (or client), then a block of a minute; sources stay free
    srv = start_server(
        tmp_path_factory.mktemp("console-throttle"),
        REALMGATE_THROTTLE_CLIENT_FREE="2",
        REALMGATE_THROTTLE_BASE_DELAY="60",
        REALMGATE_THROTTLE_CLIENT_CAP="120",
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(console_server: Server) -> Operator:
    return admin_of(console_server)


def test_wrong_passwords_throttle_the_account(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    victim = add_operator(console_server, f"victim-{uuid.uuid4().hex[:6]}", "viewer")
    page = new_page(console_server)
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if r.request.method == "POST" else None)

    for _ in range(3):  # the free failures, and the one that starts the block
        submit_sign_in(page, victim.username, "wrong password 123")
        expect(page.get_by_role("alert").first).to_be_visible()
    submit_sign_in(page, victim.username, "wrong password 123")
    expect(page.get_by_text(THROTTLED).first).to_be_visible()
    # now even the right password is refused, with Retry-After
    submit_sign_in(page, victim.username, victim.password)
    expect(page.get_by_text(THROTTLED).first).to_be_visible()
    last = answers[-1]
    assert last.status == 429
    assert int(last.headers["retry-after"]) > 0
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_have_count(0)

    # the block is the account's, not the source's: another operator signs in from here, sees
    # the account's block on the Throttling page (tenant #console) and unblocks it
    admin_page = signed_in_page(new_page, console_server, admin)
    nav_to(admin_page, "Throttling")
    row = admin_page.locator("#blocks tr", has_text=victim.username).filter(has_text="#console")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Unblock", exact=True).click()
    expect(admin_page.locator("p.flash[role=status]")).to_be_visible()
    expect(admin_page.locator("#blocks tr", has_text=victim.username)).to_have_count(0)

    def signs_in() -> bool:
        submit_sign_in(page, victim.username, victim.password)
        page.locator("h1").first.wait_for()
        return page.locator("h1").first.inner_text().strip() == "Dashboard"

    assert poll(signs_in, bool, 30.0), "the unblocked account cannot sign in"


def test_the_throttling_page_unblocks_a_client(
    new_page: PageFactory, console_server: Server, admin: Operator
) -> None:
    page = signed_in_page(new_page, console_server, admin)
    done = onboard(page)
    wrong = Credentials(done.tenant, done.client_id, "not-the-secret")
    for _ in range(4):
        assert token_status(console_server, wrong) in (401, 429)
    wait_token_status(console_server, done.creds, 429)  # blocked, even with the right secret

    page.goto(console_url("/"))
    expect(page.locator("#blocked-now tr", has_text=done.tenant)).to_contain_text(done.client_id)
    nav_to(page, "Throttling")
    expect_heading(page, "Throttling")
    row = page.locator("#blocks tr", has_text=done.client_id).filter(has_text=done.tenant)
    expect(row).to_have_count(1)
    shoot(page, "throttling")
    row.get_by_role("button", name="Unblock", exact=True).click()
    expect(page.locator("p.flash[role=status]")).to_be_visible()
    expect(page.locator("#blocks tr", has_text=done.tenant)).to_have_count(0)
    wait_token_status(console_server, done.creds, 200)
    r = httpx.get(f"{console_server.base_url}{console_url('/throttling')}", follow_redirects=False)
    assert r.status_code == 303  # and only with a session
