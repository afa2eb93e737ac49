"""Throttling against real servers. Loopback has the whole 127.0.0.0/8, so each side binds
addresses of its own (random ones: Redis outlives a test, the database does not).

The blocks are long (``throttle_base_delay`` 600 s) so that no outcome depends on how fast the
machine runs: a blocked address stays blocked for the whole test.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import poll, unique_shortcode
from tests.servers import Credentials, Server, postgres_database

LIMITS = {
    "REALMGATE_THROTTLE_SOURCE_FREE": "10",
    "REALMGATE_THROTTLE_CLIENT_FREE": "20",
    "REALMGATE_THROTTLE_SOURCE_CAP": "600",
    "REALMGATE_THROTTLE_CLIENT_CAP": "600",
    "REALMGATE_THROTTLE_BASE_DELAY": "600",
}
REDIS_URL = "redis://127.0.0.1:6379/14"
DEADLINE = 60.0  # seconds for a node to take up what another wrote (it syncs every second)


def addresses() -> Iterator[str]:
    """Loopback addresses of a random /16 of 127.0.0.0/8, one after the other."""
    net = random.randrange(1, 255)
    for host in range(1, 65535):
        yield f"127.{net}.{host >> 8}.{host & 255}"


def client_from(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def post(address: str, server: Server, creds: Credentials, secret: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": secret,
    }
    with client_from(address) as c:
        return c.post(server.token_url(creds.tenant), data=data)


def assert_throttled(r: httpx.Response) -> None:
    assert r.status_code == 429, r.status_code  # not the body: it may hold a token
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"] == "slow_down"
    assert r.headers["cache-control"] == "no-store"


@pytest.fixture(params=["remembered", "checked"])
def throttled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """One server with the default free failures; the legitimate client's repeated request is
    remembered (the default) or checked in full every time (the cache off)."""
    memo = {"REALMGATE_TOKEN_REQUEST_CACHE_SIZE": "0"} if request.param == "checked" else {}
    srv = Server(tmp_path / "data", None, extra_env={**LIMITS, **memo})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_attacker_is_throttled_while_the_legitimate_client_keeps_working(
    throttled: Server,
) -> None:
    creds = throttled.create_tenant(unique_shortcode("th"))
    addr = addresses()
    attacker, legit = next(addr), next(addr)
    statuses = []
    for i in range(30):
        bad = post(attacker, throttled, creds, f"guess-{i}")
        statuses.append(bad.status_code)
        ok = post(legit, throttled, creds, creds.client_secret)
        assert ok.status_code == 200, (i, ok.text)
    # ten free failures, the eleventh counts and starts the block: every later attempt is a 429,
    # the right secret too
    assert statuses == [401] * 11 + [429] * 19
    assert_throttled(post(attacker, throttled, creds, creds.client_secret))


def test_three_attacker_addresses_cannot_lock_the_client_out(throttled: Server) -> None:
    """Issue 14 #5: three addresses guessing in turn push the client past its own limit (20
    failures from all sources); the client's own address, which got a token before, keeps
    getting tokens, while any address that has not authenticated the client is refused."""
    creds = throttled.create_tenant(unique_shortcode("th"))
    addr = addresses()
    legit = next(addr)
    attackers = [next(addr) for _ in range(3)]
    assert post(legit, throttled, creds, creds.client_secret).status_code == 200
    statuses = []
    for i in range(15):
        for attacker in attackers:
            statuses.append(post(attacker, throttled, creds, f"guess-{i}").status_code)
            ok = post(legit, throttled, creds, creds.client_secret)
            assert ok.status_code == 200, (i, ok.text)
    # the 21st failure blocks the client for every address but the legitimate one
    assert statuses == [401] * 21 + [429] * 24
    assert_throttled(post(next(addr), throttled, creds, creds.client_secret))
    assert_throttled(post(attackers[0], throttled, creds, creds.client_secret))


def test_rotating_addresses_cannot_lock_the_client_out(throttled: Server) -> None:
    """Issue 14 #5: 62 addresses, one guess each (never reaching a source's own limit)."""
    creds = throttled.create_tenant(unique_shortcode("th"))
    addr = addresses()
    legit = next(addr)
    assert post(legit, throttled, creds, creds.client_secret).status_code == 200
    statuses = []
    for i in range(62):
        statuses.append(post(next(addr), throttled, creds, f"guess-{i}").status_code)
        ok = post(legit, throttled, creds, creds.client_secret)
        assert ok.status_code == 200, (i, ok.text)
    assert statuses == [401] * 21 + [429] * 41
    assert_throttled(post(next(addr), throttled, creds, creds.client_secret))


def test_successful_requests_are_not_counted(throttled: Server) -> None:
    creds = throttled.create_tenant(unique_shortcode("th"))
    source = next(addresses())
    assert {post(source, throttled, creds, creds.client_secret).status_code for _ in range(40)} == {
        200
    }


# two nodes ---------------------------------------------------------------------------
@pytest.fixture(params=["database", "redis"])
def two_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two nodes on one PostgreSQL database; the throttle's state in it, or in Redis."""
    env = {
        **LIMITS,
        "REALMGATE_THROTTLE_SOURCE_FREE": "3",
        "REALMGATE_THROTTLE_CLIENT_FREE": "6",
        **({"REALMGATE_REDIS_URL": REDIS_URL} if request.param == "redis" else {}),
    }
    with postgres_database() as url, contextlib.ExitStack() as stack:
        a = Server(tmp_path, url, extra_env=env)  # one data directory: one master key
        stack.callback(a.stop)
        a.start()
        b = Server(tmp_path, url, extra_env={**env, "REALMGATE_ISSUER_BASE_URL": a.base_url})
        stack.callback(b.stop)
        b.start()
        yield a, b


def test_blocks_and_known_good_sources_written_by_one_node_apply_on_the_other(
    two_nodes: tuple[Server, Server],
) -> None:
    """Issue 14 #6: node b refuses an address and a client that node a blocked, without a
    failure of its own (the right secret is refused), and exempts the client's known good
    address that only node a saw."""
    a, b = two_nodes
    creds = a.create_tenant(unique_shortcode("tn"))
    addr = addresses()
    legit, attacker = next(addr), next(addr)
    assert post(legit, a, creds, creds.client_secret).status_code == 200
    assert [post(attacker, a, creds, f"guess-{i}").status_code for i in range(5)] == [401] * 4 + [
        429
    ]
    refused = poll(
        lambda: post(attacker, b, creds, creds.client_secret),
        lambda r: r.status_code == 429,
        timeout=DEADLINE,
    )
    assert_throttled(refused)

    # the client: 4 failures counted so far, 3 more from fresh addresses block it
    assert [post(next(addr), a, creds, "guess").status_code for _ in range(4)] == [401] * 3 + [429]
    refused = poll(  # a fresh address each time: one that gets a token is a known good one
        lambda: post(next(addr), b, creds, creds.client_secret),
        lambda r: r.status_code == 429,
        timeout=DEADLINE,
    )
    assert_throttled(refused)
    served = poll(
        lambda: post(legit, b, creds, creds.client_secret),
        lambda r: r.status_code == 200,
        timeout=DEADLINE,
    )
    assert served.status_code == 200, served.text
    assert_throttled(post(next(addr), a, creds, creds.client_secret))
