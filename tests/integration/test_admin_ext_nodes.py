"""The throttle's admin endpoints across two nodes on one database, and the scheduled key
rotation honouring a tenant's own period.

Throttle: blocks last 600 s (``throttle_base_delay``), so a node that lets a blocked client or
source through again before then can only have learned of the unblock through the change feed
(polled every second, ``cache_poll_interval``): the waits below are generous deadlines, never
measurements, and a pass shows the unblock reaching the other node through the feed. Each
side of a request binds a loopback address of its own (see tests/security/test_throttling.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.admin_support import AdminHttp, master_admin, unique
from tests.integration.helpers import poll
from tests.security.test_throttling import REDIS_URL, addresses, post
from tests.servers import Credentials, Server, postgres_database, two_nodes

X = "/admin/realmgate"
DEADLINE = 60.0
LIMITS = {
    "REALMGATE_THROTTLE_SOURCE_FREE": "3",
    "REALMGATE_THROTTLE_CLIENT_FREE": "3",
    "REALMGATE_THROTTLE_SOURCE_CAP": "600",
    "REALMGATE_THROTTLE_CLIENT_CAP": "600",
    "REALMGATE_THROTTLE_BASE_DELAY": "600",
}


@pytest.fixture(scope="module", params=["database", "redis"])
def nodes(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """Two nodes on one database; the throttle's counters in it or in Redis."""
    data_dir = tmp_path_factory.mktemp(f"ext-nodes-{backend}")
    env = dict(LIMITS)
    if request.param == "redis":
        env["REALMGATE_REDIS_URL"] = REDIS_URL
    with two_nodes(data_dir, backend, env) as pair:
        yield pair


def block(server: Server, creds: Credentials, source: str) -> None:
    """Fail from ``source`` until both the source and the client are blocked (429)."""
    for _ in range(10):
        if post(source, server, creds, "wrong-secret").status_code == 429:
            return
    raise AssertionError("no block after 10 failures")


def status(source: str, server: Server, creds: Credentials) -> int:
    return post(source, server, creds, creds.client_secret).status_code


def client_status(fresh: Iterator[str], server: Server, creds: Credentials) -> int:
    """The client's right secret from an address never used before: never one of its known
    good sources, to which a client's block does not apply."""
    return status(next(fresh), server, creds)


