"""The throttle's shared counters behave alike in the database and in the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from realmgate.server.core.throttle import FailureCounters
from realmgate.server.redis_counters import RedisCounters
from realmgate.server.storage.sql import SqlStore

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["store", "redis"])
def counters(request: pytest.FixtureRequest, store: SqlStore) -> Iterator[FailureCounters]:
    if request.param == "store":
        yield store
        return
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis is required for the tests at {REDIS_URL}: {exc}") from exc
    c = RedisCounters(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    yield c
    c.close()


def test_failures_count_up_per_key(counters: FailureCounters) -> None:
    assert counters.count_auth_failure("src:a", 100, 60) == 1
    assert counters.count_auth_failure("src:a", 101, 60) == 2
    assert counters.count_auth_failure("src:b", 101, 60) == 1


def test_blocks_never_shorten(counters: FailureCounters) -> None:
    counters.count_auth_failure("src:a", 100, 60)
    counters.set_blocked_until("src:a", 2e9)
    counters.set_blocked_until("src:a", 1e9)
    assert counters.blocked_until(["src:a"]) == {"src:a": 2e9}
