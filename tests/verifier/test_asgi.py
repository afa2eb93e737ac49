"""BearerAuthMiddleware, driven through httpx.ASGITransport against a tiny ASGI app."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from realmgate.jose import KeyPair
from realmgate.verifier import AsyncJwksCache, AsyncVerifier, JwksCache, Verifier
from realmgate.verifier.asgi import BearerAuthMiddleware, Receive, Scope, Send

from .fakes import AUDIENCE, Clock, FakeSso, issuer, token

ACME = issuer("acme")


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the subject and tenant the middleware put into the scope."""
    if scope["type"] != "http":
        return
    claims = scope.get("state", {}).get("token_claims")
    same = claims is scope.get("realmgate.claims")
    body = json.dumps(
        {"tenant": claims.tenant if claims else None, "same": same, "path": scope["path"]}
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def async_verifier(sso: FakeSso, mono: Clock, wall: Clock) -> AsyncVerifier:
    cache = AsyncJwksCache(httpx.AsyncClient(transport=sso.transport()), clock=mono)
    return AsyncVerifier([ACME], audience=AUDIENCE, cache=cache, clock=wall)


def call(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(main())


@pytest.fixture
def app(sso: FakeSso, mono: Clock, wall: Clock) -> BearerAuthMiddleware:
    return BearerAuthMiddleware(echo_app, async_verifier(sso, mono, wall), path_prefixes=["/v2"])


def bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


def test_valid_token_reaches_the_app_with_its_claims(
    app: BearerAuthMiddleware, rsa_key: KeyPair
) -> None:
    response = call(app, "/v2/tenants/current/settings", bearer(token(rsa_key)))
    assert response.status_code == 200
    assert response.json() == {
        "tenant": "acme",
        "same": True,
        "path": "/v2/tenants/current/settings",
    }


def test_missing_token_is_401_without_error_code(app: BearerAuthMiddleware) -> None:
    response = call(app, "/v2/x")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"error_description": "A bearer access token is required"}


def test_other_scheme_is_401_without_error_code(app: BearerAuthMiddleware) -> None:
    response = call(app, "/v2", {"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_invalid_token_is_401_invalid_token(app: BearerAuthMiddleware, rsa_key: KeyPair) -> None:
    response = call(app, "/v2/x", bearer(token(rsa_key, exp=1)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token expired"'
    )
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The access token expired",
    }


def test_malformed_header_is_401_invalid_token(app: BearerAuthMiddleware) -> None:
    response = call(app, "/v2/x", {"Authorization": "Bearer two words"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="The Authorization header is malformed"'
    )


def test_missing_role_is_403_insufficient_scope(
    sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair
) -> None:
    admin_only = BearerAuthMiddleware(
        echo_app, async_verifier(sso, mono, wall), roles=["tenant-admin"], realm="api"
    )
    response = call(admin_only, "/anything", bearer(token(rsa_key)))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required role", scope="tenant-admin"'
    )
    assert response.json()["error"] == "insufficient_scope"
    missing = call(admin_only, "/anything")
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'


def test_paths_outside_the_prefixes_pass_through(app: BearerAuthMiddleware) -> None:
    for path in ("/health", "/v2x", "/"):
        response = call(app, path)
        assert response.status_code == 200
        assert response.json()["tenant"] is None


def test_sync_verifier_runs_in_a_thread(
    sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair
) -> None:
    cache = JwksCache(httpx.Client(transport=sso.transport()), clock=mono)
    verifier = Verifier([ACME], audience=AUDIENCE, cache=cache, clock=wall)
    app = BearerAuthMiddleware(echo_app, verifier)
    assert call(app, "/v2/x", bearer(token(rsa_key))).json()["tenant"] == "acme"
    assert call(app, "/v2/x", bearer(token(rsa_key, aud="x"))).status_code == 401


def test_lifespan_passes_through(app: BearerAuthMiddleware) -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def main() -> None:
        middleware = BearerAuthMiddleware(inner, app.verifier)

        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def send(message: Any) -> None:
            raise AssertionError("nothing to send")

        await middleware({"type": "lifespan"}, receive, send)

    asyncio.run(main())
    assert seen == ["lifespan"]
