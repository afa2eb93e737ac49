"""How the SDK copes with failures between it and the real server: the token endpoint down
(advisory and mandatory windows), 429/503 with ``Retry-After``, rejected tokens (401), and
refused credentials. Failures are injected at the network boundary (:class:`Network`); the
server's own token counter (``/metrics``) tells how many token requests reached it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from realmgate.client import (
    ApiAuthError,
    AuthMethod,
    TenantApiClient,
    TokenEndpointUnavailableError,
    TokenProvider,
    TokenRequestError,
)
from tests.sdk_integration.support import (
    LIFETIME,
    ManualClock,
    Network,
    SleepRecorder,
    token_requests,
    unavailable,
)
from tests.servers import Credentials, Server


class Rig:
    """A provider whose token requests cross ``network``; API calls go straight to the
    server through ``api_network`` (which only records)."""

    def __init__(self, server: Server, creds: Credentials, **provider_options: object) -> None:
        self.clock = ManualClock()
        self.sleeper = SleepRecorder()
        self.network = Network()
        self.api_network = Network()
        options: dict[str, object] = {
            "sso_base_url": server.base_url,
            "tenant": creds.tenant,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "http_client": httpx.Client(transport=self.network),
            "clock": self.clock,
            "sleep": self.sleeper.sleep,
            **provider_options,
        }
        self.provider = TokenProvider(**options)
        self._http = options["http_client"]
        self._api_http = httpx.Client(transport=self.api_network)
        self.api = TenantApiClient(server.base_url, self.provider, http_client=self._api_http)

    def close(self) -> None:
        self.api.close()
        self.provider.close()
        assert isinstance(self._http, httpx.Client)
        self._http.close()
        self._api_http.close()


@pytest.fixture
def rig(server: Server, tenant: Credentials) -> Iterator[Rig]:
    r = Rig(server, tenant)
    yield r
    r.close()


def test_token_endpoint_down_in_advisory_window_keeps_old_token_then_recovers(
    server: Server, tenant: Credentials, rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="realmgate.client")
    before = token_requests(server)
    assert rig.api.get_settings().shortcode == tenant.tenant
    first = rig.provider.get_token()
    assert token_requests(server) - before == 1

    # The network to the token endpoint fails; the API itself stays reachable.
    rig.network.down = True
    rig.clock.advance(LIFETIME - 300)  # 300 s left: advisory window (600 s), not mandatory
    attempts = rig.network.attempts
    for _ in range(5):
        assert rig.api.get_settings().shortcode == tenant.tenant
    # One advisory attempt, then a pause (advisory_retry_interval) before the next one.
    assert rig.network.attempts == attempts + 1
    assert rig.provider.get_token() is first
    warnings = [r for r in caplog.records if "advisory renewal" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING

    rig.clock.advance(10)  # past the pause: another single attempt, still failing quietly
    assert rig.api.get_settings().shortcode == tenant.tenant
    assert rig.network.attempts == attempts + 2
    assert rig.sleeper.sleeps == []  # advisory renewals never back off with sleeps

    # The network comes back: the next renewal succeeds, in the same provider.
    rig.network.down = False
    rig.clock.advance(10)
    assert rig.api.get_settings().shortcode == tenant.tenant
    renewed = rig.provider.get_token()
    assert renewed.value != first.value
    assert token_requests(server) - before == 2
    # The API accepted the old token while the token endpoint was unreachable.
    assert rig.api_network.statuses == [200] * 8


def test_token_endpoint_down_in_mandatory_window_raises_then_recovers(
    server: Server, tenant: Credentials, rig: Rig
) -> None:
    assert rig.api.get_settings().shortcode == tenant.tenant
    before = token_requests(server)
    rig.network.down = True
    rig.clock.advance(LIFETIME - 30)  # 30 s left: mandatory window (60 s)
    attempts = rig.network.attempts
    with pytest.raises(TokenEndpointUnavailableError) as info:
        rig.api.get_settings()
    assert info.value.attempts == 4  # RetryPolicy(): 1 request + 3 retries
    assert rig.network.attempts == attempts + 4
    assert len(rig.sleeper.sleeps) == 3  # backed off between the attempts

    rig.network.down = False
    assert rig.api.get_settings().shortcode == tenant.tenant
    assert token_requests(server) - before == 1


@pytest.mark.parametrize(("status", "retry_after"), [(503, "1"), (429, "2")])
def test_retry_after_is_honoured(
    server: Server, tenant: Credentials, rig: Rig, status: int, retry_after: str
) -> None:
    rig.network.script.append(unavailable(status, retry_after))
    before = token_requests(server)
    token = rig.provider.get_token()
    assert token.value
    assert rig.sleeper.sleeps == [float(retry_after)]
    assert rig.network.statuses == [status, 200]
    assert token_requests(server) - before == 1  # the scripted answer never reached it
    assert rig.api.get_settings().shortcode == tenant.tenant


def revoke(server: Server, creds: Credentials, token: str) -> None:
    """RFC 7009 revocation: the server's tenant API refuses the token from now on."""
    response = httpx.post(
        f"{server.base_url}/realms/{creds.tenant}/protocol/openid-connect/revoke",
        data={"token": token, "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    assert response.status_code == 200, response.text


def test_revoked_token_is_replaced_once(server: Server, tenant: Credentials, rig: Rig) -> None:
    revoked = rig.provider.get_token()
    revoke(server, tenant, revoked.value)
    before = token_requests(server)
    assert rig.api.get_settings().shortcode == tenant.tenant
    assert rig.api_network.statuses == [401, 200]
    assert token_requests(server) - before == 1  # exactly one fresh token for the retry
    assert rig.provider.get_token().value != revoked.value


def test_concurrent_401s_share_one_fresh_token(
    server: Server, tenant: Credentials, rig: Rig
) -> None:
    revoke(server, tenant, rig.provider.get_token().value)
    barrier = threading.Barrier(20)

    def call() -> str:
        barrier.wait(timeout=60)
        return rig.api.get_settings().shortcode

    before = token_requests(server)
    with ThreadPoolExecutor(max_workers=20) as pool:
        assert [f.result() for f in [pool.submit(call) for _ in range(20)]] == [tenant.tenant] * 20
    assert token_requests(server) - before == 1
    assert rig.api_network.statuses.count(401) >= 1


def test_rejected_token_is_replaced_once(server: Server, tenant: Credentials, rig: Rig) -> None:
    rig.network.tamper_tokens = 1  # the first token arrives corrupted: the API will refuse it
    rig.provider.get_token()
    before = token_requests(server)
    settings = rig.api.get_settings()
    assert settings.shortcode == tenant.tenant
    assert rig.api_network.statuses == [401, 200]
    assert token_requests(server) - before == 1  # exactly one fresh token for the retry
    assert rig.provider.get_token().value == rig.network.issued[-1]


def test_second_401_raises_api_auth_error(server: Server, tenant: Credentials, rig: Rig) -> None:
    rig.network.tamper_tokens = -1  # every token arrives corrupted
    before = token_requests(server)
    with pytest.raises(ApiAuthError) as info:
        rig.api.get_settings()
    assert info.value.status_code == 401
    assert info.value.error == "invalid_token"
    assert rig.api_network.statuses == [401, 401]  # one retry, no more
    assert token_requests(server) - before == 2  # the first token and one fresh one


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_bad_credentials_raise_at_once(
    server: Server, tenant: Credentials, auth_method: AuthMethod
) -> None:
    rig = Rig(
        server,
        Credentials(tenant.tenant, tenant.client_id, tenant.client_secret + "x"),
        auth_method=auth_method,
    )
    try:
        success = token_requests(server)
        refused = token_requests(server, "invalid_client")
        with pytest.raises(TokenRequestError) as info:
            rig.api.get_settings()
        assert info.value.error == "invalid_client"
        assert info.value.status_code == 401
        assert rig.network.attempts == 1
        assert rig.sleeper.sleeps == []
        assert rig.api_network.attempts == 0  # no API call without a token
        assert token_requests(server, "invalid_client") - refused == 1
        assert token_requests(server) == success
    finally:
        rig.close()


def test_unknown_tenant_raises_404(server: Server, tenant: Credentials) -> None:
    rig = Rig(server, Credentials("nosuchtenant0", tenant.client_id, tenant.client_secret))
    try:
        refused = token_requests(server, "realm_not_found")
        with pytest.raises(TokenRequestError) as info:
            rig.provider.get_token()
        assert info.value.status_code == 404
        assert info.value.error == "realm_not_found"
        assert rig.network.attempts == 1
        assert token_requests(server, "realm_not_found") - refused == 1
    finally:
        rig.close()
