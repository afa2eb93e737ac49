"""DPoP-bound tokens at a resource server: httpx auth, requests auth, the tenant API client."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from requests.adapters import BaseAdapter

from realmgate.client import (
    ApiAuthError,
    AsyncTokenProvider,
    BearerTokenAuth,
    DpopKey,
    TenantApiClient,
    TokenProvider,
)
from realmgate.client.requests_auth import RequestsBearerAuth
from realmgate.jose.dpop import DpopError, DpopProof, check_proof, jwk_thumbprint

from .fakes import API, CLIENT_ID, SECRET, SETTINGS_URL, SSO, TENANT, TOKEN_URL, token_response

URL = "https://api.test/v2/things"
ALGS = 'algs="ES256 EdDSA RS256 PS256"'


class Server:
    """Token endpoint and resource server: DPoP tokens bound to the proof's key; the
    resource server checks every proof (``ath`` and the binding too) and wants a nonce."""

    def __init__(self, nonce: str | None = "rs-nonce-1") -> None:
        self.nonce = nonce
        self.bound: dict[str, str] = {}  # token -> jkt
        self.proofs: list[DpopProof] = []
        self.seen: list[httpx.Request] = []
        self.reject_tokens: set[str] = set()
        self.raw_proofs: list[str] = []

    def token(self, request: httpx.Request) -> httpx.Response:
        proof = check_proof(request.headers["DPoP"], method="POST", url=TOKEN_URL, now=now())
        value = f"AT-{len(self.bound) + 1}"
        self.bound[value] = proof.jkt
        return token_response(value, token_type="DPoP")

    def check(self, method: str, url: str, authorization: str, dpop: str | None) -> str | None:
        """``None`` when the request may pass, else the DPoP error code."""
        scheme, _, token = authorization.partition(" ")
        if scheme != "DPoP" or token not in self.bound or token in self.reject_tokens:
            return "invalid_token"
        if dpop is None:
            return "invalid_dpop_proof"
        try:
            proof = check_proof(dpop, method=method, url=url, now=now(), access_token=token)
        except DpopError:
            return "invalid_dpop_proof"
        assert all(proof.jti != seen.jti for seen in self.proofs), "replayed proof"
        self.proofs.append(proof)
        self.raw_proofs.append(dpop)
        if proof.jkt != self.bound[token]:
            return "invalid_token"
        if self.nonce is not None and proof.nonce != self.nonce:
            return "use_dpop_nonce"
        return None

    def answer(self, error: str | None) -> tuple[int, dict[str, str]]:
        if error is None:
            return 200, {}
        headers = {"WWW-Authenticate": f'DPoP error="{error}", {ALGS}'}
        if error == "use_dpop_nonce" and self.nonce is not None:
            headers["DPoP-Nonce"] = self.nonce
        return 401, headers


class HttpxServer(Server):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        # A copy: an auth flow sends the same (mutated) request object again.
        self.seen.append(httpx.Request(request.method, request.url, headers=request.headers))
        url = str(request.url.copy_with(query=None, fragment=None))
        error = self.check(
            request.method,
            url,
            request.headers.get("Authorization", ""),
            request.headers.get("DPoP"),
        )
        status, headers = self.answer(error)
        body = {"status": "success", "data": settings()} if status == 200 else {"status": "fail"}
        return httpx.Response(status, headers=headers, json=body)


def now() -> float:
    return time.time()


def settings() -> dict[str, Any]:
    return {
        "shortcode": TENANT,
        "name": "ACME",
        "locale": "de-AT",
        "timezone": "Europe/Vienna",
        "defaultTranscriptionLanguage": None,
        "transcriptionLanguages": [],
        "duplicateCheck": False,
        "maxActiveWebhooksPerUser": 5,
        "accessTokenLifespan": 7200,
        "sessionMaxLifespan": 36000,
        "createdAt": "2024-01-02T03:04:05Z",
        "updatedAt": "2024-01-02T03:04:05Z",
    }


def options(http_client: object, key: DpopKey) -> dict[str, Any]:
    return {
        "sso_base_url": SSO,
        "tenant": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "http_client": http_client,
        "dpop_key": key,
    }


@pytest.fixture
def key() -> DpopKey:
    return DpopKey.generate("EdDSA")


@pytest.fixture
def server() -> HttpxServer:
    return HttpxServer()


@pytest.fixture
def http(server: HttpxServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        yield client


def test_httpx_auth_sends_a_bound_proof_and_learns_the_nonce(
    server: HttpxServer, http: httpx.Client, key: DpopKey
) -> None:
    provider = TokenProvider(**options(http, key))
    http.auth = BearerTokenAuth(provider)
    first = http.get(URL + "?q=1")
    assert first.status_code == 200
    # One 401 use_dpop_nonce, then the same token with a proof carrying the nonce.
    assert [r.headers["Authorization"] for r in server.seen] == ["DPoP AT-1", "DPoP AT-1"]
    assert [p.nonce for p in server.proofs] == [None, "rs-nonce-1"]
    assert http.post(URL, content=b"x").status_code == 200  # nonce known: one request
    assert len(server.seen) == 3
    assert {p.jkt for p in server.proofs} == {key.jkt}
    assert len({p.jti for p in server.proofs}) == 3
    assert len(server.bound) == 1  # the nonce retry took no new token


def test_httpx_auth_refreshes_a_rejected_token_once(
    server: HttpxServer, http: httpx.Client, key: DpopKey
) -> None:
    server.nonce = None
    server.reject_tokens = {"AT-1"}
    http.auth = BearerTokenAuth(TokenProvider(**options(http, key)))
    assert http.get(URL).status_code == 200
    assert [r.headers["Authorization"] for r in server.seen] == ["DPoP AT-1", "DPoP AT-2"]
    server.reject_tokens = {"AT-2", "AT-3"}
    assert http.get(URL).status_code == 401  # a second 401 goes back to the caller
    assert len(server.seen) == 4


def test_the_same_nonce_again_is_not_retried(
    server: HttpxServer, http: httpx.Client, key: DpopKey
) -> None:
    http.auth = BearerTokenAuth(TokenProvider(**options(http, key)))
    assert http.get(URL).status_code == 200
    server.nonce = "rs-nonce-2"  # the server now wants a nonce it did not send
    server.answer = lambda error: (  # type: ignore[method-assign]
        (
            401,
            {
                "WWW-Authenticate": f'DPoP error="use_dpop_nonce", {ALGS}',
                "DPoP-Nonce": "rs-nonce-1",
            },
        )
        if error
        else (200, {})
    )
    seen = len(server.seen)
    assert http.get(URL).status_code == 401
    assert len(server.seen) == seen + 1  # no loop, no new token
    assert len(server.bound) == 1


def test_a_bearer_token_sends_no_proof(key: DpopKey) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return token_response("AT-bearer")
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        http.auth = BearerTokenAuth(TokenProvider(**options(http, key)))
        http.get(URL, headers={"DPoP": "stale"})
    assert seen[0].headers["Authorization"] == "Bearer AT-bearer"
    assert "DPoP" not in seen[0].headers


def test_async_httpx_auth(server: HttpxServer, key: DpopKey) -> None:
    async def main() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
            provider = AsyncTokenProvider(**options(http, key))
            http.auth = BearerTokenAuth(provider)
            return (await http.get(URL)).status_code

    assert asyncio.run(main()) == 200
    assert [p.nonce for p in server.proofs] == [None, "rs-nonce-1"]


def test_tenant_api_client(server: HttpxServer, http: httpx.Client, key: DpopKey) -> None:
    api = TenantApiClient(API, TokenProvider(**options(http, key)), http_client=http)
    assert api.get_settings().shortcode == TENANT
    assert {r.url.path for r in server.seen} == {"/v2/tenants/current/settings"}
    assert all(p.htu == SETTINGS_URL for p in server.proofs)
    server.reject_tokens = {"AT-1", "AT-2"}
    with pytest.raises(ApiAuthError) as info:
        api.get_settings()
    assert info.value.error == "invalid_token"  # read from the DPoP challenge


# --------------------------------------------------------------------------- requests


class Adapter(BaseAdapter):
    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append(request)
        url = str(request.url).split("?")[0]
        error = self.server.check(
            str(request.method),
            url,
            request.headers.get("Authorization", ""),
            request.headers.get("DPoP"),
        )
        status, headers = self.server.answer(error)
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response.raw = io.BytesIO(b"{}")
        response.url = str(request.url)
        response.request = request
        response.connection = self  # type: ignore[assignment]
        return response

    def close(self) -> None:
        pass


def test_requests_auth(server: HttpxServer, http: httpx.Client, key: DpopKey) -> None:
    adapter = Adapter(server)
    session = requests.Session()
    session.mount("https://api.test/", adapter)
    session.auth = RequestsBearerAuth(TokenProvider(**options(http, key)))
    response = session.post(URL + "?x=1", data=b"body")
    assert response.status_code == 200
    assert [r.headers["Authorization"] for r in adapter.seen] == ["DPoP AT-1", "DPoP AT-1"]
    assert [p.nonce for p in server.proofs] == [None, "rs-nonce-1"]
    assert [p.htm for p in server.proofs] == ["POST", "POST"]
    assert len(response.history) == 1
    server.reject_tokens = {"AT-1"}
    assert session.get(URL).status_code == 200
    assert adapter.seen[-1].headers["Authorization"] == "DPoP AT-2"
    assert jwk_thumbprint(key.public_jwk) == server.proofs[-1].jkt


def test_no_token_proof_or_key_in_logs(
    server: HttpxServer, http: httpx.Client, key: DpopKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = TokenProvider(**options(http, key))
    http.auth = BearerTokenAuth(provider)
    server.reject_tokens = {"AT-1"}
    assert http.get(URL).status_code == 200  # a refresh, then a nonce retry
    server.reject_tokens = {"AT-2", "AT-3"}
    with pytest.raises(ApiAuthError) as info:
        TenantApiClient(API, provider, http_client=http).get_settings()
    texts = [r.getMessage() for r in caplog.records]
    texts += [repr(provider), repr(key), str(info.value), repr(provider.get_token())]
    secrets = [*server.bound, *server.raw_proofs]
    assert len(secrets) >= 5
    assert not [t for t in texts for secret in secrets if secret in t]
    assert "AT-" not in " ".join(texts)


def test_tenant_api_client_from_env(server: HttpxServer, http: httpx.Client, key: DpopKey) -> None:
    env = {
        "REALMGATE_SSO_URL": SSO,
        "REALMGATE_API_URL": API,
        "REALMGATE_TENANT": TENANT,
        "REALMGATE_CLIENT_ID": CLIENT_ID,
        "REALMGATE_CLIENT_SECRET": SECRET,
    }
    api = TenantApiClient.from_env(env, http_client=http, dpop_key=key)
    assert api.token_provider.dpop_key is key
    assert api.get_settings().shortcode == TENANT
    assert {p.jkt for p in server.proofs} == {key.jkt}
