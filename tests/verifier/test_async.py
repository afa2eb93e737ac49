"""AsyncVerifier and AsyncJwksCache, driven with asyncio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx
import pytest

from realmgate.jose import KeyPair
from realmgate.verifier import (
    AsyncJwksCache,
    AsyncVerifier,
    InsufficientScopeError,
    InvalidTokenError,
    JwksFetchError,
)

from .fakes import (
    AUDIENCE,
    SSO,
    Clock,
    FakeSso,
    Outage,
    connection_refused,
    issuer,
    service_unavailable,
    token,
)

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

ACME = issuer("acme")


def make(sso: FakeSso, mono: Clock, wall: Clock, scopes: Sequence[str] = ()) -> AsyncVerifier:
    cache = AsyncJwksCache(httpx.AsyncClient(transport=sso.transport()), clock=mono)
    return AsyncVerifier([ACME], audience=AUDIENCE, scopes=scopes, cache=cache, clock=wall)


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key", "ed_key"])
def test_valid_token_is_accepted(
    key_name: str, request: pytest.FixtureRequest, sso: FakeSso, mono: Clock, wall: Clock
) -> None:
    key: KeyPair = request.getfixturevalue(key_name)

    async def main() -> str | None:
        async with make(sso, mono, wall) as verifier:
            return (await verifier.verify(token(key))).tenant

    assert asyncio.run(main()) == "acme"
    assert (sso.count("discovery"), sso.count("jwks")) == (1, 1)


def test_concurrent_cold_verifications_fetch_once(
    sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair
) -> None:
    async def main() -> list[str | None]:
        verifier = make(sso, mono, wall)
        jwt = token(rsa_key)
        results = await asyncio.gather(*(verifier.verify(jwt) for _ in range(50)))
        return [claims.tenant for claims in results]

    assert asyncio.run(main()) == ["acme"] * 50
    assert (sso.count("discovery"), sso.count("jwks")) == (1, 1)


def test_unknown_kid_refetches_once_then_is_refused(
    sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair, other_key: KeyPair
) -> None:
    async def main() -> None:
        verifier = make(sso, mono, wall)
        await verifier.verify(token(rsa_key))
        mono.advance(30)
        for _ in range(100):
            with pytest.raises(InvalidTokenError, match="unknown key"):
                await verifier.verify(token(other_key))

    asyncio.run(main())
    assert sso.count("jwks") == 2


def test_untrusted_and_malformed_tokens_fetch_nothing(
    sso: FakeSso, mono: Clock, wall: Clock, other_key: KeyPair
) -> None:
    async def main() -> None:
        verifier = make(sso, mono, wall)
        for bad in (token(other_key, "globex"), "a.b.c", "x" * 9000, token(other_key, iss=SSO)):
            with pytest.raises(InvalidTokenError):
                await verifier.verify(bad)

    asyncio.run(main())
    assert sso.requests == []


@pytest.mark.parametrize("outage", [service_unavailable, connection_refused])
def test_cached_keys_survive_an_outage(
    outage: Outage,
    sso: FakeSso,
    mono: Clock,
    wall: Clock,
    rsa_key: KeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        verifier = make(sso, mono, wall)
        await verifier.verify(token(rsa_key))
        sso.outage = outage
        mono.advance(600)
        with caplog.at_level(logging.WARNING, logger="realmgate.verifier"):
            assert (await verifier.verify(token(rsa_key))).tenant == "acme"
        with pytest.raises(JwksFetchError):
            await verifier.cache.refresh(ACME)

    asyncio.run(main())
    assert "stay in use" in caplog.text


def test_required_roles_per_call(sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair) -> None:
    async def main() -> None:
        verifier = make(sso, mono, wall, scopes=["email"])
        with pytest.raises(InsufficientScopeError, match="role"):
            await verifier.verify(token(rsa_key), roles=["tenant-admin"])
        with pytest.raises(InsufficientScopeError, match="scope"):
            await verifier.verify(token(rsa_key, scope="profile"))
        assert (await verifier.verify(token(rsa_key), roles=["reader"])).roles == {"reader"}

    asyncio.run(main())


def test_from_realm(sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair) -> None:
    async def main() -> str | None:
        cache = AsyncJwksCache(httpx.AsyncClient(transport=sso.transport()), clock=mono)
        verifier = AsyncVerifier.from_realm(SSO, "acme", audience=AUDIENCE, cache=cache, clock=wall)
        return (await verifier.verify(token(rsa_key))).tenant

    assert asyncio.run(main()) == "acme"


def test_own_cache_is_closed() -> None:
    async def main() -> AsyncVerifier:
        async with AsyncVerifier([ACME], audience=AUDIENCE) as verifier:
            return verifier

    assert asyncio.run(main()).cache._client.is_closed
