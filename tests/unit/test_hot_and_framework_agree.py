"""The hot routes (raw ASGI) and the framework routes answer every request alike: the same
request, sent to the app with its hot routes and to the same app without them, gets the same
status, headers and body (the token itself and the request id aside)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.http.app import RealmgateApp, create_app
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings

TOKEN = "/realms/acme/protocol/openid-connect/token"
SETTINGS = "/v2/tenants/current/settings"
FORM = "application/x-www-form-urlencoded"
VARYING = {"date", "x-request-id"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


@pytest.fixture
def creds(runtime: Runtime) -> IssuedCredentials:
    return Admin(runtime.store, runtime.vault, runtime.settings).create_tenant("acme")


@pytest.fixture
async def clients(runtime: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    hot = create_app(runtime)
    plain = create_app(runtime)
    assert isinstance(plain, RealmgateApp)
    plain.hot = None  # every request through the framework
    out = []
    for app in (hot, plain):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        out.append(httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080"))
    async with out[0], out[1]:
        yield out[0], out[1]


def form(creds: IssuedCredentials, **over: str) -> str:
    fields = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        **over,
    }
    return "&".join(f"{k}={v}" for k, v in fields.items())


def comparable(r: httpx.Response) -> tuple[int, list[tuple[str, str]], Any]:
    headers = sorted((k, v) for k, v in r.headers.multi_items() if k not in VARYING)
    try:
        body: Any = r.json()
    except ValueError:
        return r.status_code, headers, r.content
    if isinstance(body, dict) and "access_token" in body:
        body = {**body, "access_token": "<token>"}
        headers = [(k, v) for k, v in headers if k != "content-length"]
    return r.status_code, headers, body


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def token_cases(creds: IssuedCredentials) -> list[dict[str, Any]]:
    basic = basic_header(creds.client_id, creds.client_secret)
    wrong = basic_header(creds.client_id, "nope")
    return [
        {"content": form(creds), "headers": [("content-type", FORM)]},
        {"content": form(creds), "headers": [("content-type", FORM + "; charset=UTF-8")]},
        {"content": form(creds, client_secret="nope"), "headers": [("content-type", FORM)]},
        {"content": form(creds), "headers": [("content-type", "text/plain")]},
        {"content": form(creds), "headers": []},
        {
            "content": form(creds),
            "headers": [("content-type", FORM), ("content-type", "text/plain")],
        },
        {
            "content": "grant_type=client_credentials",
            "headers": [("content-type", FORM), ("authorization", basic)],
        },
        {
            "content": "grant_type=client_credentials",
            "headers": [("content-type", FORM), ("authorization", wrong)],
        },
        {
            "content": "grant_type=client_credentials",
            "headers": [("content-type", FORM), ("authorization", basic), ("authorization", wrong)],
        },
        {"content": "a=" + "x" * 70000, "headers": [("content-type", FORM)]},
        {
            "content": form(creds),
            "headers": [("content-type", FORM), ("content-length", "999999999")],
        },
        {"content": "grant_type=password", "headers": [("content-type", FORM)]},
        {"content": "%ff%fe=1", "headers": [("content-type", FORM)]},
        {"content": form(creds) + "&grant_type=x", "headers": [("content-type", FORM)]},
    ]


@pytest.mark.anyio
async def test_token_requests_get_the_same_answer_on_both_paths(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], creds: IssuedCredentials
) -> None:
    hot, plain = clients
    for case in token_cases(creds):
        a = await hot.post(TOKEN, content=case["content"], headers=case["headers"])
        b = await plain.post(TOKEN, content=case["content"], headers=case["headers"])
        assert comparable(a) == comparable(b), case["headers"]


@pytest.mark.anyio
async def test_settings_requests_get_the_same_answer_on_both_paths(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], creds: IssuedCredentials
) -> None:
    hot, plain = clients
    r = await hot.post(TOKEN, content=form(creds), headers={"content-type": FORM})
    token = r.json()["access_token"]
    cases: list[list[tuple[str, str]]] = [
        [("authorization", f"Bearer {token}")],
        [("authorization", f"bearer {token}")],
        [],
        [("authorization", "Bearer")],
        [("authorization", "Basic abc")],
        [("authorization", f"Bearer {token}x")],
        [("authorization", f"Bearer {token}"), ("authorization", "Bearer other")],
        [("authorization", f"Bearer {'a' * 20000}")],
    ]
    for headers in cases:
        a = await hot.get(SETTINGS, headers=headers)
        b = await plain.get(SETTINGS, headers=headers)
        assert comparable(a) == comparable(b), headers
        assert a.status_code != 500


@pytest.mark.anyio
async def test_a_duplicate_authorization_header_is_refused_on_every_path(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], creds: IssuedCredentials
) -> None:
    hot, _ = clients
    r = await hot.post(TOKEN, content=form(creds), headers={"content-type": FORM})
    token = r.json()["access_token"]
    twice = [("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")]
    for method, path, headers in [
        ("GET", SETTINGS, twice),
        ("PATCH", SETTINGS, [*twice, ("content-type", "application/json")]),
        ("POST", TOKEN + "/introspect", [*twice, ("content-type", FORM)]),
        ("POST", TOKEN, [*twice, ("content-type", FORM)]),
        ("GET", "/realms/acme/protocol/openid-connect/certs", twice),
        ("GET", "/health/live", twice),
    ]:
        r = await hot.request(method, path, headers=headers, content=b"{}")
        assert r.status_code == 400, (method, path)
        assert r.headers["connection"] == "close"
        body = json.loads(r.content)
        assert "Authorization" in json.dumps(body)
