"""Shared throttle counters in Redis (``REALMGATE_REDIS_URL``), instead of the database.

Every operation is one Lua script or one command, so it is atomic against every other node:

- ``<prefix>fail:<key>``: a hash of the key's two failure buckets (``storage/sliding.py``),
  expiring two windows after its last failure;
- ``<prefix>marks``: a sorted set of marks (blocks, known good sources), scored by their end;
- ``<prefix>marked``: the same members scored by when each mark was last raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import redis

from realmgate.server.storage.sliding import bucket_start, sliding_count

# KEYS[1]: the key's hash; ARGV: bucket start, window. Returns start, current, previous.
_COUNT = """
local start, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 's', 'c', 'p')
local s, c, p = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
if s and s >= start then
  c = c + 1
  start = s
elseif s == start - window then
  p, c = c, 1
else
  p, c = 0, 1
end
redis.call('HSET', KEYS[1], 's', start, 'c', c, 'p', p)
redis.call('EXPIRE', KEYS[1], 2 * window)
return {start, c, p}
"""

# KEYS: marks, marked; ARGV: now, then key, end pairs. Never lowers a mark (ZADD GT); a raised
# mark is stamped now. Drops up to 100 ended marks on the way, so the sets stay bounded.
_RAISE = """
local now = ARGV[1]
for i = 2, #ARGV, 2 do
  if redis.call('ZADD', KEYS[1], 'GT', 'CH', ARGV[i + 1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], now, ARGV[i])
  end
end
local ended = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, 100)
if #ended > 0 then
  redis.call('ZREM', KEYS[1], unpack(ended))
  redis.call('ZREM', KEYS[2], unpack(ended))
end
return #ended
"""

# KEYS: marks, marked; ARGV: since, now. Returns key, end pairs.
_SINCE = """
local out = {}
for _, key in ipairs(redis.call('ZRANGE', KEYS[2], ARGV[1], '+inf', 'BYSCORE')) do
  local ends = redis.call('ZSCORE', KEYS[1], key)
  if ends and tonumber(ends) > tonumber(ARGV[2]) then
    out[#out + 1] = key
    out[#out + 1] = ends
  end
end
return out
"""


class RedisCounters:
    def __init__(self, url: str, prefix: str = "realmgate:throttle:"):
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._marks = [f"{prefix}marks", f"{prefix}marked"]
        self._count = self._redis.register_script(_COUNT)
        self._raise = self._redis.register_script(_RAISE)
        self._since = self._redis.register_script(_SINCE)

    def __repr__(self) -> str:  # the URL may carry a password
        return "RedisCounters(<url>)"

    def count_auth_failure(self, key: str, now: float, window: int) -> int:
        start, current, previous = self._count(
            keys=[f"{self._prefix}fail:{key}"], args=[bucket_start(now, window), window]
        )
        return sliding_count(int(start), int(current), int(previous), now, window)

    def raise_marks(self, marks: Mapping[str, float], now: float) -> None:
        if marks:
            args: list[str | float] = [repr(now)]
            for key, until in marks.items():
                args += [key, repr(until)]
            self._raise(keys=self._marks, args=args)

    def marks_since(self, since: float, now: float) -> dict[str, float]:
        flat = self._since(keys=self._marks, args=[repr(since), repr(now)])
        return {key.decode(): float(ends) for key, ends in zip(flat[::2], flat[1::2], strict=True)}

    def marks_with_prefix(self, prefix: str, now: float, limit: int) -> dict[str, float]:
        found: dict[str, float] = {}
        match = re.sub(r"([\\*?\[\]])", r"\\\1", prefix) + "*"  # glob-escaped
        for member, ends in self._redis.zscan_iter(self._marks[0], match=match, count=500):
            if float(ends) > now:
                found[member.decode()] = float(ends)
                if len(found) >= limit:
                    break
        return dict(sorted(found.items()))

    def clear_marks(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        pipe = self._redis.pipeline(transaction=True)
        pipe.zrem(self._marks[0], *keys)
        pipe.zrem(self._marks[1], *keys)
        pipe.delete(*(f"{self._prefix}fail:{key}" for key in keys))
        pipe.execute()

    def close(self) -> None:
        self._redis.close()
