"""Throttling against a real server with the default limits: an attacker's burst of wrong
secrets from one address gets 429s while the legitimate client, from another address, keeps
getting tokens. Loopback has the whole 127.0.0.0/8, so each side binds its own address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Server

DEFAULTS = {"REALMGATE_THROTTLE_SOURCE_FREE": "10", "REALMGATE_THROTTLE_CLIENT_FREE": "20"}


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", None, extra_env=DEFAULTS)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def client_from(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_attacker_is_throttled_while_the_legitimate_client_keeps_working(
    throttled: Server,
) -> None:
    demo = throttled.demo
    assert demo is not None
    url = throttled.token_url(demo.tenant)
    good = {"grant_type": "client_credentials", "client_id": demo.client_id}
    attacker, legit = client_from("127.0.0.2"), client_from("127.0.0.3")
    statuses = []
    with attacker, legit:
        for i in range(30):
            bad = attacker.post(url, data={**good, "client_secret": f"guess-{i}"})
            statuses.append(bad.status_code)
            if bad.status_code == 429:
                assert int(bad.headers["retry-after"]) >= 1
                assert bad.json()["error"] == "slow_down"
                assert bad.headers["cache-control"] == "no-store"
            ok = legit.post(url, data={**good, "client_secret": demo.client_secret})
            assert ok.status_code == 200, (i, ok.text)
        # the attacker's address stays blocked even with the right secret
        blocked = attacker.post(url, data={**good, "client_secret": demo.client_secret})
        assert blocked.status_code == 429
    # ten free failures, the eleventh counts and starts a block, then back-off: each failure
    # let through after a block doubles the next one, so nearly every later attempt is a 429
    assert statuses[:11] == [401] * 11
    assert statuses[11] == 429
    assert set(statuses) == {401, 429}
    assert statuses.count(429) >= 15


def test_successful_requests_are_not_counted(throttled: Server) -> None:
    demo = throttled.demo
    assert demo is not None
    data = {
        "grant_type": "client_credentials",
        "client_id": demo.client_id,
        "client_secret": demo.client_secret,
    }
    with client_from("127.0.0.4") as c:
        assert {
            c.post(throttled.token_url(demo.tenant), data=data).status_code for _ in range(40)
        } == {200}
