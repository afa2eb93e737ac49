"""The verifier's DPoP state and plumbing: replay cache, nonces, Authorization parsing,
Verifier.verify refusing sender-constrained tokens, Verifier.verify_request."""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from realmgate.jose import KeyPair
from realmgate.jose.dpop import jwk_thumbprint, make_proof, public_jwk_of
from realmgate.verifier import (
    Credentials,
    DpopNonces,
    InvalidDpopProofError,
    InvalidTokenError,
    MemoryReplayCache,
    ProtectedRequest,
    ReplayCache,
    ReplayCheckUnavailableError,
    SenderConstraint,
    UseDpopNonceError,
    Verifier,
    parse_authorization,
)

from .fakes import Clock, token

URL = "https://api.example.com/v2/x"
KEY = ec.generate_private_key(ec.SECP256R1())
JKT = jwk_thumbprint(public_jwk_of(KEY))


# MemoryReplayCache


def test_replay_cache_accepts_a_key_once_until_it_expires() -> None:
    clock = Clock(1000.0)
    cache = MemoryReplayCache(clock=clock)
    assert isinstance(cache, ReplayCache)
    assert cache.use("a", 1010.0) is True
    assert cache.use("a", 1010.0) is False
    assert cache.use("b", 1010.0) is True
    clock.advance(9)
    assert cache.use("a", 1020.0) is False
    clock.advance(1)
    assert cache.use("a", 1020.0) is True
    assert len(cache) == 1


def test_a_full_replay_cache_refuses_rather_than_forgets() -> None:
    clock = Clock(0.0)
    cache = MemoryReplayCache(max_entries=3, clock=clock)
    assert all(cache.use(k, 10.0) for k in "abc")
    assert cache.use("d", 10.0) is False
    assert cache.use("a", 10.0) is False
    clock.advance(10)
    assert cache.use("d", 20.0) is True


def test_replay_cache_under_threads_accepts_each_key_exactly_once() -> None:
    cache = MemoryReplayCache(clock=lambda: 0.0)
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for i in range(200):
            ok = cache.use(f"k{i}", 100.0)
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8 * 200
    assert results.count(True) == 200


def test_replay_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryReplayCache(max_entries=0)


# DpopNonces


def test_nonces_rotate_by_window_and_accept_the_previous_one() -> None:
    nonces = DpopNonces(b"s" * 32, lifetime=300)
    first = nonces.current(600.0)
    assert nonces.current(899.0) == first
    assert nonces.valid(first, 600.0) and nonces.valid(first, 1199.0)
    assert not nonces.valid(first, 1200.0)
    assert not nonces.valid(first, 599.0)
    second = nonces.current(900.0)
    assert second != first and nonces.valid(second, 900.0)
    assert not nonces.valid("", 600.0) and not nonces.valid("x" * 32, 600.0)


def test_nonces_agree_across_processes_with_the_same_secret_only() -> None:
    a, b = DpopNonces(b"s" * 32, 300), DpopNonces(b"s" * 32, 300)
    other = DpopNonces(b"t" * 32, 300)
    assert a.current(1000.0) == b.current(1000.0)
    assert not other.valid(a.current(1000.0), 1000.0)


def test_nonce_secret_is_checked_and_never_shown() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        DpopNonces(b"short", 300)
    with pytest.raises(ValueError, match="lifetime"):
        DpopNonces(b"s" * 32, 0)
    assert "sss" not in repr(DpopNonces(b"s" * 32, 300))


# Authorization parsing


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer abc.def.ghi", ("Bearer", "abc.def.ghi")),
        ("bearer abc", ("Bearer", "abc")),
        ("DPoP abc.def.ghi", ("DPoP", "abc.def.ghi")),
        ("dpop abc", ("DPoP", "abc")),
    ],
)
def test_parse_authorization(header: str | None, expected: tuple[str, str] | None) -> None:
    parsed = parse_authorization(header)
    assert (parsed.scheme, parsed.token) == expected if parsed else expected is None


def test_parse_authorization_without_dpop_and_malformed() -> None:
    assert parse_authorization("DPoP abc", dpop=False) is None
    with pytest.raises(InvalidTokenError) as caught:
        parse_authorization("DPoP two words")
    assert caught.value.scheme == "DPoP"


def test_credentials_repr_hides_the_token() -> None:
    assert "secret" not in repr(Credentials("Bearer", "secret-token"))


# Verifier.verify and Verifier.verify_request


def test_verify_refuses_sender_constrained_tokens(verifier: Verifier, rsa_key: KeyPair) -> None:
    assert verifier.verify(token(rsa_key)).confirmation is None
    with pytest.raises(InvalidTokenError) as dpop_bound:
        verifier.verify(token(rsa_key, cnf={"jkt": JKT}))
    assert dpop_bound.value.scheme == "DPoP"
    with pytest.raises(InvalidTokenError) as cert_bound:
        verifier.verify(token(rsa_key, cnf={"x5t#S256": "abc"}))
    assert cert_bound.value.scheme == "Bearer"


def test_verify_request_checks_proof_nonce_and_replay(
    verifier: Verifier, rsa_key: KeyPair, wall: Clock
) -> None:
    nonces = DpopNonces(b"n" * 32, 300)
    binding = SenderConstraint(replay_cache=MemoryReplayCache(clock=wall), nonces=nonces)
    bound = token(rsa_key, cnf={"jkt": JKT})

    def request(**proof: object) -> ProtectedRequest:
        value = make_proof(KEY, method="GET", url=URL, now=wall.now, access_token=bound, **proof)
        return ProtectedRequest(method="GET", url=URL, proofs=(value,))

    credentials = Credentials("DPoP", bound)
    with pytest.raises(UseDpopNonceError) as caught:
        verifier.verify_request(credentials, request(), binding)
    nonce = caught.value.nonce
    assert nonce == nonces.current(wall.now)
    good = request(nonce=nonce)
    claims = verifier.verify_request(credentials, good, binding)
    assert claims.confirmation == {"jkt": JKT}
    with pytest.raises(InvalidDpopProofError, match="already been used"):
        verifier.verify_request(credentials, good, binding)
    with pytest.raises(InvalidTokenError, match="not DPoP"):
        verifier.verify_request(Credentials("Bearer", bound), good, binding)


def test_sender_constraint_options_are_checked() -> None:
    with pytest.raises(ValueError, match="algs"):
        SenderConstraint(algs=["HS256"])
    with pytest.raises(ValueError, match="algs"):
        SenderConstraint(algs=[])
    with pytest.raises(ValueError, match="max_age"):
        SenderConstraint(max_age=0)


def test_a_failing_replay_cache_refuses_with_503_not_500(
    verifier: Verifier, rsa_key: KeyPair, wall: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Down:
        def use(self, key: str, expires_at: float) -> bool:
            raise ConnectionError("redis://:password@cache:6379 unreachable")

    binding = SenderConstraint(replay_cache=Down())
    bound = token(rsa_key, cnf={"jkt": JKT})
    proof = make_proof(KEY, method="GET", url=URL, now=wall.now, access_token=bound)
    request = ProtectedRequest(method="GET", url=URL, proofs=(proof,))
    with pytest.raises(ReplayCheckUnavailableError) as caught:
        verifier.verify_request(Credentials("DPoP", bound), request, binding)
    assert caught.value.status_code == 503
    assert "password" not in caplog.text and bound not in caplog.text
