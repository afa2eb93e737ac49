"""No client secret (nor its HTTP Basic form) appears in any log record, repr, ``str()`` or
exception text, and no access token appears in any log record, through a full flow against
the real server: sync, async and ``requests``, discovery, Basic auth, a 401 retry, a 503 retry,
an advisory outage, a mandatory outage, bad credentials, an unknown tenant and a JSend fail.

Every logger is captured at DEBUG (realmgate, httpx, httpcore, urllib3, root).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from urllib.parse import quote_plus

import httpx
import pytest
import requests

from realmgate.client import (
    ApiFailError,
    AsyncTenantApiClient,
    AsyncTokenProvider,
    BearerTokenAuth,
    ClientConfig,
    RealmgateClientError,
    TenantApiClient,
    TokenEndpointUnavailableError,
    TokenProvider,
    TokenRequestError,
)
from realmgate.client.requests_auth import RequestsBearerAuth
from tests.sdk_integration.support import (
    LIFETIME,
    AsyncNetwork,
    ManualClock,
    Network,
    SleepRecorder,
    unavailable,
)
from tests.servers import Credentials, Server

LOGGERS = ("realmgate", "realmgate.client", "httpx", "httpcore", "urllib3", "asyncio")


def basic(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def test_no_secret_or_token_leaks(
    server: Server, tenant: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    logging.getLogger().setLevel(logging.DEBUG)

    secret = tenant.client_secret
    wrong = secret[::-1]
    shown: list[str] = []  # reprs, str()s and exception texts
    failures: list[BaseException] = []
    tokens: list[str] = []  # every access token the server issued or the SDK held

    def keep(*objects: object) -> None:
        for obj in objects:
            shown.extend((repr(obj), str(obj)))

    def failed(exc: BaseException) -> None:
        failures.append(exc)
        keep(exc)
        shown.append("".join(traceback.format_exception(exc)))

    environ = {
        "REALMGATE_SSO_URL": server.base_url,
        "REALMGATE_TENANT": tenant.tenant,
        "REALMGATE_CLIENT_ID": tenant.client_id,
        "REALMGATE_CLIENT_SECRET": secret,
        "REALMGATE_API_URL": server.base_url,
    }
    config = ClientConfig.from_env(environ)
    keep(config, config.client_secret)

    # --- sync, with a network between the provider and the token endpoint
    clock, sleeper, network = ManualClock(), SleepRecorder(), Network()
    with (
        httpx.Client(transport=network) as token_http,
        TokenProvider.from_config(
            config, http_client=token_http, clock=clock, sleep=sleeper.sleep
        ) as provider,
        TenantApiClient(server.base_url, provider) as api,
    ):
        auth = BearerTokenAuth(provider)
        keep(provider, auth, api)

        network.tamper_tokens = 1  # 401 and one retry with a fresh token
        keep(api.get_settings())
        keep(api.update_settings(locale="de-AT", duplicate_check=True))
        try:
            api.update_settings(timezone="Mars/Olympus_Mons")
        except ApiFailError as exc:
            failed(exc)
        token = provider.get_token()
        keep(token)
        tokens.append(token.value)

        clock.advance(LIFETIME)  # expired: a mandatory renewal meets a 503 first
        network.script.append(unavailable(503, "1"))
        keep(api.get_settings())

        network.down = True
        clock.advance(LIFETIME - 300)  # advisory window: the failure is logged, not raised
        keep(api.get_settings())
        clock.advance(300)  # expired, still down: raised after the retries
        try:
            api.get_settings()
        except TokenEndpointUnavailableError as exc:
            failed(exc)
        network.down = False
        with httpx.Client(auth=auth) as http:
            assert http.get(f"{server.base_url}/v2/tenants/current/settings").status_code == 200

        # requests, sharing the provider
        with requests.Session() as session:
            session.auth = RequestsBearerAuth(provider)
            keep(session.auth)
            response = session.get(f"{server.base_url}/v2/tenants/current/settings", timeout=30)
            assert response.status_code == 200
    tokens.extend(network.issued + network.tampered)

    # --- Basic authentication with discovery, then with a wrong secret
    for client_secret, expect_ok in ((secret, True), (wrong, False)):
        with TokenProvider(
            sso_base_url=server.base_url,
            tenant=tenant.tenant,
            client_id=tenant.client_id,
            client_secret=client_secret,
            auth_method="client_secret_basic",
            discovery=True,
        ) as basic_provider:
            keep(basic_provider)
            try:
                tokens.append(basic_provider.get_token().value)
                assert expect_ok
            except TokenRequestError as exc:
                assert not expect_ok
                failed(exc)

    # --- wrong secret (form) and unknown tenant
    for tenant_name, client_secret in ((tenant.tenant, wrong), ("nosuchtenant0", secret)):
        with TokenProvider(
            sso_base_url=server.base_url,
            tenant=tenant_name,
            client_id=tenant.client_id,
            client_secret=client_secret,
        ) as bad:
            keep(bad)
            try:
                bad.get_token()
            except TokenRequestError as exc:
                failed(exc)

    # --- async
    async def run_async() -> None:
        anetwork = AsyncNetwork()
        async with (
            httpx.AsyncClient(transport=anetwork) as http,
            AsyncTokenProvider.from_config(config, http_client=http) as aprovider,
            AsyncTenantApiClient(server.base_url, aprovider) as aapi,
        ):
            anetwork.tamper_tokens = 1
            keep(aprovider, aapi, await aapi.get_settings())
            token = await aprovider.get_token()
            keep(token)
        tokens.extend(anetwork.issued + anetwork.tampered)

    asyncio.run(run_async())

    assert len(failures) == 5
    assert all(isinstance(e, RealmgateClientError) for e in failures)
    assert len(set(tokens)) >= 8

    logs = [caplog.text]
    for record in caplog.records:
        logs.extend((record.getMessage(), repr(record.args), record.exc_text or ""))
    log_text = "\n".join(logs)
    assert "advisory renewal" in log_text  # the outage was logged...
    assert "HTTP Request: POST" in log_text  # ...and so was httpx's own DEBUG/INFO output
    assert "send_request_headers" in log_text  # httpcore at DEBUG
    everything = log_text + "\n".join(shown)

    forbidden_everywhere = {
        "client secret": secret,
        "wrong secret": wrong,
        "Basic credentials": basic(tenant.client_id, secret),
        "wrong Basic credentials": basic(tenant.client_id, wrong),
    }
    for what, value in forbidden_everywhere.items():
        assert value not in everything, f"the {what} leaked"
    for value in tokens:
        assert value not in log_text, "an access token was logged"
        assert value not in "\n".join(shown), "an access token was shown"
