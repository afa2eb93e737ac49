"""BearerAuthMiddleware with sender-constrained tokens: DPoP (RFC 9449 §7, §8, §9) and
certificate-bound tokens (RFC 8705 §3), driven through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding

from realmgate.jose import KeyPair
from realmgate.jose.dpop import jwk_thumbprint, make_proof, public_jwk_of
from realmgate.verifier import (
    AsyncJwksCache,
    AsyncVerifier,
    DpopNonces,
    MemoryReplayCache,
    TrustedProxyCerts,
)
from realmgate.verifier._certs import cert_thumbprint
from realmgate.verifier.asgi import ASGIApp, BearerAuthMiddleware, Receive, Scope, Send

from .fakes import AUDIENCE, Clock, FakeSso, issuer, token

API = "https://api.example.com"
PATH = "/v2/tenants/current/settings"
ALGS = 'algs="ES256 EdDSA RS256 PS256"'
CLIENT_KEY = ec.generate_private_key(ec.SECP256R1())
THIEF_KEY = ec.generate_private_key(ec.SECP256R1())
JKT = jwk_thumbprint(public_jwk_of(CLIENT_KEY))


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    claims = scope.get("state", {}).get("token_claims")
    body = json.dumps({"client": claims.client_id if claims else None}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def call(
    app: Any, path: str = PATH, headers: Any = None, method: str = "GET", host: str = API
) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=host) as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(main())


def middleware(sso: FakeSso, mono: Clock, wall: Clock, **options: Any) -> BearerAuthMiddleware:
    cache = AsyncJwksCache(httpx.AsyncClient(transport=sso.transport()), clock=mono)
    verifier = AsyncVerifier([issuer("acme")], audience=AUDIENCE, cache=cache, clock=wall)
    options.setdefault("public_url", API)
    # The replay cache forgets by the same (fake) wall clock as the verifier.
    options.setdefault("replay_cache", MemoryReplayCache(clock=wall))
    return BearerAuthMiddleware(echo_app, verifier, path_prefixes=["/v2"], **options)


@pytest.fixture
def app(sso: FakeSso, mono: Clock, wall: Clock) -> BearerAuthMiddleware:
    return middleware(sso, mono, wall)


def dpop_headers(
    presented: str,
    wall: Clock,
    *,
    key: object = CLIENT_KEY,
    method: str = "GET",
    url: str = API + PATH,
    **proof: Any,
) -> dict[str, str]:
    proof.setdefault("access_token", presented)
    value = make_proof(key, method=method, url=url, now=wall.now, **proof)
    return {"Authorization": f"DPoP {presented}", "DPoP": value}


@pytest.fixture
def bound(rsa_key: KeyPair) -> str:
    return token(rsa_key, cnf={"jkt": JKT})


def test_dpop_bound_token_with_its_proof_is_accepted(
    app: BearerAuthMiddleware, bound: str, wall: Clock
) -> None:
    response = call(app, headers=dpop_headers(bound, wall))
    assert response.status_code == 200
    assert response.json() == {"client": "svc-reporting"}
    assert "dpop-nonce" not in response.headers


def test_query_string_is_not_part_of_htu(
    app: BearerAuthMiddleware, bound: str, wall: Clock
) -> None:
    response = call(app, PATH + "?page=2", dpop_headers(bound, wall, url=API + PATH + "?page=2"))
    assert response.status_code == 200


def test_stolen_token_without_the_key_is_refused(
    app: BearerAuthMiddleware, bound: str, wall: Clock
) -> None:
    """The thief signs a perfect proof, with their own key: the token's jkt is not theirs."""
    response = call(app, headers=dpop_headers(bound, wall, key=THIEF_KEY))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'DPoP error="invalid_dpop_proof", '
        'error_description="DPoP confirmation doesn\'t match DPoP proof", ' + ALGS
    )
    assert response.json()["error"] == "invalid_dpop_proof"


