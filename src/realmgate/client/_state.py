"""The sans-I/O renewal state machine shared by the sync and the async providers.

The providers call :meth:`RenewalState.plan` while holding their lock (or, for asyncio,
without awaiting in between) and act on the answer:

* :class:`Use` - return this token;
* :class:`Lead` - start a renewal (a *flight*), register it with :meth:`~RenewalState.begin`,
  run it outside the lock, then report :meth:`~RenewalState.succeeded` or
  :meth:`~RenewalState.failed`;
* :class:`Join` - wait for the flight already in progress and share its outcome.

At most one flight exists at any time, so any number of concurrent callers cause exactly
one token request per renewal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._errors import TokenEndpointUnavailableError
from ._token import AccessToken, Freshness, RenewalPolicy

F = TypeVar("F")


class Mode(enum.Enum):
    """Why a flight runs."""

    ADVISORY = "advisory"
    """Renewal ahead of time: one request, failures are logged by the leader, not raised."""
    MANDATORY = "mandatory"
    """The token is unusable (or a refresh was forced): retries, failures raise."""


@dataclass(frozen=True, slots=True)
class Use:
    token: AccessToken


@dataclass(frozen=True, slots=True)
class Lead:
    mode: Mode


@dataclass(frozen=True, slots=True)
class Join(Generic[F]):
    flight: F
    mode: Mode


class RenewalState(Generic[F]):
    """The current token, the flight in progress (an opaque handle ``F``) and the cool-down
    after a failed advisory renewal. Not thread-safe: callers serialise access."""

    def __init__(self, policy: RenewalPolicy) -> None:
        self.policy = policy
        self.token: AccessToken | None = None
        self._flight: F | None = None
        self._flight_mode = Mode.MANDATORY
        self._advisory_not_before = float("-inf")

    @property
    def flight(self) -> F | None:
        return self._flight

    def plan(
        self, now: float, *, force: bool = False, stale: AccessToken | None = None
    ) -> Use | Lead | Join[F]:
        """Decide what a caller does.

        Args:
            now: the monotonic time.
            force: the caller needs a token newer than the current one
                (:meth:`~realmgate.client.TokenProvider.force_refresh`).
            stale: with ``force``, the token the caller saw rejected. If the state already
                holds a different, usable token (someone renewed since), that one is used
                instead of renewing again - this coalesces concurrent 401 retries.
        """
        token = self.token
        freshness = self.policy.freshness(token, now)
        if force and stale is not None and token is not None and token is not stale:
            if freshness is not Freshness.MANDATORY:
                return Use(token)
            force = False
        if not force:
            if token is not None and freshness is Freshness.FRESH:
                return Use(token)
            if token is not None and freshness is Freshness.ADVISORY:
                if self._flight is not None or now < self._advisory_not_before:
                    return Use(token)
                return Lead(Mode.ADVISORY)
        if self._flight is not None:
            return Join(self._flight, self._flight_mode)
        return Lead(Mode.MANDATORY)

    def begin(self, flight: F, mode: Mode) -> None:
        """Register the flight started after a :class:`Lead` answer."""
        if self._flight is not None:
            raise RuntimeError("a renewal is already in progress")
        self._flight = flight
        self._flight_mode = mode

    def succeeded(self, token: AccessToken) -> None:
        """The flight obtained ``token``."""
        self.token = token
        self._flight = None
        self._advisory_not_before = float("-inf")

    def failed(self, now: float, error: BaseException) -> None:
        """The flight failed at monotonic time ``now``."""
        if self._flight_mode is Mode.ADVISORY:
            pause = self.policy.advisory_retry_interval
            if isinstance(error, TokenEndpointUnavailableError) and error.retry_after:
                pause = max(pause, error.retry_after)
            self._advisory_not_before = now + pause
        self._flight = None

    def invalidate(self) -> None:
        """Forget the current token: the next caller renews (a flight in progress still
        stores its result)."""
        self.token = None
