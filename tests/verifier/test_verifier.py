"""Verifier: what it accepts and, each in its own test, what it refuses."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from joserfc import jwt as joserfc_jwt

from realmgate.jose import KeyPair, generate_key
from realmgate.verifier import (
    DEFAULT_ALGORITHMS,
    AccessTokenClaims,
    InsufficientScopeError,
    InvalidTokenError,
    JwksCache,
    Verifier,
)

from .fakes import (
    AUDIENCE,
    NOW,
    SSO,
    Clock,
    FakeSso,
    b64json,
    claims,
    hs256_token,
    issuer,
    tamper,
    token,
    unsigned_token,
)

# joserfc flags the polymorphic "EdDSA" name (RFC 9864); realmgate keeps it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def refused(verifier: Verifier, jwt: str) -> InvalidTokenError:
    with pytest.raises(InvalidTokenError) as info:
        verifier.verify(jwt)
    return info.value


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key", "ed_key"])
def test_valid_token_is_accepted(
    key_name: str, request: pytest.FixtureRequest, verifier: Verifier, sso: FakeSso
) -> None:
    key: KeyPair = request.getfixturevalue(key_name)
    result = verifier.verify(token(key))
    assert isinstance(result, AccessTokenClaims)
    assert result.issuer == issuer("acme")
    assert result.audience == (AUDIENCE,)
    assert result.client_id == "svc-reporting"
    assert result.scopes == {"email", "profile"}
    assert result.roles == {"reader"}
    assert result.tenant == "acme"
    assert result.expires_at == NOW + 300
    assert (sso.count("discovery"), sso.count("jwks")) == (1, 1)


def test_keys_are_fetched_once_for_many_tokens(
    verifier: Verifier, sso: FakeSso, rsa_key: KeyPair, ec_key: KeyPair
) -> None:
    for i in range(20):
        verifier.verify(token(rsa_key if i % 2 else ec_key, jti=f"jti-{i}"))
    assert len(sso.requests) == 2


def test_typ_at_jwt_is_accepted(verifier: Verifier, rsa_key: KeyPair) -> None:
    assert verifier.verify(token(rsa_key, typ="at+jwt")).subject


def test_typ_foo_is_refused(verifier: Verifier, rsa_key: KeyPair) -> None:
    assert "type" in str(refused(verifier, token(rsa_key, typ="foo")))


def test_expiry_within_leeway_is_accepted(verifier: Verifier, rsa_key: KeyPair) -> None:
    assert verifier.verify(token(rsa_key, exp=NOW - 29)).subject


# --- refused -------------------------------------------------------------------------------


def test_alg_none_is_refused_without_fetching(
    verifier: Verifier, sso: FakeSso, rsa_key: KeyPair
) -> None:
    assert "algorithm" in str(refused(verifier, unsigned_token(rsa_key.kid, signature="x")))
    refused(verifier, unsigned_token(rsa_key.kid))
    assert sso.requests == []


@pytest.mark.parametrize(
    "header",
    [
        {"alg": ["RS256"], "kid": "k"},
        {"alg": "RS256", "kid": ["k"]},
        {"alg": "RS256", "kid": "k", "typ": 1},
        {"alg": "RS256", "kid": "k", "crit": ["exp"]},
        {"alg": "RS256"},
        ["not", "an", "object"],
    ],
)
def test_odd_headers_are_refused_without_fetching(
    header: Any, verifier: Verifier, sso: FakeSso
) -> None:
    jwt = f"{b64json(header)}.{b64json(claims())}.c2ln"
    assert isinstance(refused(verifier, jwt), InvalidTokenError)
    assert sso.requests == []


def test_hs256_signed_with_the_public_key_pem_is_refused(
    verifier: Verifier, sso: FakeSso, rsa_key: KeyPair
) -> None:
    verifier.verify(token(rsa_key))  # the key is cached: only the algorithm can stop it
    public_pem = rsa_key.key.as_pem(private=False)
    error = refused(verifier, hs256_token(public_pem, rsa_key.kid))
    assert "algorithm" in str(error)


def test_unknown_kid_is_refused_after_exactly_one_refetch(
    verifier: Verifier, sso: FakeSso, mono: Clock, rsa_key: KeyPair, other_key: KeyPair
) -> None:
    verifier.verify(token(rsa_key))
    assert sso.count("jwks") == 1
    mono.advance(verifier.cache.min_refetch_interval)
    assert "unknown key" in str(refused(verifier, token(other_key)))
    assert sso.count("jwks") == 2
    assert sso.count("discovery") == 1  # the jwks_uri stays known
    refused(verifier, token(other_key))
    assert sso.count("jwks") == 2


def test_expired_token_is_refused(verifier: Verifier, rsa_key: KeyPair) -> None:
    assert "expired" in str(refused(verifier, token(rsa_key, exp=NOW - 31)))


def test_token_not_valid_yet_is_refused(verifier: Verifier, rsa_key: KeyPair) -> None:
    assert "not valid yet" in str(refused(verifier, token(rsa_key, nbf=NOW + 60)))


def test_wrong_issuer_is_refused_without_fetching(
    verifier: Verifier, sso: FakeSso, rsa_key: KeyPair
) -> None:
    for wrong in ("http://sso.test/realms/acme", f"{issuer('acme')}/", "https://evil.test"):
        assert "issuer" in str(refused(verifier, token(rsa_key, iss=wrong)))
    assert sso.requests == []


def test_wrong_audience_is_refused(verifier: Verifier, rsa_key: KeyPair) -> None:
    assert "audience" in str(refused(verifier, token(rsa_key, aud="https://other.test")))
    assert "audience" in str(refused(verifier, token(rsa_key, aud=None)))


def test_token_of_an_untrusted_realm_is_refused(
    verifier: Verifier, sso: FakeSso, other_key: KeyPair
) -> None:
    sso.add_realm("globex", other_key)
    assert "issuer" in str(refused(verifier, token(other_key, "globex")))
    assert sso.count("jwks", "globex") == 0


def test_tampered_payload_is_refused(verifier: Verifier, rsa_key: KeyPair) -> None:
    forged = tamper(token(rsa_key), realm_access={"roles": ["tenant-admin"]})
    assert "signature" in str(refused(verifier, forged))


def test_token_over_the_size_cap_is_refused_without_fetching(
    verifier: Verifier, sso: FakeSso, rsa_key: KeyPair
) -> None:
    big = token(rsa_key, padding="x" * 8192)
    assert len(big) > 8192
    assert "too large" in str(refused(verifier, big))
    assert sso.requests == []


def test_smaller_size_cap(sso: FakeSso, cache: JwksCache, wall: Clock, rsa_key: KeyPair) -> None:
    small = Verifier([issuer("acme")], audience=AUDIENCE, max_token_bytes=600, cache=cache)
    assert "too large" in str(refused(small, token(rsa_key)))


def test_key_of_another_realm_is_refused(
    sso: FakeSso, cache: JwksCache, wall: Clock, rsa_key: KeyPair, other_key: KeyPair
) -> None:
    sso.add_realm("globex", other_key)
    both = Verifier([issuer("acme"), issuer("globex")], audience=AUDIENCE, cache=cache, clock=wall)
    assert "unknown key" in str(refused(both, token(other_key, "acme")))


# --- roles, scopes, several realms, construction ------------------------------------------


def test_missing_required_role_is_insufficient_scope(
    sso: FakeSso, cache: JwksCache, wall: Clock, rsa_key: KeyPair
) -> None:
    admin = Verifier(
        [issuer("acme")], audience=AUDIENCE, roles=["tenant-admin"], cache=cache, clock=wall
    )
    with pytest.raises(InsufficientScopeError) as info:
        admin.verify(token(rsa_key))
    assert info.value.status_code == 403
    assert info.value.scope == "tenant-admin"
    assert info.value.challenge() == (
        'Bearer error="insufficient_scope", '
        'error_description="The access token lacks a required role", scope="tenant-admin"'
    )
    roles = {"roles": ["reader", "tenant-admin"]}
    assert admin.verify(token(rsa_key, realm_access=roles)).roles == {"reader", "tenant-admin"}


def test_missing_required_scope_is_insufficient_scope(verifier: Verifier, rsa_key: KeyPair) -> None:
    with pytest.raises(InsufficientScopeError) as info:
        verifier.verify(token(rsa_key), scopes=["settings:write", "email"])
    assert info.value.scope == "settings:write"
    assert verifier.verify(token(rsa_key), scopes=["email"]).scopes == {"email", "profile"}


def test_several_issuers_are_trusted_at_once(
    sso: FakeSso, cache: JwksCache, wall: Clock, rsa_key: KeyPair, other_key: KeyPair
) -> None:
    sso.add_realm("globex", other_key)
    both = Verifier.from_realm(SSO, ["acme", "globex"], audience=AUDIENCE, cache=cache, clock=wall)
    assert both.issuers == {issuer("acme"), issuer("globex")}
    assert both.verify(token(rsa_key, "acme")).tenant == "acme"
    assert both.verify(token(other_key, "globex")).tenant == "globex"
    assert sso.count("jwks", "acme") == sso.count("jwks", "globex") == 1


def test_from_realm_builds_the_issuer(cache: JwksCache, wall: Clock, rsa_key: KeyPair) -> None:
    one = Verifier.from_realm(f"{SSO}/", "acme", audience=AUDIENCE, cache=cache, clock=wall)
    assert one.issuers == {issuer("acme")}
    assert one.verify(token(rsa_key)).tenant == "acme"
    with pytest.raises(ValueError, match="tenant"):
        Verifier.from_realm(SSO, "a/b", audience=AUDIENCE, cache=cache)


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["RS256", "HS512"], []])
def test_symmetric_or_no_algorithms_cannot_be_allowed(
    algorithms: list[str], cache: JwksCache
) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        Verifier([issuer("acme")], audience=AUDIENCE, algorithms=algorithms, cache=cache)


def test_no_trusted_issuer_is_an_error(cache: JwksCache) -> None:
    with pytest.raises(ValueError, match="issuer"):
        Verifier([], audience=AUDIENCE, cache=cache)


def test_algorithm_outside_the_allow_list_is_refused(
    cache: JwksCache, wall: Clock, ec_key: KeyPair
) -> None:
    rs_only = Verifier([issuer("acme")], audience=AUDIENCE, algorithms=["RS256"], cache=cache)
    assert "algorithm" in str(refused(rs_only, token(ec_key)))


def test_verifier_with_its_own_cache_closes_it(rsa_key: KeyPair) -> None:
    with Verifier([issuer("acme")], audience=AUDIENCE) as own:
        assert isinstance(own.cache, JwksCache)
        assert own.cache.ttl == 300
        assert own.cache.min_refetch_interval == 30
        assert own.policy.leeway == 30
        assert own.policy.algorithms == DEFAULT_ALGORITHMS
        assert own.policy.max_token_bytes == 8192
    assert own.cache._client.is_closed


def test_shared_cache_is_not_closed(cache: JwksCache) -> None:
    with Verifier([issuer("acme")], audience=AUDIENCE, cache=cache):
        pass
    assert not cache._client.is_closed


def test_rotated_key_is_picked_up_by_one_refetch(
    verifier: Verifier, sso: FakeSso, mono: Clock, rsa_key: KeyPair
) -> None:
    verifier.verify(token(rsa_key))
    new_key = generate_key("ES256")
    sso.keys["acme"].append(new_key)
    mono.advance(30)
    assert verifier.verify(token(new_key)).tenant == "acme"
    assert sso.count("jwks") == 2


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name lookups and connections this process attempts during the test (refused)."""
    attempts: list[str] = []

    def no_lookup(host: object, *args: object, **kwargs: object) -> Any:
        attempts.append(f"lookup {host}")
        raise OSError("no network in this test")

    def no_connect(self: socket.socket, address: object) -> None:
        attempts.append(f"connect {address}")
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    return attempts


