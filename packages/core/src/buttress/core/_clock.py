"""Time as a dependency: the `Clock` Protocol and the real `SystemClock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """**Protocol**: where a component gets the time, so tests can move it.

    Components take a ``clock`` argument defaulting to `SystemClock`; tests pass
    `buttress.testing.FakeClock` and advance it instead of sleeping.

    Methods:
        now: The current wall-clock time, timezone-aware, in UTC. Use it for timestamps that are stored
            or shown.
        monotonic: Seconds from an arbitrary fixed point that never go backwards. Use it for timeouts,
            TTLs and durations.
    """

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Return seconds from a fixed point; never decreases."""
        ...


class SystemClock:
    """The real clock: `datetime.now` in UTC and `time.monotonic`.

    Examples:
        >>> clock = SystemClock()
        >>> clock.now().tzinfo
        datetime.timezone.utc
    """

    __slots__ = ()

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return `time.monotonic`."""
        return time.monotonic()

    def __repr__(self) -> str:
        return "SystemClock()"