def test_stolen_token_as_bearer_is_refused(app: BearerAuthMiddleware, bound: str) -> None:
    """RFC 9449 §7.2: a DPoP-bound token presented as a bearer token."""
    response = call(app, headers={"Authorization": f"Bearer {bound}"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP error="invalid_token", ')
    assert challenge.endswith(ALGS)


def test_replayed_proof_is_refused(app: BearerAuthMiddleware, bound: str, wall: Clock) -> None:
    headers = dpop_headers(bound, wall)
    assert call(app, headers=headers).status_code == 200
    again = call(app, headers=headers)
    assert again.status_code == 401
    assert again.json() == {
        "error": "invalid_dpop_proof",
        "error_description": "DPoP proof has already been used",
    }
    assert again.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_a_refused_proof_does_not_use_up_its_jti(
    sso: FakeSso, mono: Clock, wall: Clock, bound: str
) -> None:
    nonces = DpopNonces(b"n" * 32, 300)
    app = middleware(sso, mono, wall, dpop_nonces=nonces)
    headers = dpop_headers(bound, wall, jti="same", nonce="stale")
    assert call(app, headers=headers).json()["error"] == "use_dpop_nonce"
    headers = dpop_headers(bound, wall, jti="same", nonce=nonces.current(wall.now))
    assert call(app, headers=headers).status_code == 200


def test_proof_for_another_method_or_url_is_refused(
    app: BearerAuthMiddleware, bound: str, wall: Clock
) -> None:
    wrong_method = call(app, headers=dpop_headers(bound, wall, method="POST"))
    assert wrong_method.json()["error_description"] == "DPoP HTTP method mismatch"
    wrong_url = call(app, headers=dpop_headers(bound, wall, url=API + "/v2/other"))
    assert wrong_url.json()["error_description"] == "DPoP HTTP URL mismatch"


def test_htu_is_built_from_public_url_never_from_host(
    app: BearerAuthMiddleware, bound: str, wall: Clock
) -> None:
    """A proof made for another host is refused even when the request's Host says that host."""
    evil = "https://evil.example.net"
    headers = dpop_headers(bound, wall, url=evil + PATH)
    response = call(app, headers=headers, host=evil)
    assert response.json()["error_description"] == "DPoP HTTP URL mismatch"
    fine = call(app, headers=dpop_headers(bound, wall), host="http://internal:8080")
    assert fine.status_code == 200


def test_proof_without_ath_or_for_another_token_is_refused(
    app: BearerAuthMiddleware, bound: str, rsa_key: KeyPair, wall: Clock
) -> None:
    no_ath = dpop_headers(bound, wall)
    no_ath["DPoP"] = make_proof(CLIENT_KEY, method="GET", url=API + PATH, now=wall.now)
    assert call(app, headers=no_ath).json()["error_description"] == (
        "No access token hash in DPoP proof"
    )
    other = token(rsa_key, cnf={"jkt": JKT}, jti="jti-2")
    wrong = dpop_headers(bound, wall, access_token=other)
    assert call(app, headers=wrong).json()["error_description"] == (
        "DPoP proof access token hash mismatch"
    )


def test_old_and_future_proofs_are_refused(
    app: BearerAuthMiddleware, bound: str, wall: Clock
) -> None:
    old = make_proof(
        CLIENT_KEY, method="GET", url=API + PATH, now=wall.now - 61, access_token=bound
    )
    ahead = make_proof(
        CLIENT_KEY, method="GET", url=API + PATH, now=wall.now + 6, access_token=bound
    )
    for proof in (old, ahead):
        response = call(app, headers={"Authorization": f"DPoP {bound}", "DPoP": proof})
        assert response.json()["error_description"] == "DPoP proof is not active"


def test_missing_or_doubled_dpop_header(app: BearerAuthMiddleware, bound: str, wall: Clock) -> None:
    missing = call(app, headers={"Authorization": f"DPoP {bound}"})
    assert missing.status_code == 401
    assert missing.json()["error_description"] == "DPoP proof is missing"
    one = dpop_headers(bound, wall)["DPoP"]
    two = dpop_headers(bound, wall)["DPoP"]
    doubled = call(app, headers=[("Authorization", f"DPoP {bound}"), ("DPoP", one), ("DPoP", two)])
    assert doubled.json()["error"] == "invalid_dpop_proof"


def test_unbound_token_with_dpop_scheme_is_refused(
    app: BearerAuthMiddleware, rsa_key: KeyPair, wall: Clock
) -> None:
    plain = token(rsa_key)
    response = call(app, headers=dpop_headers(plain, wall))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    assert call(app, headers={"Authorization": f"Bearer {plain}"}).status_code == 200


def test_invalid_token_under_dpop_scheme_gets_a_dpop_challenge(
    app: BearerAuthMiddleware, rsa_key: KeyPair, wall: Clock
) -> None:
    expired = token(rsa_key, exp=1, cnf={"jkt": JKT})
    response = call(app, headers=dpop_headers(expired, wall))
    assert response.headers["www-authenticate"] == (
        'DPoP error="invalid_token", error_description="The access token expired", ' + ALGS
    )


def test_missing_credentials_challenge_both_schemes(app: BearerAuthMiddleware) -> None:
    response = call(app)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f"Bearer, DPoP {ALGS}"
    assert response.json() == {"error_description": "A bearer or DPoP access token is required"}


def test_realm_appears_in_both_challenges(
    sso: FakeSso, mono: Clock, wall: Clock, bound: str
) -> None:
    app = middleware(sso, mono, wall, realm="api")
    assert call(app).headers["www-authenticate"] == f'Bearer realm="api", DPoP realm="api", {ALGS}'
    refused = call(app, headers={"Authorization": f"Bearer {bound}"})
    assert refused.headers["www-authenticate"].startswith('DPoP realm="api", error="invalid_token"')


def test_narrowed_algs_are_announced_and_enforced(
    sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair
) -> None:
    app = middleware(sso, mono, wall, dpop_algs=["ES256"])
    assert call(app).headers["www-authenticate"] == 'Bearer, DPoP algs="ES256"'
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_bound = token(rsa_key, cnf={"jkt": jwk_thumbprint(public_jwk_of(ed))})
    response = call(app, headers=dpop_headers(ed_bound, wall, key=ed))
    assert response.json()["error_description"] == "Unsupported DPoP algorithm"
    assert (
        call(middleware(sso, mono, wall), headers=dpop_headers(ed_bound, wall, key=ed)).status_code
        == 200
    )


def test_without_public_url_dpop_bound_tokens_are_refused(
    sso: FakeSso, mono: Clock, wall: Clock, bound: str, rsa_key: KeyPair
) -> None:
    app = middleware(sso, mono, wall, public_url=None)
    assert call(app).headers["www-authenticate"] == "Bearer"
    assert call(app, headers=dpop_headers(bound, wall)).headers["www-authenticate"] == "Bearer"
    as_bearer = call(app, headers={"Authorization": f"Bearer {bound}"})
    assert as_bearer.status_code == 401
    assert call(app, headers={"Authorization": f"Bearer {token(rsa_key)}"}).status_code == 200


def test_public_url_must_be_absolute(sso: FakeSso, mono: Clock, wall: Clock) -> None:
    for bad in ("api.example.com", "/v2", "https://api.example.com/?x=1", "ftp://x"):
        with pytest.raises(ValueError, match="public_url"):
            middleware(sso, mono, wall, public_url=bad)


def test_public_url_with_a_path_prefix(sso: FakeSso, mono: Clock, wall: Clock, bound: str) -> None:
    """Behind a proxy that strips /api, clients' htu includes it."""
    app = middleware(sso, mono, wall, public_url=API + "/api/")
    response = call(app, headers=dpop_headers(bound, wall, url=API + "/api" + PATH))
    assert response.status_code == 200


# Nonces (RFC 9449 §9).


def test_nonce_required_then_accepted(sso: FakeSso, mono: Clock, wall: Clock, bound: str) -> None:
    nonces = DpopNonces(b"k" * 32, lifetime=300)
    app = middleware(sso, mono, wall, dpop_nonces=nonces)
    first = call(app, headers=dpop_headers(bound, wall))
    assert first.status_code == 401
    assert first.json()["error"] == "use_dpop_nonce"
    assert first.headers["www-authenticate"].startswith('DPoP error="use_dpop_nonce"')
    nonce = first.headers["dpop-nonce"]
    second = call(app, headers=dpop_headers(bound, wall, nonce=nonce))
    assert second.status_code == 200
    assert second.headers["dpop-nonce"] == nonces.current(wall.now)


def test_stale_nonce_is_refused_with_a_fresh_one(
    sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair
) -> None:
    nonces = DpopNonces(b"k" * 32, lifetime=300)
    app = middleware(sso, mono, wall, dpop_nonces=nonces)
    long_lived = token(rsa_key, cnf={"jkt": JKT}, exp=int(wall.now) + 3600)
    old = nonces.current(wall.now)
    assert call(app, headers=dpop_headers(long_lived, wall, nonce=old)).status_code == 200
    wall.advance(600)
    response = call(app, headers=dpop_headers(long_lived, wall, nonce=old))
    assert response.json()["error"] == "use_dpop_nonce"
    assert response.headers["dpop-nonce"] == nonces.current(wall.now) != old


def test_nonce_from_another_process_with_the_same_secret(
    sso: FakeSso, mono: Clock, wall: Clock, bound: str
) -> None:
    a = middleware(sso, mono, wall, dpop_nonces=DpopNonces(b"s" * 32, 300))
    b = middleware(sso, mono, wall, dpop_nonces=DpopNonces(b"s" * 32, 300))
    nonce = call(a, headers=dpop_headers(bound, wall)).headers["dpop-nonce"]
    assert call(b, headers=dpop_headers(bound, wall, nonce=nonce)).status_code == 200


def test_shared_replay_cache_refuses_a_proof_used_at_another_process(
    sso: FakeSso, mono: Clock, wall: Clock, bound: str
) -> None:
    shared = MemoryReplayCache(clock=wall)
    a = middleware(sso, mono, wall, replay_cache=shared)
    b = middleware(sso, mono, wall, replay_cache=shared)
    headers = dpop_headers(bound, wall)
    assert call(a, headers=headers).status_code == 200
    assert call(b, headers=headers).json()["error_description"] == (
        "DPoP proof has already been used"
    )


# Certificate-bound tokens (RFC 8705 §3).


@pytest.fixture(scope="module")
def certs() -> tuple[str, bytes, bytes]:
    """(PEM of the client certificate, its DER, DER of another client's certificate)."""
    ca = trustme.CA()
    mine = ca.issue_cert("svc.example.com")
    other = ca.issue_cert("other.example.com")
    pem = mine.cert_chain_pems[0].bytes().decode()

    def der(pem_bytes: bytes) -> bytes:
        return x509.load_pem_x509_certificate(pem_bytes).public_bytes(Encoding.DER)

    return pem, der(pem.encode()), der(other.cert_chain_pems[0].bytes())


def with_tls(app: ASGIApp, pem: str) -> ASGIApp:
    """As an ASGI server with a TLS listener puts the client's certificate into the scope."""

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        extensions = {"tls": {"client_cert_chain": [pem]}}
        await app({**scope, "extensions": extensions}, receive, send)

    return inner


def test_cert_bound_token_over_its_own_connection(
    app: BearerAuthMiddleware, rsa_key: KeyPair, certs: tuple[str, bytes, bytes]
) -> None:
    pem, der, other = certs
    bound = token(rsa_key, cnf={"x5t#S256": cert_thumbprint(der)})
    headers = {"Authorization": f"Bearer {bound}"}
    assert call(with_tls(app, pem), headers=headers).status_code == 200
    without = call(app, headers=headers)
    assert without.status_code == 401
    assert without.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    other_pem = x509.load_der_x509_certificate(other).public_bytes(Encoding.PEM).decode()
    assert call(with_tls(app, other_pem), headers=headers).status_code == 401


def test_cert_bound_token_through_a_trusted_proxy_only(
    sso: FakeSso, mono: Clock, wall: Clock, rsa_key: KeyPair, certs: tuple[str, bytes, bytes]
) -> None:
    from urllib.parse import quote

    pem, der, _ = certs
    bound = token(rsa_key, cnf={"x5t#S256": cert_thumbprint(der)})
    headers = {"Authorization": f"Bearer {bound}", "X-SSL-Client-Cert": quote(pem)}
    # httpx.ASGITransport's client address is 127.0.0.1.
    trusted = middleware(
        sso, mono, wall, trusted_certs=TrustedProxyCerts("X-SSL-Client-Cert", "127.0.0.1/32")
    )
    assert call(trusted, headers=headers).status_code == 200
    untrusted = middleware(
        sso, mono, wall, trusted_certs=TrustedProxyCerts("X-SSL-Client-Cert", "10.0.0.0/8")
    )
    assert call(untrusted, headers=headers).status_code == 401
    no_proxies = middleware(sso, mono, wall)
    assert call(no_proxies, headers=headers).status_code == 401


def test_dpop_and_cert_bound_token_needs_both(
    app: BearerAuthMiddleware, rsa_key: KeyPair, wall: Clock, certs: tuple[str, bytes, bytes]
) -> None:
    pem, der, _ = certs
    both = token(rsa_key, cnf={"jkt": JKT, "x5t#S256": cert_thumbprint(der)})
    assert call(with_tls(app, pem), headers=dpop_headers(both, wall)).status_code == 200
    assert call(app, headers=dpop_headers(both, wall)).status_code == 401


@pytest.mark.parametrize("cnf", [{"jwk": {"kty": "EC"}}, "jkt", {}, {"jkt": 5}])
def test_unknown_or_malformed_confirmation_is_refused(
    app: BearerAuthMiddleware, rsa_key: KeyPair, wall: Clock, cnf: Any
) -> None:
    odd = token(rsa_key, cnf=cnf)
    assert call(app, headers={"Authorization": f"Bearer {odd}"}).status_code == 401
    assert call(app, headers=dpop_headers(odd, wall)).status_code == 401
