"""The raw-ASGI hot routes keep every behaviour of the framework path (in process, over ASGI)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.http.app import RealmgateApp, create_app
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings

TOKEN = "/realms/acme/protocol/openid-connect/token"
SETTINGS = "/v2/tenants/current/settings"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False, access_log=True))
    yield rt
    rt.close()


@pytest.fixture
def creds(runtime: Runtime) -> IssuedCredentials:
    return Admin(runtime.store, runtime.vault, runtime.settings).create_tenant("acme")


@pytest.fixture
def app(runtime: Runtime) -> Starlette:
    return create_app(runtime)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        yield c


def body(creds: IssuedCredentials) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }


async def token(client: httpx.AsyncClient, creds: IssuedCredentials) -> str:
    r = await client.post(TOKEN, data=body(creds))
    assert r.status_code == 200
    return str(r.json()["access_token"])


def test_the_app_routes_the_two_hot_endpoints_past_the_framework(app: Starlette) -> None:
    assert isinstance(app, RealmgateApp) and app.hot is not None
    match = app.hot.match

    def scope(method: str, path: str) -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path}

    assert match(scope("POST", TOKEN)) is not None
    assert match(scope("GET", SETTINGS)) is not None
    assert match(scope("GET", TOKEN)) is None  # 405 comes from the framework path
    assert match(scope("PATCH", SETTINGS)) is None
    assert match(scope("POST", "/realms/a/b/protocol/openid-connect/token")) is None
    assert match(scope("POST", TOKEN + "/introspect")) is None


@pytest.mark.anyio
async def test_token_response_headers_and_request_id(
    client: httpx.AsyncClient, creds: IssuedCredentials
) -> None:
    r = await client.post(TOKEN, data=body(creds), headers={"X-Request-ID": "trace-42"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"] == "trace-42"
    assert int(r.headers["content-length"]) == len(r.content)
    assert set(r.json()) == {
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "token_type",
        "not-before-policy",
        "scope",
    }
    generated = {
        (await client.post(TOKEN, data=body(creds))).headers["x-request-id"] for _ in range(3)
    }
    assert len(generated) == 3 and all(len(rid) == 32 for rid in generated)


@pytest.mark.anyio
async def test_token_errors_keep_their_oauth_form(
    client: httpx.AsyncClient, creds: IssuedCredentials
) -> None:
    wrong = {**body(creds), "client_secret": "nope"}
    r = await client.post(TOKEN, data=wrong)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers["cache-control"] == "no-store"
    basic = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        auth=(creds.client_id, "nope"),
    )
    assert basic.status_code == 401
    assert basic.headers["www-authenticate"] == 'Basic realm="acme"'
    r = await client.post(TOKEN, content=b"grant_type=client_credentials")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert "Content-Type" in r.json()["error_description"]
    r = await client.post(TOKEN, content=b"a=" + b"x" * 70000, headers=FORM)
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b"x" * 1024

    r = await client.post(TOKEN, content=chunks(), headers=FORM)
    assert r.status_code == 413
    r = await client.get(TOKEN)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


@pytest.mark.anyio
async def test_access_log_of_a_hot_route_has_no_query_or_secret(
    client: httpx.AsyncClient, creds: IssuedCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="realmgate.access")
    r = await client.post(TOKEN + "?client_secret=hunter2", data=body(creds))
    assert r.status_code == 200
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "realmgate.access"]
    assert len(lines) == 1 and lines[0].startswith(f"POST {TOKEN} 200 ")
    assert "hunter2" not in caplog.text and creds.client_secret not in caplog.text


@pytest.mark.anyio
async def test_an_unexpected_error_is_a_500_in_the_endpoints_format(
    app: Starlette,
    client: httpx.AsyncClient,
    creds: IssuedCredentials,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access = await token(client, creds)
    state = app.state.realmgate

    async def boom(*args: object) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(state.grant, "handle_body", boom)
    monkeypatch.setattr(state.bearer, "authenticate", boom)
    caplog.set_level(logging.ERROR, logger="realmgate.http")
    oauth = await client.post(TOKEN, data=body(creds))
    assert oauth.status_code == 500
    assert oauth.json() == {
        "error": "server_error",
        "error_description": "The server could not complete the request.",
    }
    assert oauth.headers["cache-control"] == "no-store"
    assert "x-request-id" in oauth.headers
    jsend = await client.get(SETTINGS, headers={"Authorization": f"Bearer {access}"})
    assert jsend.status_code == 500
    assert jsend.json() == {"status": "error", "message": "Internal server error"}
    for response in (oauth, jsend):
        assert "secret detail" not in response.text and "Traceback" not in response.text
    errors = [rec for rec in caplog.records if rec.name == "realmgate.http"]
    assert len(errors) == 2  # one line per failure, with the trace for the operator
    assert all(rec.exc_info for rec in errors)


@pytest.mark.anyio
async def test_settings_get_on_the_hot_route(
    client: httpx.AsyncClient, creds: IssuedCredentials
) -> None:
    access = await token(client, creds)
    for _ in range(2):  # the second one is answered from the verified-token cache
        r = await client.get(SETTINGS, headers={"Authorization": f"Bearer {access}"})
        assert r.status_code == 200
        assert r.json()["data"]["shortcode"] == "acme"
        assert "x-request-id" in r.headers
    r = await client.get(SETTINGS)
    assert r.status_code == 401
    assert (
        r.headers["www-authenticate"]
        == 'Bearer realm="realmgate", DPoP algs="ES256 EdDSA RS256 PS256"'
    )
    assert r.json()["status"] == "fail"
    r = await client.get(SETTINGS, headers={"Authorization": "Bearer a.b.c"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
