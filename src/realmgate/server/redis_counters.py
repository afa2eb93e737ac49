"""Shared throttle counters in Redis (``REALMGATE_REDIS_URL``), instead of the database."""

from __future__ import annotations

import redis


class RedisCounters:
    def __init__(self, url: str, prefix: str = "realmgate:throttle:"):
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def __repr__(self) -> str:  # the URL may carry a password
        return "RedisCounters(<url>)"

    def count_auth_failure(self, key: str, now: int, window: int) -> int:
        name = f"{self._prefix}fail:{key}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, window, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def set_blocked_until(self, key: str, until: float) -> None:
        name = f"{self._prefix}block:{key}"
        current = self._redis.get(name)
        if current is None or float(current) < until:
            ttl = max(1, int(until - float(self._redis.time()[0])) + 1)
            self._redis.set(name, repr(until), ex=ttl)

    def blocked_until(self, keys: list[str]) -> dict[str, float]:
        values = self._redis.mget([f"{self._prefix}block:{k}" for k in keys])
        return {k: float(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def close(self) -> None:
        self._redis.close()
