"""A circuit breaker, so a cache stops hammering a server that is down and probes for its return."""

from __future__ import annotations

import logging
from enum import Enum

from buttress.core import Clock

from .exceptions import CachingConfigurationError


class BreakerState(Enum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    """Calls go through."""
    OPEN = "open"
    """Calls are skipped until the recovery interval has passed."""
    HALF_OPEN = "half_open"
    """One probe call is in flight; its outcome closes or re-opens the breaker."""

    @classmethod
    def _missing_(cls, value: object) -> BreakerState:
        # BreakerState("bogus") raises the package's error (still a ValueError), not Enum's bare one.
        raise CachingConfigurationError(
            "state", value, f"must be one of {', '.join(repr(s.value) for s in cls)}"
        )


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``recovery`` seconds lets one probe through.

    While open, `allow` is false and callers take their fallback at once, without touching the
    network. A successful probe closes the breaker; a failed one opens it for another interval.
    """

    def __init__(
        self, *, threshold: int, recovery: float, clock: Clock, logger: logging.Logger, name: str
    ) -> None:
        self.threshold = threshold
        self.recovery = recovery
        self._clock = clock
        self._logger = logger
        self._name = name
        self._failures = 0
        self._opened_at = 0.0
        self.state = BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a call may go to the server now.

        Once ``recovery`` seconds have passed since the breaker opened (or since the last probe
        started), one probe is let through. A probe that never reports back (its caller was
        cancelled) does not wedge the breaker: another is let through one interval later.
        """
        if self.state is BreakerState.CLOSED:
            return True
        now = self._clock.monotonic()
        if now - self._opened_at >= self.recovery:
            self.state = BreakerState.HALF_OPEN
            self._opened_at = now
            return True
        return False

    @property
    def is_open(self) -> bool:
        """Whether calls are being skipped now (without letting a probe through, unlike `allow`)."""
        return self.state is BreakerState.OPEN

    def success(self) -> None:
        """Record a call that worked."""
        if self.state is not BreakerState.CLOSED:
            self._logger.info("%s: server answered again; resuming", self._name)
        self._failures = 0
        self.state = BreakerState.CLOSED

    def failure(self) -> None:
        """Record a call that failed because the server could not be reached."""
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.threshold:
            if self.state is BreakerState.CLOSED:
                self._logger.warning(
                    "%s: %d consecutive failures; skipping the server for %.1fs",
                    self._name,
                    self._failures,
                    self.recovery,
                )
            self.state = BreakerState.OPEN
            self._opened_at = self._clock.monotonic()
