"""`FakeClock`: a `buttress.core.Clock` that moves only when a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from buttress.core import ConfigurationError

__all__ = ["FakeClock"]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A `buttress.core.Clock` for tests: time stands still until `advance` or `set` moves it.

    ``now()`` and ``monotonic()`` move together, so a TTL measured with one agrees with a timestamp
    taken from the other.

    Args:
        start: The wall-clock time to start at; timezone-aware. Defaults to 2026-01-01T00:00:00Z.
        monotonic_start: The monotonic reading to start at.

    Examples:
        >>> clock = FakeClock()
        >>> clock.advance(30)
        >>> clock.monotonic()
        30.0
    """

    __slots__ = ("_monotonic", "_now")

    def __init__(self, start: datetime = _EPOCH, *, monotonic_start: float = 0.0) -> None:
        self._now = _aware("start", start)
        self._monotonic = float(monotonic_start)

    def now(self) -> datetime:
        """Return the fake wall-clock time (UTC)."""
        return self._now

    def monotonic(self) -> float:
        """Return the fake monotonic reading in seconds."""
        return self._monotonic

    def advance(self, seconds: float | timedelta) -> None:
        """Move both readings forward.

        Raises:
            ConfigurationError: ``seconds`` is negative; a monotonic clock never goes back.
        """
        delta = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        if delta < 0:
            raise ConfigurationError("seconds", seconds, "a clock only moves forward; use set() to jump")
        self._now += timedelta(seconds=delta)
        self._monotonic += delta

    def set(self, when: datetime) -> None:
        """Jump the wall clock to ``when`` (forwards or back, as NTP might).

        The monotonic reading moves forward by the same amount when ``when`` is later, and stays put
        when it is earlier, as a real monotonic clock would.

        Raises:
            ConfigurationError: ``when`` is naive.
        """
        when = _aware("when", when)
        delta = (when - self._now).total_seconds()
        self._now = when
        self._monotonic += max(delta, 0.0)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now.isoformat()}, monotonic={self._monotonic})"


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(name, value, "must be timezone-aware (use datetime(..., tzinfo=UTC))")
    return value.astimezone(UTC)
