"""Counters every cache keeps, readable in process (`Cache.stats`) and exported by `_metrics`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of a cache's counters since it was created.

    Attributes:
        hits: Reads that found a fresh value.
        misses: Reads that found nothing (or only an expired value).
        sets: Values written.
        evictions: Values dropped to respect ``max_size`` (memory storages).
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
