"""Helpers of the browser tests of the admin console: Playwright for Python driving Debian's
Chromium against a real ``realmgate serve`` (SQLite). They read the page the way an operator
does (labels, button names, the ids of the SPEC's UI contract), so a page that drifts from the
contract fails here.

Screenshots: :func:`shoot` saves a full-page PNG of a page at 1280 and 390 px wide into
``$REALMGATE_SCREENSHOTS`` (default ``.screenshots/``, gitignored); ``make console-screenshots``
points it at ``docs/console/`` for the documentation.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from playwright.sync_api import Locator, Page, expect

from tests.servers import Server

CHROMIUM = os.environ.get("REALMGATE_CHROMIUM", "/usr/bin/chromium")
CONSOLE = "/admin/console"
# Generous: the machine running the suite may be loaded (every wait is a deadline, not a sleep).
TIMEOUT_MS = 30_000
WIDTHS = (1280, 390)
SCREENSHOTS = Path(os.environ.get("REALMGATE_SCREENSHOTS") or ".screenshots")

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Operator:
    """A console account as the tests know it (the password only lives in the test process)."""

    username: str
    password: str = field(repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    last_step: int = -1  # the last TOTP step used (the server refuses a reused step)

    def next_code(self) -> str:
        """A TOTP code the server accepts now: the current step, or the next one (which it also
        accepts) when the current step was already used."""
        assert self.totp_secret is not None
        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        return totp_code(self.totp_secret, step)


def totp_code(secret_b32: str, step: int) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s) with ``cryptography``, as the server computes it."""
    import base64

    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    return TOTP(key, 6, SHA1(), 30).generate(step * 30).decode()


_PASSWORD_LINE = re.compile(r"^\s*password:\s+(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def add_operator(server: Server, username: str, role: str) -> Operator:
    """An operator created with ``realmgate operator add`` (its generated password as printed)."""
    out = server.cli("operator", "add", username, "--role", role).stdout
    found = _PASSWORD_LINE.search(out)
    assert found, f"no password line in the output of `realmgate operator add`:\n{out}"
    return Operator(username, found.group(1))


def admin_of(server: Server) -> Operator:
    """The first-start operator ``admin`` (``Server.operator``), else an admin made by the CLI."""
    creds = getattr(server, "operator", None)
    if creds is not None:
        return Operator(creds.client_id, creds.client_secret)
    return add_operator(server, "root", "admin")


def start_server(data_dir: Path, **env: str) -> Server:
    srv = Server(
        data_dir,
        None,
        extra_env={"REALMGATE_TRAFFIC_FLUSH_INTERVAL": "1", **env},
    )
    srv.start()
    return srv


PageFactory = Callable[[Server], Page]


def console_url(path: str = "/") -> str:
    return f"{CONSOLE}{path}"


def heading(page: Page) -> str:
    return page.locator("h1").first.inner_text().strip()


def expect_heading(page: Page, text: str) -> None:
    expect(page.locator("h1").first).to_have_text(text)


def nav_link(page: Page, name: str) -> Locator:
    """A link of the header's navigation (pages may link the same place in their text)."""
    return page.get_by_role("navigation").first.get_by_role("link", name=name, exact=True)


def nav_to(page: Page, name: str) -> None:
    nav_link(page, name).click()
    expect_heading(page, {"Onboard": "Onboard a tenant"}.get(name, name))


def expect_alert(page: Page, text: str) -> None:
    """An element with role alert (a form's error summary or a field's error) says ``text``."""
    expect(page.get_by_role("alert").filter(has_text=text).first).to_be_visible()


def submit_sign_in(page: Page, username: str, password: str) -> None:
    page.goto(console_url("/signin"))
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in(page: Page, op: Operator) -> None:
    """Signs ``op`` in (with its TOTP code when it has one) and waits for the dashboard."""
    submit_sign_in(page, op.username, op.password)
    if op.totp_secret is not None:
        page.get_by_label("Authentication code", exact=True).fill(op.next_code())
        page.get_by_role("button", name="Verify", exact=True).click()
    expect_heading(page, "Dashboard")


def signed_in_page(new_page: PageFactory, server: Server, op: Operator) -> Page:
    page = new_page(server)
    sign_in(page, op)
    return page


def csrf_of(page: Page) -> str:
    """The session's CSRF token, from any POST form of the page (the header's "Sign out")."""
    return page.locator("form[method=post] input[name=csrf]").first.input_value()


def form_action(page: Page, button: str) -> str:
    """The path a button's form posts to (so tests do not hard-code the console's POST URLs)."""
    action = page.get_by_role("button", name=button, exact=True).first.evaluate(
        "b => b.form.action"
    )
    return urlsplit(str(action)).path


def shoot(page: Page, name: str) -> None:
    """Saves ``<name>-1280.png`` and ``<name>-390.png`` (full page) into the screenshots
    directory, then restores the desktop width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
