"""Token-bucket rate limits per recipient and per channel: `RateLimiter` and its memory backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from buttress.core import Clock, SystemClock

from ._model import check_id
from .exceptions import NotificationsConfigurationError, NotificationsTypeError

__all__ = ["MemoryRateLimiter", "Rate", "RateLimiter"]

_MAX_KEY: Final = 300
_MAX_LIMIT: Final = 10**9
_MAX_PER: Final = 10**9


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: up to ``limit`` sends at once, refilled at ``limit`` per ``per`` seconds.

    Examples:
        >>> Rate(5, 60).refill  # five a minute
        0.08333333333333333
    """

    limit: int
    per: float

    def __post_init__(self) -> None:
        if (
            not isinstance(self.limit, int)
            or isinstance(self.limit, bool)
            or not 1 <= self.limit <= _MAX_LIMIT
        ):
            raise NotificationsConfigurationError(
                "limit", self.limit, f"must be an int from 1 to {_MAX_LIMIT}"
            )
        if (
            not isinstance(self.per, int | float)
            or isinstance(self.per, bool)
            or not 0 < self.per <= _MAX_PER
        ):
            raise NotificationsConfigurationError("per", self.per, f"must be seconds in (0, {_MAX_PER}]")
        if not self.limit / self.per > 0:  # a refill rate that rounds to zero would never refill
            raise NotificationsConfigurationError("per", self.per, "gives a refill rate of zero")

    @property
    def refill(self) -> float:
        """Tokens added per second."""
        return self.limit / self.per


class RateLimiter(Protocol):
    """**Protocol**: a shared set of token buckets.

    ``acquire`` takes one token from the bucket ``key`` (created full) and returns ``0.0``, or takes
    nothing and returns how many seconds until a token will be there.
    """

    async def acquire(self, key: str, rate: Rate) -> float:
        """Take a token from ``key``'s bucket; return 0.0, or the seconds to wait."""
        ...


class MemoryRateLimiter:
    """Token buckets in a dict, timed by ``clock.monotonic()``; for one process.

    Args:
        clock: The time source (a `FakeClock` in tests).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        if clock is not None and not callable(getattr(clock, "monotonic", None)):
            raise NotificationsTypeError("clock", "a buttress.core.Clock", clock)
        self._clock = clock if clock is not None else SystemClock()
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, key: str, rate: Rate) -> float:
        """Take a token from ``key``'s bucket; return 0.0, or the seconds to wait."""
        check_id("key", key, max_length=_MAX_KEY)
        if not isinstance(rate, Rate):
            raise NotificationsTypeError("rate", "a Rate", rate)
        now = self._clock.monotonic()
        tokens, at = self._buckets.get(key, (float(rate.limit), now))
        tokens = min(float(rate.limit), tokens + max(0.0, now - at) * rate.refill)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, max(now, at))
            return 0.0
        self._buckets[key] = (tokens, max(now, at))
        return (1.0 - tokens) / rate.refill
