"""Token-bucket rate limits per recipient and per channel: `RateLimiter` and its memory backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from buttress.core import Clock, SystemClock

from ._model import check_name
from .exceptions import NotificationConfigurationError

__all__ = ["MemoryRateLimiter", "Rate", "RateLimiter"]


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
        if not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit < 1:
            raise NotificationConfigurationError("limit", self.limit, "must be an int >= 1")
        if not isinstance(self.per, int | float) or not self.per > 0:
            raise NotificationConfigurationError("per", self.per, "must be a number of seconds > 0")

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
        self._clock = clock or SystemClock()
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, key: str, rate: Rate) -> float:
        """Take a token from ``key``'s bucket; return 0.0, or the seconds to wait."""
        check_name("key", key)
        if not isinstance(rate, Rate):
            raise NotificationConfigurationError("rate", type(rate).__name__, "must be a Rate")
        now = self._clock.monotonic()
        tokens, at = self._buckets.get(key, (float(rate.limit), now))
        tokens = min(float(rate.limit), tokens + max(0.0, now - at) * rate.refill)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, max(now, at))
            return 0.0
        self._buckets[key] = (tokens, max(now, at))
        return (1.0 - tokens) / rate.refill
