"""`FakeClock`: a `buttress.core.Clock` that moves only when a test moves it."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta

from .exceptions import TestingConfigurationError, TestingTypeError

__all__ = ["FakeClock"]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_LARGEST_FLOAT = int(sys.float_info.max)


class FakeClock:
    """A `buttress.core.Clock` for tests: time stands still until `advance` or `set` moves it.

    ``now()`` and ``monotonic()`` move together, so a TTL measured with one agrees with a timestamp
    taken from the other.

    Args:
        start: The wall-clock time to start at; timezone-aware. Defaults to 2026-01-01T00:00:00Z.
        monotonic_start: The monotonic reading to start at: a finite ``int`` or ``float``.

    Raises:
        TestingTypeError: ``start`` is not a datetime.
        TestingConfigurationError: ``start`` is naive or before year 1 in UTC, or ``monotonic_start``
            is not a finite number.

    Examples:
        >>> clock = FakeClock()
        >>> clock.advance(30)
        >>> clock.monotonic()
        30.0
    """

    __slots__ = ("_monotonic", "_now")

    def __init__(self, start: datetime = _EPOCH, *, monotonic_start: float = 0.0) -> None:
        self._now = _aware("start", start)
        self._monotonic = _finite("monotonic_start", monotonic_start)

    def now(self) -> datetime:
        """Return the fake wall-clock time (UTC)."""
        return self._now

    def monotonic(self) -> float:
        """Return the fake monotonic reading in seconds."""
        return self._monotonic

    def advance(self, seconds: float | timedelta) -> None:
        """Move both readings forward.

        A refused call moves neither reading.

        Raises:
            TestingTypeError: ``seconds`` is neither a number nor a `timedelta`.
            TestingConfigurationError: ``seconds`` is negative (a monotonic clock never goes back), not
                finite, or would move the wall clock past year 9999.
        """
        step, delta = _step(seconds)
        try:
            now = self._now + step
        except OverflowError:
            raise _past_the_end(seconds) from None
        self._now = now
        self._monotonic += delta

    def set(self, when: datetime) -> None:
        """Jump the wall clock to ``when`` (forwards or back, as NTP might).

        The monotonic reading moves forward by the same amount when ``when`` is later, and stays put
        when it is earlier, as a real monotonic clock would.

        Raises:
            TestingTypeError: ``when`` is not a datetime.
            TestingConfigurationError: ``when`` is naive or before year 1 in UTC.
        """
        when = _aware("when", when)
        delta = (when - self._now).total_seconds()
        self._now = when
        self._monotonic += max(delta, 0.0)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now.isoformat()}, monotonic={self._monotonic})"


def _aware(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise TestingTypeError(name, "a timezone-aware datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise TestingConfigurationError(name, value, "must be timezone-aware (use datetime(..., tzinfo=UTC))")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise TestingConfigurationError(name, value, "lies outside years 1 to 9999 in UTC") from None


def _finite(name: str, value: object, *, what: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TestingTypeError(name, what, value)
    # Compared before float(): an int too large for a float is out of range, not an OverflowError.
    if isinstance(value, int) and abs(value) > _LARGEST_FLOAT:
        raise TestingConfigurationError(name, value, "must be a finite number")
    number = float(value)
    if not math.isfinite(number):
        raise TestingConfigurationError(name, value, "must be a finite number")
    return number


def _step(seconds: object) -> tuple[timedelta, float]:
    """The wall-clock step and the monotonic one (a float keeps sub-microsecond steps) of an advance."""
    if isinstance(seconds, timedelta):
        delta = seconds.total_seconds()
    else:
        delta = _finite("seconds", seconds, what="a number of seconds or a timedelta")
    if delta < 0:
        raise TestingConfigurationError("seconds", seconds, "a clock only moves forward; use set() to jump")
    if isinstance(seconds, timedelta):
        return seconds, delta
    try:
        return timedelta(seconds=delta), delta
    except OverflowError:
        raise _past_the_end(seconds) from None


def _past_the_end(seconds: object) -> TestingConfigurationError:
    return TestingConfigurationError("seconds", seconds, "moves the clock past year 9999")
