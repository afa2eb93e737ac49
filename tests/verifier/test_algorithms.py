"""RS384/512, PS256/384/512 and ES384/512 (the algorithms of keys imported from Keycloak):
accepted by default, refused when the allow-list leaves them out, and never mixed up."""

from __future__ import annotations

import httpx
import pytest

from realmgate.jose import KeyPair, generate_key
from realmgate.verifier import DEFAULT_ALGORITHMS, InvalidTokenError, JwksCache, Verifier

from .fakes import AUDIENCE, NOW, Clock, FakeSso, issuer, tamper, token

NEW_ALGORITHMS = ("RS384", "RS512", "PS256", "PS384", "PS512", "ES384", "ES512")


@pytest.fixture(scope="module")
def new_keys() -> dict[str, KeyPair]:
    return {alg: generate_key(alg) for alg in NEW_ALGORITHMS}


@pytest.fixture
def sso_new(new_keys: dict[str, KeyPair]) -> FakeSso:
    fake = FakeSso()
    fake.add_realm("acme", *new_keys.values())
    return fake


def make_verifier(
    sso: FakeSso, algorithms: frozenset[str] | list[str] = DEFAULT_ALGORITHMS
) -> tuple[Verifier, httpx.Client]:
    client = httpx.Client(transport=sso.transport())
    cache = JwksCache(client, clock=Clock(1000.0))
    verifier = Verifier(
        [issuer("acme")], audience=AUDIENCE, algorithms=algorithms, cache=cache, clock=Clock(NOW)
    )
    return verifier, client


def test_default_allow_list_is_every_asymmetric_algorithm_and_nothing_else() -> None:
    assert set(NEW_ALGORITHMS) | {"RS256", "ES256", "EdDSA"} == DEFAULT_ALGORITHMS
    assert not {"none", "HS256", "HS384", "HS512"} & DEFAULT_ALGORITHMS


@pytest.mark.parametrize("alg", NEW_ALGORITHMS)
def test_new_algorithm_verifies_by_default(
    alg: str, new_keys: dict[str, KeyPair], sso_new: FakeSso
) -> None:
    verifier, client = make_verifier(sso_new)
    with client:
        jwt = token(new_keys[alg])
        assert jwt.split(".")[0]  # a compact JWS
        assert verifier.verify(jwt).client_id == "svc-reporting"


@pytest.mark.parametrize("alg", NEW_ALGORITHMS)
def test_new_algorithm_with_a_tampered_signature_is_refused(
    alg: str, new_keys: dict[str, KeyPair], sso_new: FakeSso
) -> None:
    verifier, client = make_verifier(sso_new)
    with client, pytest.raises(InvalidTokenError, match="signature"):
        verifier.verify(tamper(token(new_keys[alg]), sub="someone-else"))


def test_allow_list_narrowed_to_rs256_refuses_ps256(
    new_keys: dict[str, KeyPair], sso_new: FakeSso
) -> None:
    verifier, client = make_verifier(sso_new, algorithms=["RS256"])
    with client, pytest.raises(InvalidTokenError, match="algorithm"):
        verifier.verify(token(new_keys["PS256"]))


def test_a_key_published_for_ps256_does_not_verify_an_rs384_header(
    new_keys: dict[str, KeyPair], sso_new: FakeSso
) -> None:
    """The key's published alg binds it: the same RSA key under another alg is refused."""
    ps = new_keys["PS256"]
    relabelled = KeyPair(kid=ps.kid, alg="RS384", key=ps.key)
    verifier, client = make_verifier(sso_new)
    with client, pytest.raises(InvalidTokenError, match="algorithm does not match"):
        verifier.verify(token(relabelled))
