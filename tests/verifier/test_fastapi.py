"""RequireToken, in a FastAPI app driven through httpx.ASGITransport.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

import asyncio
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from realmgate.jose import KeyPair
from realmgate.verifier import AccessTokenClaims, AsyncJwksCache, AsyncVerifier, JwksCache, Verifier
from realmgate.verifier.fastapi import RequireToken

from .fakes import AUDIENCE, Clock, FakeSso, issuer, token

ACME = issuer("acme")


def build_app(verifier: Verifier | AsyncVerifier) -> FastAPI:
    app = FastAPI()
    read = RequireToken(verifier)
    admin = RequireToken(verifier, roles=["tenant-admin"], realm="api")

    @app.get("/settings")
    async def get_settings(claims: Annotated[AccessTokenClaims, Depends(read)]) -> dict[str, Any]:
        return {"tenant": claims.tenant}

    @app.patch("/settings")
    def patch_settings(claims: Annotated[AccessTokenClaims, Depends(admin)]) -> dict[str, Any]:
        return {"tenant": claims.tenant, "admin": True}

    return app


@pytest.fixture
def app(sso: FakeSso, mono: Clock, wall: Clock) -> FastAPI:
    cache = AsyncJwksCache(httpx.AsyncClient(transport=sso.transport()), clock=mono)
    return build_app(AsyncVerifier([ACME], audience=AUDIENCE, cache=cache, clock=wall))


def call(app: FastAPI, method: str, path: str, jwt: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {jwt}"} if jwt else {}

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(main())


def test_valid_token_gives_the_claims(app: FastAPI, rsa_key: KeyPair) -> None:
    response = call(app, "GET", "/settings", token(rsa_key))
    assert response.status_code == 200
    assert response.json() == {"tenant": "acme"}


def test_missing_token_is_401_without_error_code(app: FastAPI) -> None:
    response = call(app, "GET", "/settings")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": {"error_description": "A bearer access token is required"}}
    assert call(app, "PATCH", "/settings").headers["www-authenticate"] == 'Bearer realm="api"'


def test_invalid_token_is_401_invalid_token(app: FastAPI, rsa_key: KeyPair) -> None:
    response = call(app, "GET", "/settings", token(rsa_key, aud="https://other.test"))
    assert response.status_code == 401
    description = "The access token is not meant for this audience"
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{description}"'
    )
    assert response.json() == {
        "detail": {"error": "invalid_token", "error_description": description}
    }


def test_missing_role_is_403_insufficient_scope(app: FastAPI, rsa_key: KeyPair) -> None:
    response = call(app, "PATCH", "/settings", token(rsa_key))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required role", scope="tenant-admin"'
    )
    admin = token(rsa_key, realm_access={"roles": ["tenant-admin"]})
    assert call(app, "PATCH", "/settings", admin).json() == {"tenant": "acme", "admin": True}


def test_sync_verifier_works_too(sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair) -> None:
    cache = JwksCache(httpx.Client(transport=sso.transport()), clock=mono)
    app = build_app(Verifier([ACME], audience=AUDIENCE, cache=cache, clock=wall))
    assert call(app, "GET", "/settings", token(rsa_key)).json() == {"tenant": "acme"}
    assert call(app, "GET", "/settings", "not.a.token").status_code == 401


def test_bearer_scheme_is_in_the_openapi_document(app: FastAPI) -> None:
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes == {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
