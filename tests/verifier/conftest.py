"""Fixtures for the verifier tests: keys made once per session, a fake SSO, clocks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from realmgate.jose import KeyPair, generate_key
from realmgate.verifier import JwksCache, Verifier

from .fakes import AUDIENCE, MONOTONIC_START, NOW, Clock, FakeSso, issuer


@pytest.fixture(scope="session")
def rsa_key() -> KeyPair:
    return generate_key("RS256")


@pytest.fixture(scope="session")
def ec_key() -> KeyPair:
    return generate_key("ES256")


@pytest.fixture(scope="session")
def ed_key() -> KeyPair:
    return generate_key("EdDSA")


@pytest.fixture(scope="session")
def other_key() -> KeyPair:
    """Another realm's key (or a key the realm never published)."""
    return generate_key("RS256")


@pytest.fixture
def sso(rsa_key: KeyPair, ec_key: KeyPair, ed_key: KeyPair) -> FakeSso:
    fake = FakeSso()
    fake.add_realm("acme", rsa_key, ec_key, ed_key)
    return fake


@pytest.fixture
def wall() -> Clock:
    return Clock(NOW)


@pytest.fixture
def mono() -> Clock:
    return Clock(MONOTONIC_START)


@pytest.fixture
def cache(sso: FakeSso, mono: Clock) -> Iterator[JwksCache]:
    with httpx.Client(transport=sso.transport()) as client:
        yield JwksCache(client, clock=mono)


@pytest.fixture
def verifier(sso: FakeSso, cache: JwksCache, wall: Clock) -> Verifier:
    return Verifier([issuer("acme")], audience=AUDIENCE, cache=cache, clock=wall)
