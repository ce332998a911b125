"""The OpenTelemetry instruments of buttress-caching, bound lazily through core's `Telemetry`.

Every count is an observable counter that reads the live caches' `CacheStats` counters when the
application's metrics SDK collects, so a cache hit costs one integer increment and nothing else.
Loader durations are a histogram recorded once per load. The only attribute is ``cache.name``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Final

from buttress.core import Observation, Telemetry

from ._stats import Counters

__all__ = ["COUNTED", "LOAD_DURATION", "TELEMETRY", "track"]

__version__ = "0.1.0"

TELEMETRY: Final = Telemetry("buttress.caching", __version__)

LOAD_DURATION: Final = TELEMETRY.histogram(
    "buttress.caching.load.duration", unit="s", description="How long a loader took to compute a value."
)

COUNTED: Final = (
    "hits",
    "misses",
    "sets",
    "evictions",
    "errors",
    "single_flight_joins",
    "lock_waits",
    "early_refreshes",
    "stale_served",
    "loads",
)
"""The `CacheStats` fields reported, one observable counter each."""

_live: weakref.WeakSet[Counters] = weakref.WeakSet()
_registered = False


def track(counters: Counters) -> None:
    """Report ``counters`` (a cache's or a storage's) until it is garbage-collected."""
    global _registered  # noqa: PLW0603 - the instruments are registered once, on the first cache
    _live.add(counters)
    if not _registered:
        _registered = True
        _register()


def _register() -> None:
    TELEMETRY.observe(
        "buttress.caching.hits",
        _reader("hits"),
        kind="counter",
        unit="{hit}",
        description="Reads that found a fresh value.",
    )
    TELEMETRY.observe(
        "buttress.caching.misses",
        _reader("misses"),
        kind="counter",
        unit="{miss}",
        description="Reads that found no fresh value.",
    )
    TELEMETRY.observe(
        "buttress.caching.sets",
        _reader("sets"),
        kind="counter",
        unit="{write}",
        description="Values written.",
    )
    TELEMETRY.observe(
        "buttress.caching.evictions",
        _reader("evictions"),
        kind="counter",
        unit="{eviction}",
        description="Entries dropped to respect max_size.",
    )
    TELEMETRY.observe(
        "buttress.caching.errors",
        _reader("errors"),
        kind="counter",
        unit="{error}",
        description="Storage calls that failed, and unreadable stored data.",
    )
    TELEMETRY.observe(
        "buttress.caching.single_flight.joins",
        _reader("single_flight_joins"),
        kind="counter",
        unit="{call}",
        description="Callers that waited for a computation another caller had started.",
    )
    TELEMETRY.observe(
        "buttress.caching.lock.waits",
        _reader("lock_waits"),
        kind="counter",
        unit="{computation}",
        description="Computations that waited for another process holding the lock.",
    )
    TELEMETRY.observe(
        "buttress.caching.early_refreshes",
        _reader("early_refreshes"),
        kind="counter",
        unit="{refresh}",
        description="Values recomputed before expiry (XFetch).",
    )
    TELEMETRY.observe(
        "buttress.caching.stale_served",
        _reader("stale_served"),
        kind="counter",
        unit="{read}",
        description="Expired values served while a refresh ran.",
    )
    TELEMETRY.observe(
        "buttress.caching.loads",
        _reader("loads"),
        kind="counter",
        unit="{load}",
        description="Times a loader was called.",
    )


def _reader(field: str) -> Callable[[], Iterable[Observation]]:
    def observe() -> Iterable[Observation]:
        totals: dict[str, int] = {}
        for counters in list(_live):
            totals[counters.name] = totals.get(counters.name, 0) + getattr(counters, field)
        return [(float(value), {"cache.name": name}) for name, value in totals.items()]

    return observe