def test_unblock_reaches_every_node(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    api = AdminHttp(a, master_admin(a))
    tenant = a.create_tenant(unique("thr"))
    victim = a.create_client(tenant.tenant, "victim")
    fresh = addresses()
    attacker, third = next(fresh), next(fresh)
    block(a, victim, attacker)
    # Node b takes up the blocks (throttle sync): the client's, the source's.
    assert poll(lambda: client_status(fresh, b, victim), lambda s: s == 429, DEADLINE) == 429
    assert poll(lambda: status(attacker, b, tenant), lambda s: s == 429, DEADLINE) == 429

    state = api.ok("GET", f"{X}/tenants/{tenant.tenant}/throttle")
    assert [c["clientId"] for c in state["clients"]] == ["victim"]
    assert [s["source"] for s in state["sources"]] == [attacker]
    assert all(1 <= e["retryAfter"] <= 600 for e in state["clients"] + state["sources"])
    other = a.create_tenant(unique("thr"))  # another tenant sees none of it
    assert api.ok("GET", f"{X}/tenants/{other.tenant}/throttle")["sources"] == []

    done = api.ok("DELETE", f"{X}/tenants/{tenant.tenant}/throttle?clientId=victim")
    assert done["unblocked"] == {"clients": ["victim"], "sources": []}
    assert poll(lambda: client_status(fresh, b, victim), lambda s: s == 200, DEADLINE) == 200
    assert status(attacker, b, tenant) == 429  # the source is still blocked
    done = api.ok("DELETE", f"{X}/tenants/{tenant.tenant}/throttle?source={attacker}")
    assert done["unblocked"] == {"clients": [], "sources": [attacker]}
    assert poll(lambda: status(attacker, b, tenant), lambda s: s == 200, DEADLINE) == 200
    assert api.ok("GET", f"{X}/tenants/{tenant.tenant}/throttle")["clients"] == []

    # Everything of the tenant at once, by its own admin (manage-users is enough).
    ops, _, _ = api.service_client(tenant.tenant, "ops", admin_roles=("manage-users",))
    own = AdminHttp(a, ops)
    block(b, victim, third)
    assert poll(lambda: status(third, a, tenant), lambda s: s == 429, DEADLINE) == 429
    assert poll(lambda: client_status(fresh, a, victim), lambda s: s == 429, DEADLINE) == 429
    foreign = own.request("DELETE", f"{X}/tenants/{other.tenant}/throttle")
    assert foreign.status_code == 403
    done = own.ok("DELETE", f"{X}/tenants/{tenant.tenant}/throttle")
    assert done["unblocked"] == {"clients": ["victim"], "sources": [third]}
    assert poll(lambda: status(third, a, victim), lambda s: s == 200, DEADLINE) == 200
    trail = api.ok("GET", f"{X}/audit?tenant={tenant.tenant}&action=throttle.unblocked")
    assert [e["actor"] for e in trail] == [f"admin:{tenant.tenant}/ops"] + 2 * [
        f"admin:master/{master_admin(a).client_id}"
    ]


def test_a_source_is_unblocked_only_by_the_tenant_it_failed_against(
    nodes: tuple[Server, Server],
) -> None:
    a, _ = nodes
    api = AdminHttp(a, master_admin(a))
    mine = a.create_tenant(unique("thr"))
    theirs = a.create_tenant(unique("thr"))
    source = next(addresses())
    block(a, theirs, source)
    ops, _, _ = api.service_client(mine.tenant, "ops", admin_roles=("realm-admin",))
    r = AdminHttp(a, ops).request("DELETE", f"{X}/tenants/{mine.tenant}/throttle?source={source}")
    assert r.status_code == 404 and "no block of source" in r.json()["error"]
    assert status(source, a, mine) == 429  # still blocked, for everyone at that address
    api.ok("DELETE", f"{X}/tenants/{theirs.tenant}/throttle?source={source}")
    assert poll(lambda: status(source, a, mine), lambda s: s == 200, DEADLINE) == 200


# scheduled key rotation ----------------------------------------------------------------------
@pytest.fixture
def rotating(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A node whose maintenance runs twice a second, with a server period of one day."""
    env = {"REALMGATE_KEY_ROTATION_PERIOD": "86400", "REALMGATE_MAINTENANCE_INTERVAL": "0.5"}
    data_dir = tmp_path_factory.mktemp(f"rotation-{backend}")
    database: contextlib.AbstractContextManager[str | None] = (
        postgres_database() if backend == "postgres" else contextlib.nullcontext(None)
    )
    with database as url:
        srv = Server(data_dir, url, extra_env=env)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


def age_keys(server: Server, tenants: list[str], seconds: int) -> None:
    """Make the tenants' active keys ``seconds`` old (as if created then)."""
    at = int(time.time()) - seconds
    sql = "UPDATE signing_keys SET created_at = {p} WHERE status = 'active' AND tenant = {p}"
    if server.database_url:
        with psycopg.connect(server.database_url) as conn:
            for t in tenants:
                conn.execute(sql.format(p="%s"), (at, t))
    else:
        path = server.data_dir / "realmgate.db"
        with contextlib.closing(sqlite3.connect(path, 60)) as lite, lite:
            for t in tenants:
                lite.execute(sql.format(p="?"), (at, t))


def active_kid(api: AdminHttp, tenant: str) -> str:
    keys = api.ok("GET", f"{X}/tenants/{tenant}/keys")
    return next(k["kid"] for k in keys if k["status"] == "active")


def test_scheduled_rotation_honours_the_tenant_period(rotating: Server) -> None:
    api = AdminHttp(rotating, master_admin(rotating))
    hourly, default, never, daily = (rotating.create_tenant(unique("rot")).tenant for _ in "abcd")
    api.ok("PUT", f"{X}/tenants/{hourly}/key-policy", {"rotationPeriod": 3600})
    api.ok("PUT", f"{X}/tenants/{never}/key-policy", {"rotationPeriod": 0})
    api.ok("PUT", f"{X}/tenants/{daily}/key-policy", {"rotationPeriod": 7 * 86400})
    before = {t: active_kid(api, t) for t in (hourly, default, never, daily)}
    age_keys(rotating, [hourly, default], 7200)  # older than an hour, younger than a day
    age_keys(rotating, [never, daily], 2 * 86400)  # older than the server's day
    assert poll(lambda: active_kid(api, hourly), lambda k: k != before[hourly]) != before[hourly]
    # The run that rotated `hourly` saw the others too: none of them was due.
    assert {t: active_kid(api, t) for t in (default, never, daily)} == {
        t: before[t] for t in (default, never, daily)
    }
    age_keys(rotating, [default], 2 * 86400)
    kid = poll(lambda: active_kid(api, default), lambda k: k != before[default])
    assert kid != before[default]
    assert active_kid(api, never) == before[never]
    assert active_kid(api, daily) == before[daily]
    trail = api.ok("GET", f"{X}/audit?tenant={hourly}&action=key.rotated")
    assert trail[0]["details"]["period"] == 3600 and trail[0]["actor"] == "system"
