"""Console security against a real server: headers on every response, cookie flags (and
Secure under TLS), CSRF and Origin checks, roles refused, sign-in throttling, HTML errors
and no 500 for garbage input."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

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
from tests.integration.helpers import poll
from tests.servers import Server

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
THROTTLED = re.compile(r"Too many failed sign-ins; try again in \d+ seconds")


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_clients()


def _secure_headers(r: httpx.Response, *, page: bool = True) -> None:
    assert r.headers["content-security-policy"] == CSP, r.url
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    if page:
        assert r.headers["cache-control"] == "no-store", r.url


def _html_page(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, (r.url, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert "Traceback" not in r.text
    _secure_headers(r)


def test_headers_on_every_console_response(server: Server) -> None:
    username, password = make_operator(server, "admin")
    anon = console_client(server)
    _secure_headers(anon.get(f"{CONSOLE}/"))  # the redirect to sign-in
    _secure_headers(anon.get(CONSOLE))  # the bare path: to the dashboard
    assert anon.get(CONSOLE).headers["location"] == f"{CONSOLE}/"
    _html_page(anon.get(f"{CONSOLE}/signin"), 200)
    _html_page(anon.get(f"{CONSOLE}/no/such/page"), 404)
    _html_page(anon.delete(f"{CONSOLE}/signin"), 405)
    c = signin(server, username, password)
    for path in ("/", "/account", "/throttling", "/operators"):
        r = c.get(f"{CONSOLE}{path}")
        _html_page(r, 200)
        assert "<script>" not in r.text and " style=" not in r.text and "onclick" not in r.text
    home = c.get(f"{CONSOLE}/")
    assets = re.findall(r'(?:href|src)="(/admin/console/static/[^"]+)"', home.text)
    assert len(assets) == 2
    for url in assets:
        assert re.fullmatch(r"/admin/console/static/console\.[0-9a-f]{12}\.(css|js)", url)
        r = anon.get(url)
        assert r.status_code == 200
        _secure_headers(r, page=False)
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    _html_page(anon.get(f"{CONSOLE}/static/console.000000000000.css"), 404)


def test_keycloak_paths_unchanged(server: Server) -> None:
    """The console's HTML errors stay under the console: /admin/realms keeps Keycloak's JSON."""
    r = httpx.get(f"{server.base_url}/admin/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")


def test_cookie_flags(server: Server) -> None:
    username, password = make_operator(server, "viewer")
    c = console_client(server)
    page = c.get(f"{CONSOLE}/signin")
    pre = page.headers["set-cookie"]
    assert "HttpOnly" in pre and "SameSite=strict" in pre and "Path=/admin/console" in pre
    r = c.post(
        f"{CONSOLE}/signin",
        data={"csrf": csrf_of(page.text), "username": username, "password": password},
    )
    assert r.status_code == 303
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("rg_console="))
    assert "HttpOnly" in session
    assert "SameSite=strict" in session
    assert "Path=/admin/console" in session
    assert "Secure" not in session  # plain HTTP here; see test_secure_cookie_under_tls
    value = session.split(";")[0].split("=", 1)[1]
    assert len(value) >= 43 and value not in c.get(f"{CONSOLE}/").text


def test_secure_cookie_under_tls(tmp_path: Path) -> None:
    """On SQLite only: the cookie flag does not depend on the database."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    tls = {"REALMGATE_TLS_CERT": str(cert_file), "REALMGATE_TLS_KEY": str(key_file)}
    srv = Server(tmp_path / "data", None, tls, scheme="https", verify=verify)
    srv.start()
    try:
        username, password = make_operator(srv, "viewer")
        c = console_client(srv)
        r = post_signin(c, username, password)
        assert r.status_code == 303
        session = next(h for h in r.headers.get_list("set-cookie") if h.startswith("rg_console="))
        assert "Secure" in session and "HttpOnly" in session
    finally:
        srv.stop()


