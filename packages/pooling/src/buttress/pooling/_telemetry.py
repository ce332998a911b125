"""OpenTelemetry metrics for pools: observable instruments that read `Pool.stats()` when collected."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

if TYPE_CHECKING:
    from ._pool import Pool, PoolStats

# Sizes are gauges (they go up and down); the rest only grow, so they are counters.
_GAUGES = ("idle", "in_use", "creating", "destroying", "unhealthy", "total", "waiting")
_COUNTERS = (
    "acquired",
    "released",
    "timeouts",
    "exhausted",
    "created",
    "destroyed",
    "create_errors",
    "destroy_errors",
    "check_failures",
    "reset_failures",
)


class _Telemetry:
    """Registers the instruments once and reports every live pool (weakly held) at collection time.

    Nothing runs on the hot path, and without a metrics SDK installed by the application
    opentelemetry-api makes all of it a no-op.
    """

    def __init__(self) -> None:
        self._live: weakref.WeakSet[Pool[object]] = weakref.WeakSet()
        self._registered = False

    def track(self, pool: Pool[object] | Pool[object]) -> None:
        self._live.add(pool)
        if not self._registered:
            self._registered = True
            meter = metrics.get_meter("buttress.pooling")
            for name in _GAUGES:
                meter.create_observable_gauge(f"buttress.pool.{name}", callbacks=[self._reader(name)])
            for name in _COUNTERS:
                meter.create_observable_counter(f"buttress.pool.{name}", callbacks=[self._reader(name)])
            meter.create_observable_counter(
                "buttress.pool.wait_time", callbacks=[self._reader("wait_time_total")], unit="s"
            )

    def _reader(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        live = self._live

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            snapshots: list[tuple[str, PoolStats]] = [(p.name, p.stats()) for p in list(live)]
            return [Observation(getattr(s, field), {"pool.name": name}) for name, s in snapshots]

        return observe


telemetry = _Telemetry()
