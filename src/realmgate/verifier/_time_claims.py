"""The time claims of a JWT (RFC 7519 §4.1.4-4.1.6): ``exp``, ``nbf`` and ``iat``.

One check for every JWT realmgate reads: access tokens (the verifier, hence the tenant API and
introspection) and client assertions (RFC 7523, ``server.core.assertions``). A NumericDate is
a JSON number, never a string, a boolean or null, and finite: JSON parsers (Python's among them)
accept ``NaN``, ``Infinity`` and integers beyond any float. A NaN ``exp`` would never expire
(every comparison with NaN is false), an infinite one overflows ``int()``. A claim that is
present must be well-formed even when it is optional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DEFAULT_LEEWAY = 30  # seconds of clock skew tolerated on exp, nbf and iat

MISSING = "missing"
MALFORMED = "malformed"
EXPIRED = "expired"
TOO_FAR_AHEAD = "too far ahead"
NOT_YET_VALID = "not yet valid"
ISSUED_IN_THE_FUTURE = "issued in the future"
TOO_OLD = "too old"


class TimeClaimError(Exception):
    """A time claim failed: ``claim`` is its name, ``problem`` one of the constants above."""

    def __init__(self, claim: str, problem: str):
        super().__init__(f"{claim} {problem}")
        self.claim = claim
        self.problem = problem


@dataclass(frozen=True, slots=True)
class TimeClaims:
    """The checked time claims (seconds since the epoch; None when absent)."""

    expires_at: float
    not_before: float | None
    issued_at: float | None


def numeric_date(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    """The claim ``name`` as a finite number, None when absent (and not ``required``)."""
    if name not in claims:
        if required:
            raise TimeClaimError(name, MISSING)
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):  # null is no time either
        raise TimeClaimError(name, MALFORMED)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise TimeClaimError(name, MALFORMED) from None
    if not math.isfinite(number):
        raise TimeClaimError(name, MALFORMED)
    return number


def check_time_claims(
    claims: dict[str, Any],
    now: float,
    *,
    leeway: float = DEFAULT_LEEWAY,
    max_lifetime: float | None = None,
    max_age: float | None = None,
) -> TimeClaims:
    """Check ``exp`` (required), ``nbf`` and ``iat`` (optional) at ``now``, each with
    ``leeway`` seconds of clock skew. ``max_lifetime``: ``exp`` at most that far ahead;
    ``max_age``: ``iat``, when present, at most that old. Raises :class:`TimeClaimError`."""
    exp = numeric_date(claims, "exp", required=True)
    assert exp is not None
    if exp + leeway <= now:
        raise TimeClaimError("exp", EXPIRED)
    if max_lifetime is not None and exp > now + max_lifetime + leeway:
        raise TimeClaimError("exp", TOO_FAR_AHEAD)
    nbf = numeric_date(claims, "nbf", required=False)
    if nbf is not None and nbf - leeway > now:
        raise TimeClaimError("nbf", NOT_YET_VALID)
    iat = numeric_date(claims, "iat", required=False)
    if iat is not None:
        if iat - leeway > now:
            raise TimeClaimError("iat", ISSUED_IN_THE_FUTURE)
        if max_age is not None and iat < now - max_age - leeway:
            raise TimeClaimError("iat", TOO_OLD)
    return TimeClaims(exp, nbf, iat)
