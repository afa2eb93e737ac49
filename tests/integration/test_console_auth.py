"""Console sign-in against a real server: password, TOTP step and enrolment, sign-out (this
session, everywhere), password change, idle expiry, operators managed by an admin."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from realmgate.server.core.operators import totp_code
from tests.integration.console_helpers import (
    CONSOLE,
    close_clients,
    console_client,
    csrf_of,
    make_operator,
    page_csrf,
    post_signin,
    signin,
)
from tests.integration.helpers import poll, request_token
from tests.servers import Credentials, Server

BAD = "Invalid username or password"


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_clients()


def _secret(html: str) -> bytes:
    found = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', html)
    assert found, html
    b32 = found.group(1)
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def _enable_totp(client: httpx.Client, csrf: str) -> bytes:
    """Set up two-factor on the signed-in account; the code of the previous step confirms it
    (so the current step is still unused for the next sign-in)."""
    r = client.post(f"{CONSOLE}/account/totp/setup", data={"csrf": csrf})
    assert r.status_code == 200, r.text
    secret = _secret(r.text)
    code = totp_code(secret, time.time() - 30)
    r = client.post(f"{CONSOLE}/account/totp/confirm", data={"csrf": csrf, "code": code})
    assert r.status_code == 303, r.text
    return secret


def _wrong_code(secret: bytes) -> str:
    now = time.time()
    near = {totp_code(secret, now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in near)


def test_signin_and_signout(server: Server) -> None:
    username, password = make_operator(server, "viewer")
    with console_client(server) as c:
        r = c.get(f"{CONSOLE}/")
        assert r.status_code == 303
        assert r.headers["location"] == f"{CONSOLE}/signin?next=/admin/console/"
        for user, pw in ((username, "wrong password!!"), ("nobody-here", password), ("", "")):
            r = post_signin(c, user, pw)
            assert r.status_code == 401
            assert BAD in r.text
            assert "rg_console" not in r.cookies
        # what was typed stays in the form (the password does not)
        r = post_signin(c, username, "wrong password!!")
        assert f'value="{username}"' in r.text
        assert "wrong password!!" not in r.text
    c = signin(server, username, password)
    r = c.get(f"{CONSOLE}/")
    assert r.status_code == 200
    assert "<h1>Dashboard</h1>" in r.text
    token = c.cookies.get("rg_console", path=CONSOLE)
    assert token
    r = c.post(f"{CONSOLE}/signout", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 303
    assert r.headers["location"] == f"{CONSOLE}/signin?done=signed-out"
    assert 'rg_console=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    # the old cookie value grants nothing any more
    with console_client(server) as other:
        other.cookies.set("rg_console", token, path=CONSOLE)
        assert other.get(f"{CONSOLE}/").status_code == 303
    page = c.get(f"{CONSOLE}/signin?done=signed-out")
    assert '<p role="status" class="flash">You are signed out.</p>' in page.text


def test_next_is_only_a_console_path(server: Server) -> None:
    username, password = make_operator(server, "viewer")
    for nxt, expected in (
        ("/admin/console/throttling", "/admin/console/throttling"),
        ("https://evil.example/", "/admin/console/"),
        ("//evil.example/admin/console/", "/admin/console/"),
        ("/admin/consolex", "/admin/console/"),
        ("/admin/console//evil.example", "/admin/console/"),
    ):
        with console_client(server) as c:
            page = c.get(f"{CONSOLE}/signin", params={"next": nxt})
            assert page.status_code == 200
            r = c.post(
                f"{CONSOLE}/signin",
                data={
                    "csrf": csrf_of(page.text),
                    "username": username,
                    "password": password,
                    "next": nxt,
                },
            )
            assert r.status_code == 303
            assert r.headers["location"] == expected


def test_totp_second_step(server: Server) -> None:
    username, password = make_operator(server, "support")
    c = signin(server, username, password)
    secret = _enable_totp(c, page_csrf(c))
    r = c.get(f"{CONSOLE}/account")
    assert "Two-factor authentication is on" in r.text
    assert "totp-secret" not in r.text  # never shown again
    with console_client(server) as c:
        r = post_signin(c, username, password)
        assert r.status_code == 303
        assert r.headers["location"] == f"{CONSOLE}/signin/totp?next=/admin/console/"
        pending = c.cookies.get("rg_console", path=CONSOLE)
        # the pending session grants nothing but the code form
        for path in ("/", "/account", "/throttling"):
            r = c.get(f"{CONSOLE}{path}")
            assert r.status_code == 303
            assert r.headers["location"] == f"{CONSOLE}/signin/totp"
        form = c.get(f"{CONSOLE}/signin/totp")
        assert 'for="code">Authentication code</label>' in form.text
        csrf = csrf_of(form.text)
        r = c.post(f"{CONSOLE}/signin/totp", data={"csrf": csrf, "code": _wrong_code(secret)})
        assert r.status_code == 401
        assert "Wrong authentication code" in r.text
        r = c.post(
            f"{CONSOLE}/signin/totp", data={"csrf": csrf, "code": totp_code(secret, time.time())}
        )
        assert r.status_code == 303
        assert r.headers["location"] == f"{CONSOLE}/"
        assert c.cookies.get("rg_console", path=CONSOLE) != pending  # a new session id
        assert c.get(f"{CONSOLE}/").status_code == 200
    with console_client(server) as old:
        old.cookies.set("rg_console", pending or "", path=CONSOLE)
        assert old.get(f"{CONSOLE}/signin/totp").status_code == 303


def test_required_totp_enrolment(fresh_server: Server) -> None:
    fresh_server.env["REALMGATE_CONSOLE_REQUIRE_TOTP"] = "true"
    fresh_server.start()
    username, password = make_operator(fresh_server, "viewer")
    with console_client(fresh_server) as c:
        r = post_signin(c, username, password)
        assert r.status_code == 303
        assert r.headers["location"] == f"{CONSOLE}/account/enroll"
        r = c.get(f"{CONSOLE}/")
        assert r.headers["location"] == f"{CONSOLE}/account/enroll"
        page = c.get(f"{CONSOLE}/account/enroll")
        assert page.status_code == 200
        pending = c.cookies.get("rg_console", path=CONSOLE)
        csrf = csrf_of(page.text)
        r = c.post(f"{CONSOLE}/account/totp/setup", data={"csrf": csrf})
        secret = _secret(r.text)
        uri = re.search(r'<code id="totp-uri"[^>]*>([^<]+)</code>', r.text)
        assert uri
        b32 = base64.b32encode(secret).decode().rstrip("=")
        r = c.post(
            f"{CONSOLE}/account/totp/confirm",
            data={"csrf": csrf, "code": "12", "secret": b32, "uri": uri.group(1)},
        )
        assert r.status_code == 400
        assert 'id="code-error"' in r.text
        assert b32 in r.text  # not in force yet: shown again with the error
        code = totp_code(secret, time.time())
        r = c.post(f"{CONSOLE}/account/totp/confirm", data={"csrf": csrf, "code": code})
        assert r.status_code == 303
        assert r.headers["location"] == f"{CONSOLE}/?done=totp-enabled"
        assert c.cookies.get("rg_console", path=CONSOLE) != pending
        assert c.get(f"{CONSOLE}/").status_code == 200


def test_password_change(server: Server) -> None:
    username, password = make_operator(server, "viewer")
    c = signin(server, username, password)
    csrf = page_csrf(c)
    r = c.post(
        f"{CONSOLE}/account/password",
        data={"csrf": csrf, "current_password": "not it at all", "new_password": "x" * 20},
    )
    assert r.status_code == 400
    assert 'id="current_password-error"' in r.text
    r = c.post(
        f"{CONSOLE}/account/password",
        data={"csrf": csrf, "current_password": password, "new_password": "short"},
    )
    assert r.status_code == 400
    assert 'id="new_password-error"' in r.text
    new = "a brand new password"
    r = c.post(
        f"{CONSOLE}/account/password",
        data={"csrf": csrf, "current_password": password, "new_password": new},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{CONSOLE}/signin?done=password-changed"
    assert c.get(f"{CONSOLE}/account").status_code == 303  # every session ended
    with console_client(server) as again:
        assert post_signin(again, username, password).status_code == 401
        assert post_signin(again, username, new).status_code == 303


def test_sign_out_everywhere(server: Server) -> None:
    username, password = make_operator(server, "viewer")
    first = signin(server, username, password)
    second = signin(server, username, password)
    assert second.get(f"{CONSOLE}/").status_code == 200
    r = first.post(f"{CONSOLE}/account/signout-all", data={"csrf": page_csrf(first)})
    assert r.status_code == 303
    assert r.headers["location"] == f"{CONSOLE}/signin?done=signed-out-all"
    for c in (first, second):
        r = c.get(f"{CONSOLE}/")
        assert r.status_code == 303
        assert r.headers["location"].startswith(f"{CONSOLE}/signin")


def test_idle_session_expires(fresh_server: Server) -> None:
    fresh_server.env["REALMGATE_CONSOLE_SESSION_IDLE"] = "2"
    fresh_server.start()
    username, password = make_operator(fresh_server, "viewer")
    c = signin(fresh_server, username, password)
    assert c.get(f"{CONSOLE}/").status_code == 200

    def after_a_pause() -> httpx.Response:
        time.sleep(3)  # longer than the idle timeout: each look would otherwise renew it
        return c.get(f"{CONSOLE}/account")

    r = poll(after_a_pause, lambda r: r.status_code == 303, timeout=60)
    assert r.status_code == 303
    assert r.headers["location"] == f"{CONSOLE}/signin?next=/admin/console/account"


def test_admin_manages_operators(server: Server) -> None:
    admin, admin_pw = make_operator(server, "admin")
    c = signin(server, admin, admin_pw)
    csrf = page_csrf(c, "/operators")
    name = f"made-{int(time.time() * 1000) % 10**9}"
    r = c.post(f"{CONSOLE}/operators", data={"csrf": csrf, "username": name, "role": "viewer"})
    assert r.status_code == 200
    found = re.search(r'<code id="operator-password">([^<]+)</code>', r.text)
    assert found
    password = found.group(1)
    listing = c.get(f"{CONSOLE}/operators")
    assert name in listing.text
    assert password not in listing.text  # shown once
    # a duplicate and a bad name: inline errors, the typed value kept
    r = c.post(f"{CONSOLE}/operators", data={"csrf": csrf, "username": name, "role": "viewer"})
    assert r.status_code == 400
    assert 'id="username-error"' in r.text
    r = c.post(f"{CONSOLE}/operators", data={"csrf": csrf, "username": "Bad Name", "role": "x"})
    assert r.status_code == 400
    assert 'value="Bad Name"' in r.text
    assert 'id="role-error"' in r.text

    other = signin(server, name, password)
    assert other.get(f"{CONSOLE}/operators").status_code == 403  # a viewer
    r = c.post(f"{CONSOLE}/operators/{name}/role", data={"csrf": csrf, "role": "admin"})
    assert r.status_code == 303
    assert other.get(f"{CONSOLE}/operators").status_code == 200  # the role is read fresh
    r = c.post(f"{CONSOLE}/operators/{name}/disable", data={"csrf": csrf})
    assert r.status_code == 303
    assert other.get(f"{CONSOLE}/").status_code == 303  # disabling ends its sessions
    with console_client(server) as again:
        assert post_signin(again, name, password).status_code == 401
    assert c.post(f"{CONSOLE}/operators/{name}/enable", data={"csrf": csrf}).status_code == 303
    assert signin(server, name, password).get(f"{CONSOLE}/").status_code == 200
    # never on one's own account
    r = c.post(f"{CONSOLE}/operators/{admin}/remove", data={"csrf": csrf})
    assert r.status_code == 400
    r = c.post(f"{CONSOLE}/operators/{name}/remove", data={"csrf": csrf})
    assert r.status_code == 303
    assert name not in c.get(f"{CONSOLE}/operators").text
    assert c.post(f"{CONSOLE}/operators/{name}/remove", data={"csrf": csrf}).status_code == 404
    # the changes are audited under master, with the operator and the source address
    audit = server.cli(
        "audit", "list", "--tenant", "master", "--actor", f"console:{admin}", "--json"
    ).stdout
    assert "operator.role_changed" in audit
    assert "operator.removed" in audit
    assert f"operator:{name}" in audit
    assert "127.0.0.1" in audit


def _demo_row(html: str) -> tuple[int, int] | None:
    table = html[html.index('<table id="tenant-traffic">') :]
    found = re.search(r'>demo</a></td><td class="num">(\d+)</td><td class="num">(\d+)</td>', table)
    return (int(found.group(1)), int(found.group(2))) if found else None


def test_dashboard_shows_traffic(server: Server) -> None:
    """Tokens and failed client authentications reach the chart and the table (every worker
    writes its counts to the database every traffic_flush_interval)."""
    assert server.demo is not None
    username, password = make_operator(server, "viewer")
    c = signin(server, username, password)
    wrong = Credentials(server.demo.tenant, server.demo.client_id, "not-the-secret")
    for _ in range(3):
        assert request_token(server, server.demo).status_code == 200
        assert request_token(server, wrong).status_code == 401
    r = poll(
        lambda: c.get(f"{CONSOLE}/"),
        lambda r: min(_demo_row(r.text) or (0, 0)) >= 3,
        timeout=60,
    )
    row = _demo_row(r.text)
    assert row is not None and row[0] >= 3 and row[1] >= 3
    assert '<svg id="traffic-chart"' in r.text and 'role="img"' in r.text
    # the chart draws the busiest five tenants (on the shared server, other tests' may outdo demo)
    assert re.search(r'<polyline class="line s\d" points="[^"]+"><title>[^<]+</title>', r.text)
    assert 'id="blocked-now"' in r.text