def with_header(key: KeyPair, **header: str) -> str:
    """A token signed by ``key`` whose header also carries ``header``."""
    protected = {"alg": key.alg, "typ": "JWT", "kid": key.kid, **header}
    return joserfc_jwt.encode(protected, claims(), key.key)


def test_no_request_leaves_the_mock(
    sso: FakeSso,
    verifier: Verifier,
    mono: Clock,
    rsa_key: KeyPair,
    other_key: KeyPair,
    network: list[str],
) -> None:
    """Keys come only through the cache's HTTP client (here the mock transport) and only from
    the trusted issuer's host: never from key URLs a token names (``jku``, ``x5u``), nor for
    an issuer not trusted; an unknown ``kid`` is refetched from the same place. No name is
    looked up, no connection is opened."""
    elsewhere = {"jku": "https://evil.test/jwks", "x5u": "https://evil.test/cert.pem"}
    assert verifier.verify(with_header(rsa_key, **elsewhere)).tenant == "acme"
    mono.advance(verifier.cache.min_refetch_interval)
    assert "unknown key" in str(refused(verifier, with_header(other_key, **elsewhere)))
    refused(verifier, token(other_key, iss="https://evil.test/realms/acme"))
    assert network == []
    assert {r.url.host for r in sso.requests} == {httpx.URL(SSO).host}
    assert (sso.count("discovery"), sso.count("jwks")) == (1, 2)
