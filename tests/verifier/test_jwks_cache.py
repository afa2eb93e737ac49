"""JwksCache: discovery, TTL, rate-limited refetch, outages, and which JWKs become keys."""

from __future__ import annotations

import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose import KeyPair, generate_key
from realmgate.verifier import InvalidTokenError, JwksCache, JwksFetchError, Verifier

from .fakes import (
    AUDIENCE,
    Clock,
    FakeSso,
    Outage,
    b64,
    connection_refused,
    garbage,
    issuer,
    service_unavailable,
    token,
)

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

ACME = issuer("acme")


def random_kid_token(key: KeyPair) -> str:
    forged = KeyPair(kid=secrets.token_urlsafe(16), alg=key.alg, key=key.key)
    return token(forged)


# --- rate limit and TTL --------------------------------------------------------------------


def test_flood_of_random_kids_costs_at_most_one_fetch_per_interval(
    verifier: Verifier, sso: FakeSso, mono: Clock, rsa_key: KeyPair
) -> None:
    verifier.verify(token(rsa_key))
    for _ in range(100):  # within the interval of the first fetch: no fetch at all
        with pytest.raises(InvalidTokenError):
            verifier.verify(random_kid_token(rsa_key))
    assert sso.count("jwks") == 1
    mono.advance(30)
    for _ in range(100):  # a new interval: one fetch for the whole flood
        with pytest.raises(InvalidTokenError):
            verifier.verify(random_kid_token(rsa_key))
    assert sso.count("jwks") == 2
    assert sso.count("discovery") == 1
    assert verifier.verify(token(rsa_key)).tenant == "acme"


def test_jwks_is_refetched_after_its_ttl(
    verifier: Verifier, sso: FakeSso, mono: Clock, rsa_key: KeyPair
) -> None:
    verifier.verify(token(rsa_key))
    mono.advance(299)
    verifier.verify(token(rsa_key))
    assert sso.count("jwks") == 1
    mono.advance(1)
    verifier.verify(token(rsa_key))
    assert sso.count("jwks") == 2


def test_a_removed_key_stops_working_after_a_refetch(
    verifier: Verifier, sso: FakeSso, mono: Clock, rsa_key: KeyPair, ec_key: KeyPair
) -> None:
    verifier.verify(token(rsa_key))
    sso.keys["acme"].remove(rsa_key)
    mono.advance(300)
    with pytest.raises(InvalidTokenError, match="unknown key"):
        verifier.verify(token(rsa_key))
    assert verifier.verify(token(ec_key)).tenant == "acme"


def test_custom_ttl_and_interval(sso: FakeSso, mono: Clock, rsa_key: KeyPair) -> None:
    client = httpx.Client(transport=sso.transport())
    cache = JwksCache(client, ttl=60, min_refetch_interval=5, clock=mono)
    cache.ensure(ACME)
    mono.advance(5)
    assert cache.resolve(ACME, "nope") is None
    assert sso.count("jwks") == 2
    mono.advance(60)
    cache.ensure(ACME, rsa_key.kid)
    assert sso.count("jwks") == 3


# --- outages -------------------------------------------------------------------------------