def test_csrf_and_origin(server: Server) -> None:
    username, password = make_operator(server, "admin")
    c = signin(server, username, password)
    csrf = page_csrf(c)
    target = f"{CONSOLE}/operators"
    form = {"username": "csrf-victim", "role": "admin"}
    for data in (form, {**form, "csrf": ""}, {**form, "csrf": csrf[:-1] + "x"}):
        r = c.post(target, data=data)
        _html_page(r, 403)
        assert "Request refused" in r.text
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": server.base_url.replace("127.0.0.1", "localhost")},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        r = c.post(target, data={**form, "csrf": csrf}, headers=headers)
        _html_page(r, 403)
    assert "csrf-victim" not in c.get(target).text  # nothing was created
    # the sign-in form has its own token (no session yet)
    anon = console_client(server)
    anon.get(f"{CONSOLE}/signin")
    r = anon.post(f"{CONSOLE}/signin", data={"username": username, "password": password})
    _html_page(r, 403)
    page = anon.get(f"{CONSOLE}/signin")
    r = anon.post(
        f"{CONSOLE}/signin",
        data={"csrf": csrf_of(page.text), "username": username, "password": password},
        headers={"Origin": "https://evil.example"},
    )
    _html_page(r, 403)
    # a browser's own form POST under no-referrer: "Origin: null", same-origin metadata
    r = c.post(
        f"{CONSOLE}/operators",
        data={"csrf": csrf, "username": "Bad Name", "role": "viewer"},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 400  # past the checks: the form's own error
    # the same request from the console's own origin goes through
    r = c.post(
        f"{CONSOLE}/account/signout-all",
        data={"csrf": csrf},
        headers={"Origin": server.base_url, "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 303


def test_roles_refused(server: Server) -> None:
    for role in ("viewer", "support"):
        username, password = make_operator(server, role)
        c = signin(server, username, password)
        home = c.get(f"{CONSOLE}/")
        assert 'href="/admin/console/operators"' not in home.text
        assert 'href="/admin/console/onboard"' not in home.text
        csrf = csrf_of(home.text)
        _html_page(c.get(f"{CONSOLE}/operators"), 403)
        refused = [
            ("/operators", {"username": f"x-{role}", "role": "admin"}),
            (f"/operators/{username}/role", {"role": "admin"}),
            (f"/operators/{username}/remove", {}),
        ]
        if role == "viewer":
            refused.append(
                ("/throttling/unblock", {"tenant": "demo", "kind": "client", "key": "a"})
            )
            assert ">Unblock</button>" not in c.get(f"{CONSOLE}/throttling").text
        for path, data in refused:
            r = c.post(f"{CONSOLE}{path}", data={**data, "csrf": csrf})
            _html_page(r, 403)
        assert c.get(f"{CONSOLE}/").status_code == 200  # still signed in, still that role
    # without a session a POST only leads to the sign-in page
    r = httpx.post(f"{server.base_url}{CONSOLE}/operators", data={"username": "x"})
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{CONSOLE}/signin")


def test_garbage_input_never_500(server: Server) -> None:
    username, password = make_operator(server, "admin")
    c = signin(server, username, password)
    csrf = page_csrf(c)
    anon = console_client(server)
    anon.get(f"{CONSOLE}/signin")
    pre = anon.cookies.get("rg_console_pre", path=CONSOLE) or ""
    attempts = [
        (c, "/operators", b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (c, "/operators", b"csrf=" + csrf.encode() + b"&username=%ff%fe", None),
        (c, "/operators", b'{"username": "x"}', "application/json"),
        (c, "/operators", b"a=" + b"x" * 200_000, "application/x-www-form-urlencoded"),
        (c, "/operators", b"csrf=" + csrf.encode() + b"&username=a%00b&role=viewer", None),
        (c, "/operators/%00/role", b"csrf=" + csrf.encode() + b"&role=viewer", None),
        (c, "/operators/" + "x" * 3000 + "/remove", b"csrf=" + csrf.encode(), None),
        (c, "/throttling/unblock", b"csrf=" + csrf.encode() + b"&tenant=%00&kind=x", None),
        (
            c,
            "/throttling/unblock",
            b"csrf=" + csrf.encode() + b"&tenant=nope&kind=client&key=abc",
            None,
        ),
        (c, "/account/password", b"csrf=" + csrf.encode() + b"&new_password=" + b"y" * 5000, None),
        (c, "/account/totp/confirm", b"csrf=" + csrf.encode() + b"&code=%ff", None),
        (
            anon,
            "/signin",
            b"csrf=" + pre.encode() + b"&username=" + b"A" * 5000 + b"&password=x",
            None,
        ),
        (
            anon,
            "/signin",
            b"csrf=" + pre.encode() + b"&username=%00&password=%00&next=%0d%0a",
            None,
        ),
        (anon, "/signin/totp", b"code=1", None),
    ]
    for client, path, body, ctype in attempts:
        headers = {"Content-Type": ctype or "application/x-www-form-urlencoded"}
        r = client.post(f"{CONSOLE}{path}", content=body, headers=headers)
        assert r.status_code < 500, (path, r.status_code, r.text[:500])
        assert r.status_code in (303, 400, 401, 403, 404, 413), (path, r.status_code)
        if r.status_code != 303:
            assert r.headers["content-type"].startswith("text/html"), path
            assert "Traceback" not in r.text
    for path in (
        "/signin?next=%ff%fe",
        "/signin?next=javascript:alert(1)",
        "/?done=<script>",
        "/static/..%2f..%2fsettings.py",
        "/operators?x=" + "%00" * 100,
    ):
        r = c.get(f"{CONSOLE}{path}")
        assert r.status_code in (200, 303, 404), (path, r.status_code)
        assert "<script>" not in r.text


def test_throttled_sign_in(fresh_server: Server) -> None:
    fresh_server.env.update(
        {
            "REALMGATE_THROTTLE_CLIENT_FREE": "2",
            "REALMGATE_THROTTLE_BASE_DELAY": "60",
            "REALMGATE_THROTTLE_CLIENT_CAP": "120",
        }
    )
    fresh_server.start()
    username, password = make_operator(fresh_server, "viewer")
    other, other_pw = make_operator(fresh_server, "viewer")
    c = console_client(fresh_server)
    statuses = [post_signin(c, username, "a wrong password").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    for pw in ("a wrong password", password):  # blocked now, even with the right password
        r = post_signin(c, username, pw)
        _html_page(r, 429)
        assert THROTTLED.search(r.text)
        assert int(r.headers["retry-after"]) > 0
    # the block is the account's: another operator signs in from the same address
    assert post_signin(console_client(fresh_server), other, other_pw).status_code == 303
    # and an admin sees it on the Throttling page and lifts it
    admin, admin_pw = make_operator(fresh_server, "admin")
    a = signin(fresh_server, admin, admin_pw)
    page = a.get(f"{CONSOLE}/throttling")
    assert "#console" in page.text and username in page.text
    r = a.post(
        f"{CONSOLE}/throttling/unblock",
        data={"csrf": csrf_of(page.text), "tenant": "#console", "kind": "client", "key": username},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{CONSOLE}/throttling?done=unblocked"
    assert username not in a.get(f"{CONSOLE}/throttling").text
    signed = poll(  # every worker learns of the unblock through the change feed
        lambda: post_signin(console_client(fresh_server), username, password),
        lambda r: r.status_code == 303,
    )
    assert signed.status_code == 303


def test_an_oversized_form_is_refused_before_it_is_read(server: Server) -> None:
    """Over 64 KiB, declared or streamed without a length: 413, an HTML page, nothing done."""
    username, password = make_operator(server, "admin")
    c = signin(server, username, password)
    csrf = page_csrf(c)
    form = b"csrf=" + csrf.encode() + b"&shortcode=big&name=" + b"x" * 70_000
    ctype = {"content-type": "application/x-www-form-urlencoded"}

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(form), 8192):
            yield form[i : i + 8192]

    for content in (form, chunks()):
        r = c.post(f"{CONSOLE}/onboard", content=content, headers=ctype)
        assert r.status_code == 413, r.status_code
        assert r.headers["content-type"].startswith("text/html")
        assert "The form is too large." in r.text
    assert c.get(f"{CONSOLE}/tenants/big").status_code == 404


def _client_from(server: Server, address: str) -> httpx.Client:
    """A console client whose connections come from ``address`` (another loopback address)."""
    transport = httpx.HTTPTransport(local_address=address, verify=server.verify)
    client = httpx.Client(base_url=server.base_url, transport=transport, timeout=30)
    return client


def test_a_password_alone_makes_no_source_known_good(fresh_server: Server) -> None:
    """A source becomes known good for an account (spared the account's block) only after a
    whole sign-in: with TOTP, a right password alone does not exempt it while codes are
    guessed."""
    fresh_server.env.update(
        {
            "REALMGATE_THROTTLE_CLIENT_FREE": "2",
            "REALMGATE_THROTTLE_BASE_DELAY": "60",
            "REALMGATE_THROTTLE_CLIENT_CAP": "120",
        }
    )
    fresh_server.start()
    username, password = make_operator(fresh_server, "viewer")
    fresh_server.cli("operator", "totp-enroll", username, "--json")
    with _client_from(fresh_server, "127.0.0.2") as a:  # the right password, no code
        r = post_signin(a, username, password)
        assert r.status_code == 303 and "/signin/totp" in r.headers["location"]
    with _client_from(fresh_server, "127.0.0.3") as b:  # wrong passwords block the account
        assert [post_signin(b, username, "wrong password").status_code for _ in range(3)] == [
            401,
            401,
            401,
        ]
    with _client_from(fresh_server, "127.0.0.2") as a:
        r = post_signin(a, username, password)
        _html_page(r, 429)
