"""The sliding window of the throttle's failure counters, shared by the SQL and Redis stores.

A key's failures are kept in two buckets of ``window`` seconds, aligned to multiples of the
window: the current bucket and the one before. The count at ``now`` is the current bucket's
failures plus the previous bucket's weighted by the part of it that still lies in the sliding
window ``(now - window, now]`` (the "sliding window counter"): a failure counts fully while
its bucket is the current one, then its weight falls linearly to 0 over the next window. There
is no moment at which the count drops to zero, as a fixed window's does at its end.
"""

from __future__ import annotations

import math


def bucket_start(now: float, window: int) -> int:
    """The start of the bucket that holds ``now``."""
    return math.floor(now / window) * window


def sliding_count(start: int, current: int, previous: int, now: float, window: int) -> int:
    """Failures in the sliding window ending at ``now``, given the buckets starting at ``start``
    (``current`` failures) and at ``start - window`` (``previous``); rounded down."""
    overlap = min(1.0, max(0.0, (start + window - now) / window))
    return int(current + previous * overlap)


__all__ = ["bucket_start", "sliding_count"]
