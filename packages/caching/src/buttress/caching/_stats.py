"""Counters every cache keeps, readable in process and exported as OpenTelemetry metrics."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of a cache's counters since it was created.

    Attributes:
        hits: Reads that found a fresh value.
        misses: Reads that found nothing (or only an expired value).
        sets: Values written.
        evictions: Values dropped to respect ``max_size`` (memory caches).
        errors: Backend operations that failed (and were degraded to a miss or a dropped write).
        single_flight_joins: Callers that waited for a computation another caller had started.
        lock_waits: Computations that waited for another process holding the distributed lock.
        early_refreshes: Values recomputed before expiry by probabilistic early expiration (XFetch).
        stale_served: Expired values served while a background refresh ran (stale-while-revalidate).
        loads: Times a loader was called.
    """

    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    errors: int = 0
    single_flight_joins: int = 0
    lock_waits: int = 0
    early_refreshes: int = 0
    stale_served: int = 0
    loads: int = 0

    @property
    def hit_ratio(self) -> float:
        """Hits over reads, or 0.0 before the first read."""
        reads = self.hits + self.misses
        return self.hits / reads if reads else 0.0


@dataclass(slots=True, weakref_slot=True, eq=False)
class Counters:
    """The mutable counters behind `CacheStats` (same fields); plain attribute increments on the hot path."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    errors: int = 0
    single_flight_joins: int = 0
    lock_waits: int = 0
    early_refreshes: int = 0
    stale_served: int = 0
    loads: int = 0
    name: str = field(default="", compare=False)

    def snapshot(self) -> CacheStats:
        """Return the counters as an immutable `CacheStats`."""
        return CacheStats(**{f.name: getattr(self, f.name) for f in fields(CacheStats)})


class _Telemetry:
    """Observable OpenTelemetry counters that read the live caches' counters when collected.

    Reading happens only when a metrics SDK collects, so the hot path pays nothing. Without an SDK
    installed by the application, opentelemetry-api makes all of this a no-op.
    """

    def __init__(self) -> None:
        self._live: weakref.WeakSet[Counters] = weakref.WeakSet()
        self._registered = False

    def track(self, counters: Counters) -> None:
        self._live.add(counters)
        if not self._registered:
            self._register()
            self._registered = True

    def _register(self) -> None:
        meter = metrics.get_meter("buttress.caching")
        for f in fields(CacheStats):
            meter.create_observable_counter(
                f"buttress.cache.{f.name}",
                callbacks=[self._callback(f.name)],
                unit="{" + f.name.rstrip("s") + "}",
                description=f"Cache {f.name.replace('_', ' ')}",
            )

    def _callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        live = self._live

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(getattr(c, name), {"cache.name": c.name}) for c in list(live)]

        return observe


telemetry = _Telemetry()