@pytest.mark.parametrize("outage", [service_unavailable, connection_refused, garbage])
def test_cached_keys_keep_working_when_the_jwks_endpoint_fails(
    outage: Outage,
    verifier: Verifier,
    sso: FakeSso,
    mono: Clock,
    rsa_key: KeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jwt = token(rsa_key)
    verifier.verify(jwt)
    sso.outage = outage
    mono.advance(301)  # the TTL expired: a refresh is due, and fails
    with caplog.at_level(logging.WARNING, logger="realmgate.verifier"):
        assert verifier.verify(jwt).tenant == "acme"
        for _ in range(10):  # failed attempts are rate-limited too
            verifier.verify(jwt)
    assert sso.count("jwks") == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert ACME in message
    assert "3 cached key(s)" in message
    assert jwt not in caplog.text and jwt.split(".")[2] not in caplog.text
    mono.advance(30)
    sso.outage = None
    verifier.verify(jwt)
    assert sso.count("jwks") == 3


@pytest.mark.parametrize(
    "document",
    [{"keys": "nope"}, {"keys": []}, {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}, []],
)
def test_jwks_without_usable_keys_does_not_replace_the_cache(
    document: Any, verifier: Verifier, sso: FakeSso, mono: Clock, rsa_key: KeyPair
) -> None:
    verifier.verify(token(rsa_key))
    sso.outage = lambda request: httpx.Response(200, json=document)
    mono.advance(300)
    assert verifier.verify(token(rsa_key)).tenant == "acme"
    assert sso.count("jwks") == 2


def test_first_fetch_failing_refuses_tokens_then_recovers(
    verifier: Verifier, sso: FakeSso, mono: Clock, rsa_key: KeyPair
) -> None:
    sso.outage = connection_refused
    with pytest.raises(InvalidTokenError, match="unknown key"):
        verifier.verify(token(rsa_key))
    with pytest.raises(InvalidTokenError):
        verifier.verify(token(rsa_key))
    assert len(sso.requests) == 1  # the discovery attempt, once per interval
    sso.outage = None
    mono.advance(30)
    assert verifier.verify(token(rsa_key)).tenant == "acme"


def test_refresh_raises_the_fetch_error(cache: JwksCache, sso: FakeSso) -> None:
    sso.outage = service_unavailable
    with pytest.raises(JwksFetchError, match="HTTP 503"):
        cache.refresh(ACME)
    sso.outage = connection_refused
    with pytest.raises(JwksFetchError, match="ConnectError"):
        cache.refresh(ACME)
    sso.outage = None
    assert cache.refresh(ACME) == 3


def test_oversized_jwks_is_refused(cache: JwksCache, sso: FakeSso) -> None:
    sso.outage = lambda request: httpx.Response(200, content=b"{" + b" " * 300_000 + b"}")
    with pytest.raises(JwksFetchError, match="more than"):
        cache.refresh(ACME)


# --- discovery -----------------------------------------------------------------------------


def test_discovery_naming_another_issuer_is_refused(cache: JwksCache, sso: FakeSso) -> None:
    sso.discovery_issuer["acme"] = "https://evil.test/realms/acme"
    with pytest.raises(JwksFetchError, match="another issuer"):
        cache.refresh(ACME)
    assert sso.count("jwks") == 0


def test_discovered_jwks_uri_must_be_https(cache: JwksCache, sso: FakeSso) -> None:
    sso.outage = lambda request: httpx.Response(
        200, json={"issuer": ACME, "jwks_uri": "http://sso.test/certs"}
    )
    with pytest.raises(JwksFetchError, match="https"):
        cache.refresh(ACME)


def test_pinned_jwks_uri_skips_discovery(sso: FakeSso, mono: Clock, rsa_key: KeyPair) -> None:
    pinned = {ACME: f"{ACME}/protocol/openid-connect/certs"}
    cache = JwksCache(httpx.Client(transport=sso.transport()), clock=mono, jwks_uris=pinned)
    assert cache.resolve(ACME, rsa_key.kid) is not None
    assert (sso.count("discovery"), sso.count("jwks")) == (0, 1)


def test_one_thread_fetches_while_the_others_wait(
    sso: FakeSso, cache: JwksCache, wall: Clock, rsa_key: KeyPair
) -> None:
    verifier = Verifier([ACME], audience=AUDIENCE, cache=cache, clock=wall)
    jwt = token(rsa_key)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: verifier.verify(jwt).tenant, range(32)))
    assert results == ["acme"] * 32
    assert (sso.count("discovery"), sso.count("jwks")) == (1, 1)


