"""DPoP and mutual TLS at the token endpoint: proofs per request, the nonce retry, token_type."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from realmgate.client import (
    ClientConfig,
    ConfigurationError,
    DpopKey,
    RetryPolicy,
    TokenProvider,
    TokenRequestError,
    TokenResponseError,
)
from realmgate.jose.dpop import DpopProof, check_proof

from .fakes import (
    CLIENT_ID,
    SECRET,
    SSO,
    TENANT,
    TOKEN_PREFIX,
    TOKEN_URL,
    FakeClock,
    Sleeper,
    async_provider,
    oauth_error,
    token_response,
)


class DpopTokenEndpoint:
    """A token endpoint that checks every proof (RFC 9449 §4.3) and refuses a replayed
    ``jti``; with ``nonces`` it asks for the next nonce of the list until it is used."""

    def __init__(self, nonces: list[str] | None = None, token_type: str = "DPoP") -> None:
        self.nonces = list(nonces or [])
        self.token_type = token_type
        self.proofs: list[DpopProof] = []
        self.requests: list[httpx.Request] = []
        self.before: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        proof = check_proof(request.headers["DPoP"], method="POST", url=TOKEN_URL, now=time.time())
        assert all(proof.jti != seen.jti for seen in self.proofs), "replayed proof"
        self.proofs.append(proof)
        if self.before:
            return self.before.pop(0)
        if self.nonces and proof.nonce != self.nonces[0]:
            return oauth_error(400, "use_dpop_nonce", "nonce", **{"DPoP-Nonce": self.nonces[0]})
        if self.nonces:
            self.nonces.pop(0)
        value = f"{TOKEN_PREFIX}{len(self.proofs)}"
        return token_response(value, token_type=self.token_type)


@pytest.fixture
def key() -> DpopKey:
    return DpopKey.generate()


def provider(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: FakeClock,
    sleeper: Sleeper,
    **kwargs: object,
) -> TokenProvider:
    options: dict[str, object] = {
        "sso_base_url": SSO,
        "tenant": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "http_client": httpx.Client(transport=httpx.MockTransport(handler)),
        "clock": clock,
        "sleep": sleeper.sleep,
    }
    options.update(kwargs)
    return TokenProvider(**options)  # type: ignore[arg-type]


def test_token_request_carries_a_proof_and_gets_a_dpop_token(
    key: DpopKey, clock: FakeClock, sleeper: Sleeper
) -> None:
    endpoint = DpopTokenEndpoint()
    token = provider(endpoint, clock, sleeper, dpop_key=key).get_token()
    assert token.token_type == "DPoP" and token.is_dpop
    assert token.authorization_header == f"DPoP {TOKEN_PREFIX}1"
    (proof,) = endpoint.proofs
    assert proof.jkt == key.jkt
    assert proof.nonce is None and proof.ath is None
    form = parse_qs(endpoint.requests[0].content.decode())
    assert form["client_secret"] == [SECRET]  # DPoP adds to client authentication


def test_use_dpop_nonce_is_retried_once_with_the_nonce(
    key: DpopKey, clock: FakeClock, sleeper: Sleeper
) -> None:
    endpoint = DpopTokenEndpoint(nonces=["nonce-A", "nonce-A"])
    tokens = provider(endpoint, clock, sleeper, dpop_key=key)
    assert tokens.get_token().value == f"{TOKEN_PREFIX}2"
    assert [p.nonce for p in endpoint.proofs] == [None, "nonce-A"]
    assert sleeper.sleeps == []  # no back-off for a nonce
    # The nonce is remembered: the next token request uses it at once.
    tokens.force_refresh()
    assert [p.nonce for p in endpoint.proofs] == [None, "nonce-A", "nonce-A"]


def test_a_second_use_dpop_nonce_is_not_retried(
    key: DpopKey, clock: FakeClock, sleeper: Sleeper
) -> None:
    endpoint = DpopTokenEndpoint()
    endpoint.before = [
        oauth_error(400, "use_dpop_nonce", "", **{"DPoP-Nonce": "n1"}),
        oauth_error(400, "use_dpop_nonce", "", **{"DPoP-Nonce": "n2"}),
    ]
    with pytest.raises(TokenRequestError) as info:
        provider(endpoint, clock, sleeper, dpop_key=key).get_token()
    assert info.value.error == "use_dpop_nonce"
    assert len(endpoint.requests) == 2


def test_use_dpop_nonce_without_a_nonce_is_an_error(
    key: DpopKey, clock: FakeClock, sleeper: Sleeper
) -> None:
    endpoint = DpopTokenEndpoint()
    endpoint.before = [oauth_error(400, "use_dpop_nonce")]
    with pytest.raises(TokenRequestError):
        provider(endpoint, clock, sleeper, dpop_key=key).get_token()
    assert len(endpoint.requests) == 1


def test_every_retry_gets_a_new_proof(key: DpopKey, clock: FakeClock, sleeper: Sleeper) -> None:
    endpoint = DpopTokenEndpoint()
    endpoint.before = [httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"})]
    assert provider(endpoint, clock, sleeper, dpop_key=key).get_token().is_dpop
    assert len({p.jti for p in endpoint.proofs}) == 3


def test_nonce_on_a_success_is_remembered(key: DpopKey, clock: FakeClock, sleeper: Sleeper) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        response = token_response("AT-x", token_type="DPoP")
        response.headers["DPoP-Nonce"] = "next-nonce"
        return response

    endpoint = DpopTokenEndpoint()
    endpoint.before = [answer(httpx.Request("POST", TOKEN_URL))]
    tokens = provider(endpoint, clock, sleeper, dpop_key=key)
    tokens.get_token()
    tokens.force_refresh()
    assert [p.nonce for p in endpoint.proofs] == [None, "next-nonce"]


def test_a_bearer_answer_to_a_proof_is_a_bearer_token(
    key: DpopKey, clock: FakeClock, sleeper: Sleeper
) -> None:
    endpoint = DpopTokenEndpoint(token_type="Bearer")
    token = provider(endpoint, clock, sleeper, dpop_key=key).get_token()
    assert token.token_type == "Bearer" and not token.is_dpop


def test_dpop_token_type_without_a_key_is_refused(clock: FakeClock, sleeper: Sleeper) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert "DPoP" not in request.headers
        return token_response("AT-1", token_type="DPoP")

    with pytest.raises(TokenResponseError, match="token_type"):
        provider(answer, clock, sleeper).get_token()


def test_async_provider_uses_the_key(key: DpopKey, clock: FakeClock, sleeper: Sleeper) -> None:
    import asyncio

    endpoint = DpopTokenEndpoint(nonces=["n-async"])

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as client:
            tokens = async_provider(client, clock, sleeper, dpop_key=key)
            token = await tokens.get_token()
            assert token.is_dpop
            assert tokens.dpop_key is key

    asyncio.run(main())
    assert [p.nonce for p in endpoint.proofs] == [None, "n-async"]
    assert {p.jkt for p in endpoint.proofs} == {key.jkt}


@pytest.mark.parametrize("method", ["tls_client_auth", "self_signed_tls_client_auth"])
def test_tls_client_auth_sends_only_the_client_id(
    clock: FakeClock, sleeper: Sleeper, method: str
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return token_response("AT-1")

    tokens = provider(answer, clock, sleeper, client_secret=None, auth_method=method, scope="a")
    assert tokens.get_token().value == "AT-1"
    (request,) = seen
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "scope": ["a"],
    }
    assert "Authorization" not in request.headers


def test_tls_client_auth_takes_no_secret_and_others_need_one() -> None:
    base = {"sso_base_url": SSO, "tenant": TENANT, "client_id": CLIENT_ID}
    with pytest.raises(ConfigurationError, match="takes no client_secret"):
        ClientConfig(**base, client_secret=SECRET, auth_method="tls_client_auth")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must not be empty"):
        ClientConfig(**base)  # type: ignore[arg-type]
    env = {"REALMGATE_SSO_URL": SSO, "REALMGATE_TENANT": TENANT, "REALMGATE_CLIENT_ID": CLIENT_ID}
    config = ClientConfig.from_env(env, auth_method="tls_client_auth")
    assert not config.client_secret
    with pytest.raises(ConfigurationError, match="REALMGATE_CLIENT_SECRET"):
        ClientConfig.from_env(env)


class ClosedOnce(httpx.BaseTransport):
    """A reused keep-alive connection the server closed: the first request gets no answer
    (as httpcore reports it: trace events of a reused connection, then the error)."""

    def __init__(self) -> None:
        self.proofs: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.proofs.append(request.headers["DPoP"])
        if len(self.proofs) == 1:
            trace = request.extensions["trace"]
            trace("http11.send_request_headers.started", {"request": request})
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return token_response("AT-1", token_type="DPoP")


def test_a_resent_token_request_carries_a_new_proof(
    key: DpopKey, clock: FakeClock, sleeper: Sleeper
) -> None:
    transport = ClosedOnce()
    tokens = provider(
        lambda r: httpx.Response(500),
        clock,
        sleeper,
        dpop_key=key,
        http_client=httpx.Client(transport=transport),
        retry=RetryPolicy(max_retries=0),
    )
    assert tokens.get_token().is_dpop
    checked = [
        check_proof(p, method="POST", url=TOKEN_URL, now=time.time()) for p in transport.proofs
    ]
    assert len(checked) == 2 and checked[0].jti != checked[1].jti
