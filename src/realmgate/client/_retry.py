"""Bounded retries with exponential back-off, full jitter and ``Retry-After``."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


def _full_jitter(cap: float) -> float:
    return random.uniform(0.0, cap)  # noqa: S311 - jitter, not cryptography


RETRYABLE_STATUS = frozenset({408, 425, 429})


def is_retryable_status(status_code: int) -> bool:
    """429, 408, 425 and every 5xx are transient; other statuses are final."""
    return status_code in RETRYABLE_STATUS or 500 <= status_code <= 599


def parse_retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` delay in seconds (delta-seconds form only), or ``None``.

    The HTTP-date form is ignored (it would need a trustworthy wall clock); the exponential
    back-off is used instead.
    """
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How token (and discovery) requests are retried on 429, 5xx and network errors.

    Defaults: up to ``max_retries=3`` retries (4 requests in all). Before retry ``n``
    (0-based) the client sleeps a random time in ``[0, min(max_delay, base_delay * 2**n)]``
    (exponential back-off with full jitter: 0-0.5 s, 0-1 s, 0-2 s by default). If the server
    sent ``Retry-After: <seconds>``, that delay is used instead, capped at
    ``max_retry_after`` (30 s). 400/401/403/404 are never retried.

    ``jitter`` maps the back-off cap to the actual delay; tests can inject a deterministic one.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 30.0
    jitter: Callable[[float], float] = field(default=_full_jitter, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays must not be negative")

    @property
    def max_attempts(self) -> int:
        """Requests made at most for one renewal: the first one plus the retries."""
        return self.max_retries + 1

    def backoff_cap(self, retry: int) -> float:
        """Upper bound of the back-off before retry number ``retry`` (0-based)."""
        return min(self.max_delay, self.base_delay * (2.0 ** min(retry, 62)))

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        cap = self.backoff_cap(retry)
        return min(max(self.jitter(cap), 0.0), cap)
