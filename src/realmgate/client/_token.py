"""Access tokens and the renewal windows derived from their lifetime."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from ._secret import MASK

EXPIRY_ROUNDING = 1.0
"""Seconds a token may expire before ``sent + expires_in``: the server's ``iat`` is its clock
rounded down to a whole second and ``exp`` is ``iat + expires_in``, so a token issued at
12:00:00.9 expires 0.9 s before a full ``expires_in`` has passed."""


class Freshness(enum.Enum):
    """Where a token stands in its life (see :class:`RenewalPolicy`)."""

    FRESH = "fresh"
    """Use it; nothing to do."""
    ADVISORY = "advisory"
    """Still valid: one caller renews it while the others keep using it."""
    MANDATORY = "mandatory"
    """Too close to expiry (or expired, or missing): every caller waits for a new one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessToken:
    """An access token with its lifetime on the monotonic clock of the provider.

    The token value is excluded from ``repr()``; use :attr:`value` or
    :attr:`authorization_header` to put it on the wire.

    Attributes:
        value: the access token itself.
        token_type: ``"Bearer"``, or ``"DPoP"`` for a token bound to the provider's
            :class:`~realmgate.client.DpopKey` (RFC 9449): such a token is sent as
            ``Authorization: DPoP <token>`` with a ``DPoP`` proof on every request.
        lifetime: ``expires_in`` in seconds as granted by the server.
        obtained_at: monotonic time at which the token was issued at the earliest: the
            provider sets it to the time its request was *sent* (so that the network round
            trip counts against the lifetime) less :data:`EXPIRY_ROUNDING`, because the
            server's ``iat`` and ``exp`` are whole seconds.
        scope: the granted scope, if the server reported it.
    """

    value: str = field(repr=False)
    token_type: str = "Bearer"
    lifetime: float
    obtained_at: float
    scope: str | None = None

    @property
    def expires_at(self) -> float:
        """Monotonic time at which the token expires."""
        return self.obtained_at + self.lifetime

    def remaining(self, now: float) -> float:
        """Seconds of validity left at monotonic time ``now`` (negative once expired)."""
        return self.expires_at - now

    @property
    def authorization_header(self) -> str:
        """The ``Authorization`` header value: ``Bearer <token>`` or ``DPoP <token>``."""
        return f"{self.token_type} {self.value}"

    @property
    def is_dpop(self) -> bool:
        """Whether the token is DPoP-bound (needs a proof with every request)."""
        return self.token_type == "DPoP"

    def __str__(self) -> str:
        return f"{self.token_type} {MASK}"


def _window(lifetime: float, fraction: float, floor: float, ceiling: float, cap: float) -> float:
    return min(max(fraction * lifetime, floor), ceiling, cap * lifetime)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalPolicy:
    """Two renewal thresholds derived from each token's lifetime ``L`` (in seconds).

    * Mandatory window: the last ``min(max(5% of L, 10 s), 60 s)`` of the token's life
      (never more than half of it). In this window the token is treated as expired: every
      caller waits for one shared renewal, and a failure raises.
    * Advisory window: the last ``min(max(20% of L, 30 s), 600 s)`` (never more than 3/4
      of the lifetime, never less than the mandatory window). In this window one caller
      renews while the others keep using the current token; a failure is logged, not
      raised, and the next advisory attempt waits ``advisory_retry_interval`` seconds
      (or the server's ``Retry-After``, if longer). An advisory renewal makes a single
      request (no back-off sleeps), so the renewing caller is not held up for long.

    With the server's default 7200 s tokens: advisory renewal starts 10 minutes before
    expiry, mandatory renewal 60 seconds before. With 300 s tokens: 60 s and 15 s.

    Raises ValueError for values that are not finite, negative values, fractions of 1 or more,
    a ``mandatory_min`` of 0 (no mandatory window: tokens would be handed out until they
    expire), a maximum below its minimum and an ``advisory_retry_interval`` of 0.
    """

    advisory_fraction: float = 0.20
    advisory_min: float = 30.0
    advisory_max: float = 600.0
    mandatory_fraction: float = 0.05
    mandatory_min: float = 10.0
    mandatory_max: float = 60.0
    advisory_retry_interval: float = 5.0

    def __post_init__(self) -> None:
        numbers = (
            self.advisory_fraction,
            self.advisory_min,
            self.advisory_max,
            self.mandatory_fraction,
            self.mandatory_min,
            self.mandatory_max,
            self.advisory_retry_interval,
        )
        if not all(isinstance(n, int | float) and math.isfinite(n) for n in numbers):
            raise ValueError("RenewalPolicy values must be finite numbers")
        if any(n < 0 for n in numbers):
            raise ValueError("RenewalPolicy values must not be negative")
        if self.advisory_fraction >= 1 or self.mandatory_fraction >= 1:
            raise ValueError("RenewalPolicy fractions must be below 1")
        # A mandatory window of 0 hands a token out until its last instant: it arrives expired.
        if self.mandatory_min <= 0:
            raise ValueError(
                "RenewalPolicy.mandatory_min must be above 0: with no mandatory window a token "
                "is used until it expires, and arrives expired"
            )
        if self.mandatory_max < self.mandatory_min or self.advisory_max < self.advisory_min:
            raise ValueError("RenewalPolicy maxima must not be below their minima")
        if self.advisory_retry_interval <= 0:
            raise ValueError(
                "RenewalPolicy.advisory_retry_interval must be above 0: a failed advisory "
                "renewal would otherwise be retried on every call"
            )

    def mandatory_window(self, lifetime: float) -> float:
        """Seconds before expiry at which the token must be renewed before use."""
        return _window(
            lifetime, self.mandatory_fraction, self.mandatory_min, self.mandatory_max, 0.5
        )

    def advisory_window(self, lifetime: float) -> float:
        """Seconds before expiry at which renewal starts in the background."""
        window = _window(
            lifetime, self.advisory_fraction, self.advisory_min, self.advisory_max, 0.75
        )
        return max(window, self.mandatory_window(lifetime))

    def freshness(self, token: AccessToken | None, now: float) -> Freshness:
        """Classify ``token`` at monotonic time ``now``."""
        if token is None:
            return Freshness.MANDATORY
        remaining = token.remaining(now)
        if remaining <= self.mandatory_window(token.lifetime):
            return Freshness.MANDATORY
        if remaining <= self.advisory_window(token.lifetime):
            return Freshness.ADVISORY
        return Freshness.FRESH
