"""When a token expires, as the SDK sees it: never later than the server's ``exp``, and the
renewal windows always leave time to renew before it."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realmgate.client import Freshness, RenewalPolicy, TokenProvider

from .fakes import CLIENT_ID, SECRET, SSO, TENANT, TOKEN_URL, FakeClock, Sleeper


class WholeSecondServer:
    """A token endpoint on the fake clock, as realmgate issues: the request arrives
    ``delay`` seconds after it was sent, ``iat`` is the arrival time rounded down to a whole
    second and ``exp`` is ``iat + expires_in``."""

    def __init__(self, clock: FakeClock, delay: float, expires_in: int) -> None:
        self.clock = clock
        self.delay = delay
        self.expires_in = expires_in
        self.exp: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == TOKEN_URL
        self.clock.advance(self.delay)
        iat = math.floor(self.clock.now)
        self.exp = iat + self.expires_in
        body = {"access_token": "AT-x", "token_type": "Bearer", "expires_in": self.expires_in}
        return httpx.Response(200, json=body)


@settings(max_examples=300, deadline=None)
@given(
    sent=st.floats(min_value=1000, max_value=1001, exclude_max=True),
    delay=st.floats(min_value=0, max_value=3),
    expires_in=st.integers(min_value=1, max_value=7200),
)
def test_the_sdk_never_counts_a_token_valid_past_its_exp(
    sent: float, delay: float, expires_in: int
) -> None:
    clock = FakeClock(start=sent)
    server = WholeSecondServer(clock, delay, expires_in)
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        provider = TokenProvider(
            sso_base_url=SSO,
            tenant=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            http_client=client,
            clock=clock,
            sleep=Sleeper().sleep,
        )
        token = provider.get_token()
    assert server.exp is not None
    assert token.lifetime == expires_in  # as granted
    assert token.expires_at <= server.exp
    assert token.expires_at > server.exp - 1 - delay - 1e-6  # conservative by no more
    assert token.remaining(server.exp) <= 0


def test_a_token_sent_late_in_a_second_expires_with_the_second_it_was_issued_in() -> None:
    """Sent at 1000.9 and issued at once: ``exp`` is 1000 + 60, not 1000.9 + 60."""
    clock = FakeClock(start=1000.9)
    server = WholeSecondServer(clock, 0.0, 60)
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        provider = TokenProvider(
            sso_base_url=SSO,
            tenant=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            http_client=client,
            clock=clock,
            sleep=Sleeper().sleep,
        )
        token = provider.get_token()
        assert server.exp == 1060
        assert token.expires_at <= 1060
        # The mandatory window (10 s for 60 s tokens) starts 10 s before the real exp at the
        # latest: at 1050.5 the token counts as expired, and callers wait for a new one.
        assert provider.renewal_policy.freshness(token, 1050.5) is Freshness.MANDATORY
        clock.now = 1050.5
        assert provider.get_token() is not token


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mandatory_min": 0.0, "mandatory_fraction": 0.0}, "mandatory_min must be above 0"),
        ({"mandatory_min": 0.0}, "mandatory_min must be above 0"),
        ({"mandatory_max": 0.0}, "maxima must not be below their minima"),
        ({"advisory_min": 0.0, "advisory_max": 0.0, "mandatory_max": 0.0}, "maxima"),
        ({"advisory_max": 10.0}, "maxima must not be below their minima"),
        ({"advisory_retry_interval": 0.0}, "advisory_retry_interval must be above 0"),
        ({"mandatory_min": float("nan")}, "finite"),
        ({"mandatory_max": float("inf")}, "finite"),
        ({"advisory_fraction": float("nan")}, "finite"),
        ({"mandatory_min": -1.0}, "negative"),
        ({"mandatory_fraction": 1.0}, "below 1"),
    ],
)
def test_renewal_policy_refuses_windows_that_hand_out_expired_tokens(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RenewalPolicy(**options)


@given(
    lifetime=st.floats(min_value=0.001, max_value=10**8),
    mandatory_fraction=st.floats(min_value=0, max_value=0.99),
    mandatory_min=st.floats(min_value=0.001, max_value=1000),
    extra=st.floats(min_value=0, max_value=1000),
)
def test_every_accepted_policy_has_a_mandatory_window(
    lifetime: float, mandatory_fraction: float, mandatory_min: float, extra: float
) -> None:
    policy = RenewalPolicy(
        mandatory_fraction=mandatory_fraction,
        mandatory_min=mandatory_min,
        mandatory_max=mandatory_min + extra,
        advisory_min=mandatory_min,
        advisory_max=mandatory_min + extra,
    )
    assert policy.mandatory_window(lifetime) > 0
