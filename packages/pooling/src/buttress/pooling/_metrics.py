"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`).

Sizes are observed when the application's reader collects, from every live pool (held weakly), so
nothing runs on the hot path for them; events are counted where they happen. Attributes are bounded:
the pool's configured ``name``, a state, an operation, an outcome; never a resource or an address.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from buttress.core import Observation, Telemetry

from . import __version__
from ._accounting import PoolStats, State

if TYPE_CHECKING:
    from ._pool import Pool

__all__ = [
    "ACQUIRE_DURATION",
    "ACQUIRE_OUTCOMES",
    "CREATED",
    "DESTROYED",
    "EXHAUSTED",
    "FAILURES",
    "TELEMETRY",
    "TIMEOUTS",
    "track",
]

TELEMETRY: Final = Telemetry("buttress.pooling", __version__)

CREATED: Final = TELEMETRY.counter(
    "buttress.pooling.created",
    unit="{resource}",
    description="Resources the factory created.",
)
DESTROYED: Final = TELEMETRY.counter(
    "buttress.pooling.destroyed",
    unit="{resource}",
    description="Resources destroyed (expired, idle too long, unhealthy, discarded, or on close).",
)
FAILURES: Final = TELEMETRY.counter(
    "buttress.pooling.failures",
    unit="{failure}",
    description="Factory calls that failed, by operation (create, destroy, check, reset); a failed"
    " create of a ready-made factory whose server cannot be reached has error.type=unavailable.",
)
TIMEOUTS: Final = TELEMETRY.counter(
    "buttress.pooling.timeouts",
    unit="{timeout}",
    description="Acquires that got no resource within their timeout.",
)
EXHAUSTED: Final = TELEMETRY.counter(
    "buttress.pooling.exhausted",
    unit="{request}",
    description="Acquires refused at once because max_waiting callers were already waiting.",
)
ACQUIRE_DURATION: Final = TELEMETRY.histogram(
    "buttress.pooling.acquire.duration",
    unit="s",
    description="Time an acquire took, waiting included, by outcome (acquired, timeout, exhausted,"
    " closed, cancelled).",
)

ACQUIRE_OUTCOMES: Final = ("acquired", "timeout", "exhausted", "closed", "cancelled", "error")
"""The values of ``outcome`` on ``buttress.pooling.acquire.duration``."""

_live: weakref.WeakSet[Pool[object]] = weakref.WeakSet()
_observing = False


def track(pool: Pool[object]) -> None:
    """Report ``pool``'s sizes from now until it is garbage-collected."""
    global _observing  # noqa: PLW0603 - the observed instruments are registered once, on first use
    _live.add(pool)
    if _observing:
        return
    _observing = True
    TELEMETRY.observe(
        "buttress.pooling.resources",
        _resources,
        unit="{resource}",
        description="Resources in the pool, by state (idle, in_use, creating, destroying, unhealthy).",
    )
    TELEMETRY.observe(
        "buttress.pooling.waiting",
        lambda: _each(lambda s: s.waiting),
        unit="{request}",
        description="Callers waiting for a resource.",
    )
    TELEMETRY.observe(
        "buttress.pooling.resources.max",
        lambda: _each(lambda s: s.max_size),
        unit="{resource}",
        description="The pool's max_size.",
    )
    TELEMETRY.observe(
        "buttress.pooling.resources.min",
        lambda: _each(lambda s: s.min_size),
        unit="{resource}",
        description="The pool's min_size.",
    )


def _snapshots() -> list[tuple[str, PoolStats]]:
    return [(pool.name, pool.stats()) for pool in list(_live)]


def _resources() -> Iterable[Observation]:
    return [
        (getattr(stats, state.value), {"pool.name": name, "pool.state": state.value})
        for name, stats in _snapshots()
        for state in State
    ]


def _each(read: Callable[[PoolStats], int]) -> Iterable[Observation]:
    return [(read(stats), {"pool.name": name}) for name, stats in _snapshots()]
