"""RequireToken with DPoP-bound and certificate-bound tokens, in a FastAPI app.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

import asyncio
from typing import Annotated, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI

from realmgate.jose import KeyPair
from realmgate.jose.dpop import jwk_thumbprint, make_proof, public_jwk_of
from realmgate.verifier import (
    AccessTokenClaims,
    AsyncJwksCache,
    AsyncVerifier,
    DpopNonces,
    JwksCache,
    MemoryReplayCache,
    Verifier,
)
from realmgate.verifier.fastapi import RequireToken

from .fakes import AUDIENCE, Clock, FakeSso, issuer, token

API = "https://api.example.com"
ALGS = 'algs="ES256 EdDSA RS256 PS256"'
KEY = ec.generate_private_key(ec.SECP256R1())
JKT = jwk_thumbprint(public_jwk_of(KEY))


def build_app(verifier: "Verifier | AsyncVerifier", wall: Clock, **options: Any) -> FastAPI:
    app = FastAPI()
    options.setdefault("public_url", API)
    options.setdefault("replay_cache", MemoryReplayCache(clock=wall))
    read = RequireToken(verifier, **options)
    admin = RequireToken(verifier, roles=["tenant-admin"], **options)

    @app.get("/settings")
    async def get_settings(claims: Annotated[AccessTokenClaims, Depends(read)]) -> dict[str, Any]:
        return {"client": claims.client_id, "cnf": claims.confirmation}

    @app.patch("/settings")
    def patch_settings(claims: Annotated[AccessTokenClaims, Depends(admin)]) -> dict[str, Any]:
        return {"admin": True}

    return app


@pytest.fixture
def async_verifier(sso: FakeSso, mono: Clock, wall: Clock) -> AsyncVerifier:
    cache = AsyncJwksCache(httpx.AsyncClient(transport=sso.transport()), clock=mono)
    return AsyncVerifier([issuer("acme")], audience=AUDIENCE, cache=cache, clock=wall)


@pytest.fixture
def app(async_verifier: AsyncVerifier, wall: Clock) -> FastAPI:
    return build_app(async_verifier, wall)


def call(app: FastAPI, headers: dict[str, str], method: str = "GET") -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=API) as client:
            return await client.request(method, "/settings", headers=headers)

    return asyncio.run(main())


def dpop(presented: str, wall: Clock, method: str = "GET", **proof: Any) -> dict[str, str]:
    value = make_proof(
        KEY, method=method, url=API + "/settings", now=wall.now, access_token=presented, **proof
    )
    return {"Authorization": f"DPoP {presented}", "DPoP": value}


def test_dpop_bound_token_with_its_proof(app: FastAPI, rsa_key: KeyPair, wall: Clock) -> None:
    bound = token(rsa_key, cnf={"jkt": JKT})
    response = call(app, dpop(bound, wall))
    assert response.status_code == 200
    assert response.json() == {"client": "svc-reporting", "cnf": {"jkt": JKT}}


def test_replay_and_bearer_use_are_refused(app: FastAPI, rsa_key: KeyPair, wall: Clock) -> None:
    bound = token(rsa_key, cnf={"jkt": JKT})
    headers = dpop(bound, wall)
    assert call(app, headers).status_code == 200
    replay = call(app, headers)
    assert replay.status_code == 401
    assert replay.json() == {
        "detail": {
            "error": "invalid_dpop_proof",
            "error_description": "DPoP proof has already been used",
        }
    }
    as_bearer = call(app, {"Authorization": f"Bearer {bound}"})
    assert as_bearer.status_code == 401
    assert as_bearer.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    assert as_bearer.headers["www-authenticate"].endswith(ALGS)


def test_missing_credentials_challenge_both_schemes(app: FastAPI) -> None:
    response = call(app, {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f"Bearer, DPoP {ALGS}"


def test_role_is_checked_after_the_binding(app: FastAPI, rsa_key: KeyPair, wall: Clock) -> None:
    """A stolen bound token gets 401, not 403: nothing about its roles is told to the thief."""
    bound = token(rsa_key, cnf={"jkt": JKT})
    thief = ec.generate_private_key(ec.SECP256R1())
    proof = make_proof(
        thief, method="PATCH", url=API + "/settings", now=wall.now, access_token=bound
    )
    stolen = call(app, {"Authorization": f"DPoP {bound}", "DPoP": proof}, method="PATCH")
    assert stolen.status_code == 401
    owner = call(app, dpop(bound, wall, method="PATCH"), method="PATCH")
    assert owner.status_code == 403
    assert owner.headers["www-authenticate"].startswith('DPoP error="insufficient_scope"')


def test_nonce_flow_and_response_nonce(
    async_verifier: AsyncVerifier, rsa_key: KeyPair, wall: Clock
) -> None:
    nonces = DpopNonces(b"f" * 32, 300)
    app = build_app(async_verifier, wall, dpop_nonces=nonces)
    bound = token(rsa_key, cnf={"jkt": JKT})
    first = call(app, dpop(bound, wall))
    assert first.status_code == 401
    assert first.json()["detail"]["error"] == "use_dpop_nonce"
    nonce = first.headers["dpop-nonce"]
    second = call(app, dpop(bound, wall, nonce=nonce))
    assert second.status_code == 200
    assert second.headers["dpop-nonce"] == nonce
    plain = call(app, {"Authorization": f"Bearer {token(rsa_key)}"})
    assert plain.status_code == 200 and "dpop-nonce" not in plain.headers


def test_sync_verifier(sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair) -> None:
    cache = JwksCache(httpx.Client(transport=sso.transport()), clock=mono)
    verifier = Verifier([issuer("acme")], audience=AUDIENCE, cache=cache, clock=wall)
    app = build_app(verifier, wall)
    bound = token(rsa_key, cnf={"jkt": JKT})
    assert call(app, dpop(bound, wall)).status_code == 200
    thief = ec.generate_private_key(ec.SECP256R1())
    proof = make_proof(thief, method="GET", url=API + "/settings", now=wall.now, access_token=bound)
    assert call(app, {"Authorization": f"DPoP {bound}", "DPoP": proof}).status_code == 401
