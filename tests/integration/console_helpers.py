"""Console test helpers: operators, sign-in with httpx, reading CSRF tokens from pages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import httpx

from tests.servers import Server

CONSOLE = "/admin/console"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

_CREATE = """
import json, sys
from realmgate.server.settings import Settings
from realmgate.server.runtime import open_runtime
from realmgate.server.core.operators import Operators
settings = Settings()
rt = open_runtime(settings)
try:
    _, password = Operators(rt.store, rt.vault, settings, actor="test").create(
        sys.argv[1], sys.argv[2], sys.argv[3] or None)
finally:
    rt.close()
print(json.dumps({"password": password}))
"""


def make_operator(
    server: Server, role: str = "admin", username: str | None = None
) -> tuple[str, str]:
    """A new operator on the server's database: (username, password)."""
    username = username or f"op-{uuid.uuid4().hex[:10]}"
    result = server.cli("operator", "add", username, "--role", role, "--json", check=False)
    if result.returncode == 0:
        return username, str(json.loads(result.stdout)["password"])
    done = subprocess.run(  # the CLI is not there (yet): the core service directly
        [sys.executable, "-c", _CREATE, username, role, ""],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return username, str(json.loads(done.stdout.strip().splitlines()[-1])["password"])


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf field in the page"
    return found.group(1)


_OPEN: list[httpx.Client] = []


def console_client(server: Server) -> httpx.Client:
    """A client of the console (closed by :func:`close_clients`, e.g. in an autouse fixture)."""
    client = httpx.Client(base_url=server.base_url, verify=server.verify, timeout=30)
    _OPEN.append(client)
    return client


def close_clients() -> None:
    while _OPEN:
        _OPEN.pop().close()


def post_signin(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """GET the sign-in form (its CSRF cookie and field), then POST the credentials."""
    page = client.get(f"{CONSOLE}/signin")
    assert page.status_code == 200, page.text
    return client.post(
        f"{CONSOLE}/signin",
        data={"csrf": csrf_of(page.text), "username": username, "password": password},
    )


def signin(server: Server, username: str, password: str) -> httpx.Client:
    """An httpx client with a signed-in console session (operator without TOTP)."""
    client = console_client(server)
    r = post_signin(client, username, password)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{CONSOLE}/", r.headers["location"]
    return client


def page_csrf(client: httpx.Client, path: str = "/account") -> str:
    """The session's CSRF token, read from a console page."""
    r = client.get(f"{CONSOLE}{path}")
    assert r.status_code == 200, r.text
    return csrf_of(r.text)