def test_a_lookup_during_a_fetch_waits_for_its_keys(
    sso: FakeSso, mono: Clock, rsa_key: KeyPair
) -> None:
    """A thread that asks for a key while another thread's fetch is in flight waits for that
    fetch instead of finding no key (the fetch's start already counts as a recent attempt)."""
    entered, release = threading.Event(), threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/certs"):
            entered.set()
            release.wait(30)
        return sso.handler(request)

    cache = JwksCache(httpx.Client(transport=httpx.MockTransport(slow)), clock=mono)
    results: dict[str, object] = {}

    def lookup(name: str) -> None:
        results[name] = cache.resolve(ACME, rsa_key.kid)

    first = threading.Thread(target=lookup, args=("first",))
    first.start()
    assert entered.wait(30)
    second = threading.Thread(target=lookup, args=("second",))
    second.start()
    second.join(0.2)  # with the bug, the second lookup returns None here, before the release
    release.set()
    first.join(30)
    second.join(30)
    assert results["first"] is not None
    assert results["second"] is not None
    assert sso.count("jwks") == 1


# --- which JWKs become keys ----------------------------------------------------------------


def publish(sso: FakeSso, *entries: Any) -> None:
    sso.keys["acme"] = []
    sso.extra_jwks["acme"] = list(entries)


def alg_of(cache: JwksCache, kid: str) -> str | None:
    found = cache.get(ACME, kid)
    return None if found is None else found[1]


def jwk_of(key: RSAKey | ECKey | OKPKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid, **extra}


def test_alg_is_inferred_from_kty_and_crv(cache: JwksCache, sso: FakeSso) -> None:
    rsa_k, ec_k, ed_k = (
        RSAKey.generate_key(2048),
        ECKey.generate_key("P-256"),
        OKPKey.generate_key("Ed25519"),
    )
    publish(sso, jwk_of(rsa_k, "r"), jwk_of(ec_k, "e"), jwk_of(ed_k, "o"))
    cache.refresh(ACME)
    assert [alg_of(cache, kid) for kid in ("r", "e", "o")] == ["RS256", "ES256", "EdDSA"]


def test_alg_from_the_jwk_wins(cache: JwksCache, sso: FakeSso) -> None:
    ec_k = ECKey.generate_key("P-384")
    rsa_k = RSAKey.generate_key(2048)
    publish(sso, jwk_of(ec_k, "e"), jwk_of(rsa_k, "p", alg="PS256"))
    cache.refresh(ACME)
    assert alg_of(cache, "e") == "ES384"
    assert alg_of(cache, "p") == "PS256"


def test_unusable_jwks_entries_are_ignored(cache: JwksCache, sso: FakeSso) -> None:
    good = generate_key("ES256")
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    small_rsa = {
        "kty": "RSA",
        "kid": "small",
        "n": b64(numbers.n.to_bytes(128, "big")),
        "e": "AQAB",
    }
    ec_k = ECKey.generate_key("P-256")
    x25519 = OKPKey.generate_key("X25519")
    publish(
        sso,
        good.public_jwk(),
        jwk_of(ec_k, "enc", use="enc"),
        jwk_of(ec_k, "wrap", key_ops=["wrapKey"]),
        jwk_of(ec_k, "hmac-alg", alg="HS256"),
        jwk_of(ec_k, "wrong-alg", alg="RS256"),
        jwk_of(ec_k, ""),
        small_rsa,
        jwk_of(x25519, "x25519"),
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "bad-point"},
        {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
        {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
        "not an object",
        {"kty": ["EC"], "kid": "list-kty"},
        {**jwk_of(ec_k, "list-crv"), "crv": ["P-256"]},
        jwk_of(ec_k, "list-alg", alg=["ES256"]),
        jwk_of(ec_k, "number-x", x=42),
    )
    assert cache.refresh(ACME) == 1
    assert cache.kids(ACME) == {good.kid}


def test_private_members_are_dropped(cache: JwksCache, sso: FakeSso) -> None:
    leaked = ECKey.generate_key("P-256")
    publish(sso, {**leaked.as_dict(private=True), "kid": "leaked", "use": "sig"})
    cache.refresh(ACME)
    found = cache.get(ACME, "leaked")
    assert found is not None and not found[0].is_private
