"""Fixtures of the browser tests: a real ``realmgate serve`` (SQLite), its admin
operator, one Chromium for the session and fresh browser contexts (own cookies) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.browser.support import (
    CHROMIUM,
    TIMEOUT_MS,
    WIDTHS,
    Operator,
    PageFactory,
    admin_of,
    start_server,
)
from tests.servers import Server


@pytest.fixture(scope="package")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server shared by the modules that do not need settings of their own (tests make
    their own tenants and operators); modules with other settings override this fixture."""
    srv = start_server(tmp_path_factory.mktemp("console"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(console_server: Server) -> Operator:
    """The server's first-start operator ``admin``."""
    return admin_of(console_server)


@pytest.fixture(scope="package")  # its event loop must end before other packages run
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"the browser tests need Chromium at {CHROMIUM} (`make browser` installs it)"
        )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Remembers whether the test's call failed (for the failure screenshots)."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[PageFactory]:
    """Opens a page in a fresh browser context (its own cookies) on a server's base URL.
    Confirm dialogs (``data-confirm``) are accepted, as an operator clicking OK would. Fails
    the test when a page broke its own Content-Security-Policy or raised a script error."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            problems.append(message.text)

    def open_page(server: Server) -> Page:
        context = browser.new_context(
            base_url=server.base_url, viewport={"width": WIDTHS[0], "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        return page

    yield open_page
    if request.node.stash.get(FAILED, False):  # what each page showed when the test failed
        failures = Path(".screenshots") / "failures"
        failures.mkdir(parents=True, exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                page.screenshot(path=str(failures / f"{request.node.name}-{n}-{m}.png"))
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)
