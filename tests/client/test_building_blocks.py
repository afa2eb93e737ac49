"""Unit tests of the pieces: Secret, configuration, renewal windows, retry policy, flows."""

from __future__ import annotations

import base64
import pickle
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from realmgate.client import (
    AccessToken,
    ClientConfig,
    ConfigurationError,
    Freshness,
    RenewalPolicy,
    RetryPolicy,
    Secret,
    TokenEndpointUnavailableError,
)
from realmgate.client._flow import Send, Sleep, TokenFetcher
from realmgate.client._retry import parse_retry_after
from realmgate.client._state import Join, Lead, Mode, RenewalState, Use

from .fakes import CLIENT_ID, SECRET, SSO, TENANT, TOKEN_URL, token_response

ENV = {
    "REALMGATE_SSO_URL": SSO + "/",
    "REALMGATE_TENANT": TENANT,
    "REALMGATE_CLIENT_ID": CLIENT_ID,
    "REALMGATE_CLIENT_SECRET": SECRET,
    "REALMGATE_API_URL": "https://api.test",
    "REALMGATE_SCOPE": "email  profile",
}


def config(**kwargs: object) -> ClientConfig:
    options: dict[str, object] = {
        "sso_base_url": SSO,
        "tenant": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": Secret(SECRET),
    }
    options.update(kwargs)
    return ClientConfig(**options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Secret


def test_secret_is_masked_everywhere() -> None:
    secret = Secret(SECRET)
    assert repr(secret) == "Secret('**********')"
    assert str(secret) == "**********"
    assert f"{secret}|{secret!r}|{secret:>12}" == "**********|Secret('**********')|  **********"
    assert secret.reveal() == SECRET
    assert secret == Secret(SECRET)
    assert secret != Secret("other")
    assert hash(secret) == hash(Secret(SECRET))
    with pytest.raises(TypeError):
        pickle.dumps(secret)


# --------------------------------------------------------------------------- configuration


def test_config_from_env() -> None:
    cfg = ClientConfig.from_env(ENV)
    assert cfg.sso_base_url == SSO
    assert cfg.tenant == TENANT
    assert cfg.client_id == CLIENT_ID
    assert cfg.client_secret.reveal() == SECRET
    assert cfg.scope == "email profile"
    assert cfg.api_base_url == "https://api.test"
    assert cfg.default_token_endpoint == TOKEN_URL
    assert cfg.discovery_url == f"{SSO}/realms/{TENANT}/.well-known/openid-configuration"
    assert SECRET not in repr(cfg)


def test_config_from_env_names_missing_variables_only() -> None:
    env = {k: v for k, v in ENV.items() if k not in ("REALMGATE_TENANT", "REALMGATE_CLIENT_ID")}
    env["REALMGATE_CLIENT_ID"] = "  "
    with pytest.raises(ConfigurationError) as info:
        ClientConfig.from_env(env)
    message = str(info.value)
    assert "REALMGATE_TENANT" in message
    assert "REALMGATE_CLIENT_ID" in message
    assert "REALMGATE_SSO_URL" not in message
    assert SECRET not in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sso_base_url", "sso.test"),
        ("sso_base_url", "ftp://sso.test"),
        ("sso_base_url", "https://user:pw@sso.test"),
        ("sso_base_url", "https://sso.test/?x=1"),
        ("tenant", ""),
        ("tenant", "a/b"),
        ("client_id", " "),
        ("client_secret", Secret("")),
        ("auth_method", "private_key_jwt"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError):
        config(**{field: value})


def test_config_scope_and_tenant_quoting() -> None:
    cfg = config(scope=["email", " profile "], tenant="acme corp")
    assert cfg.scope == "email profile"
    assert cfg.realm_url == f"{SSO}/realms/acme%20corp"
    assert config(scope="  ").scope is None


# --------------------------------------------------------------------------- renewal windows


@pytest.mark.parametrize(
    ("lifetime", "advisory", "mandatory"),
    [(7200, 600, 60), (3600, 600, 60), (300, 60, 15), (60, 30, 10), (20, 15, 10), (8, 6, 4)],
)
def test_default_windows(lifetime: float, advisory: float, mandatory: float) -> None:
    policy = RenewalPolicy()
    assert policy.advisory_window(lifetime) == pytest.approx(advisory)
    assert policy.mandatory_window(lifetime) == pytest.approx(mandatory)


@given(st.floats(min_value=0.001, max_value=10**8))
def test_windows_are_ordered_and_leave_a_fresh_period(lifetime: float) -> None:
    policy = RenewalPolicy()
    mandatory = policy.mandatory_window(lifetime)
    advisory = policy.advisory_window(lifetime)
    assert 0 <= mandatory <= advisory <= 0.75 * lifetime + 1e-9
    assert mandatory <= 0.5 * lifetime + 1e-9


def test_freshness_boundaries() -> None:
    policy = RenewalPolicy()
    token = AccessToken(value="x", lifetime=7200, obtained_at=0)
    assert policy.freshness(None, 0) is Freshness.MANDATORY
    assert policy.freshness(token, 0) is Freshness.FRESH
    assert policy.freshness(token, 7200 - 600.5) is Freshness.FRESH
    assert policy.freshness(token, 7200 - 600) is Freshness.ADVISORY
    assert policy.freshness(token, 7200 - 60.5) is Freshness.ADVISORY
    assert policy.freshness(token, 7200 - 60) is Freshness.MANDATORY
    assert policy.freshness(token, 9000) is Freshness.MANDATORY


def test_access_token_hides_its_value() -> None:
    token = AccessToken(value="AT-Sentinel-x", lifetime=60, obtained_at=5, scope="email")
    assert "AT-Sentinel" not in repr(token)
    assert "AT-Sentinel" not in str(token)
    assert token.authorization_header == "Bearer AT-Sentinel-x"
    assert token.expires_at == 65
    assert token.remaining(60) == 5


# --------------------------------------------------------------------------- retry policy


@given(retry=st.integers(min_value=0, max_value=1000), draw=st.floats(min_value=0, max_value=1))
def test_backoff_is_bounded_full_jitter(retry: int, draw: float) -> None:
    policy = RetryPolicy(jitter=lambda cap: cap * draw)
    delay = policy.delay(retry)
    assert 0 <= delay <= policy.backoff_cap(retry) <= policy.max_delay


def test_backoff_schedule_and_retry_after_cap() -> None:
    policy = RetryPolicy(jitter=lambda cap: cap)
    assert [policy.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert policy.delay(0, retry_after=3) == 3
    assert policy.delay(0, retry_after=10_000) == policy.max_retry_after == 30
    assert policy.max_attempts == 4
    wild = RetryPolicy(jitter=lambda cap: cap * 5)
    assert wild.delay(1) == 1.0  # a misbehaving jitter is clamped


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (" 2.5 ", 2.5), ("-1", None), ("soon", None), ("nan", None), (None, None)],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    assert parse_retry_after(httpx.Response(429, headers=headers)) == expected


# --------------------------------------------------------------------------- state machine


def test_state_machine_plans() -> None:
    state: RenewalState[str] = RenewalState(RenewalPolicy())
    assert state.plan(0) == Lead(Mode.MANDATORY)
    state.begin("flight-1", Mode.MANDATORY)
    assert state.plan(0) == Join("flight-1", Mode.MANDATORY)
    assert state.plan(0, force=True) == Join("flight-1", Mode.MANDATORY)
    token = AccessToken(value="a", lifetime=7200, obtained_at=0)
    state.succeeded(token)
    assert state.plan(10) == Use(token)
    assert state.plan(10, force=True) == Lead(Mode.MANDATORY)
    # In the advisory window: one leader, the others use the token meanwhile.
    assert state.plan(7000) == Lead(Mode.ADVISORY)
    state.begin("flight-2", Mode.ADVISORY)
    assert state.plan(7000) == Use(token)
    assert state.plan(7150) == Join("flight-2", Mode.ADVISORY)
    # A failed advisory renewal pauses advisory attempts (Retry-After wins if longer).
    error = TokenEndpointUnavailableError("x", status_code=429, retry_after=20, attempts=1)
    state.failed(7000, error)
    assert state.plan(7010) == Use(token)
    assert state.plan(7021) == Lead(Mode.ADVISORY)
    # ... but never a mandatory one.
    assert state.plan(7150) == Lead(Mode.MANDATORY)


def test_state_machine_coalesces_stale_refreshes() -> None:
    state: RenewalState[str] = RenewalState(RenewalPolicy())
    old = AccessToken(value="old", lifetime=7200, obtained_at=0)
    new = AccessToken(value="new", lifetime=7200, obtained_at=5)
    state.succeeded(new)
    assert state.plan(10, force=True, stale=old) == Use(new)
    assert state.plan(10, force=True, stale=new) == Lead(Mode.MANDATORY)
    state.invalidate()
    assert state.plan(10, force=True, stale=old) == Lead(Mode.MANDATORY)


# --------------------------------------------------------------------------- sans-I/O flow


def test_token_flow_driven_by_hand() -> None:
    times = iter([100.0, 103.0])
    fetcher = TokenFetcher(
        config(scope="email"), RetryPolicy(jitter=lambda cap: cap), lambda: next(times)
    )
    flow = fetcher.fetch()
    send = next(flow)
    assert isinstance(send, Send)
    assert (send.method, send.url) == ("POST", TOKEN_URL)
    assert send.form == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": "email",
    }
    assert SECRET not in repr(send)
    assert flow.send(httpx.Response(503, headers={"Retry-After": "4"})) == Sleep(4.0)
    assert flow.send(None) == send
    with pytest.raises(StopIteration) as stop:
        flow.send(token_response("AT-Sentinel-hand", 300))
    token = stop.value.value
    assert isinstance(token, AccessToken)
    # sent at 103.0; the server's whole-second iat may be as early as 102.0 + a fraction
    assert (token.value, token.lifetime, token.obtained_at) == ("AT-Sentinel-hand", 300, 102.0)


def test_basic_auth_request_form_urlencodes_credentials() -> None:
    secret = "p@ss:wörd+/="
    fetcher = TokenFetcher(
        config(client_secret=Secret(secret), auth_method="client_secret_basic"),
        RetryPolicy(),
        lambda: 0.0,
    )
    send = next(fetcher.fetch())
    assert isinstance(send, Send)
    assert send.form == {"grant_type": "client_credentials"}
    scheme, encoded = send.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    user, password = base64.b64decode(encoded).decode().split(":")
    assert user == CLIENT_ID
    assert parse_qs(f"p={password}")["p"] == [secret]
