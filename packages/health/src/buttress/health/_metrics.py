"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`; free without the API).

Attributes are bounded: a check's name (the application registers a handful), a status, a shutdown
outcome. Never an address, an error message or a request's data.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from typing import Final, Protocol

from buttress.core import Observation, Telemetry

from ._status import Status
from ._version import __version__

__all__ = [
    "CHECK_DURATION",
    "SHUTDOWN_DURATION",
    "STATUS_CHANGES",
    "TELEMETRY",
    "track_in_flight",
    "track_statuses",
]

TELEMETRY: Final = Telemetry("buttress.health", __version__)

CHECK_DURATION: Final = TELEMETRY.histogram(
    "buttress.health.check.duration",
    unit="s",
    description="Duration of one run of a check (a timed-out run counts its timeout).",
)
STATUS_CHANGES: Final = TELEMETRY.counter(
    "buttress.health.status.changes",
    unit="{change}",
    description="Times a check's status changed, by the status it changed to.",
)
SHUTDOWN_DURATION: Final = TELEMETRY.histogram(
    "buttress.health.shutdown.duration",
    unit="s",
    description="Duration of a graceful shutdown, by outcome: clean, or incomplete when requests "
    "were cut or resources did not close.",
)


class _Statuses(Protocol):
    def statuses(self) -> Iterable[tuple[str, Status]]: ...


class _Counted(Protocol):
    @property
    def in_flight(self) -> int: ...


_registries: weakref.WeakSet[_Statuses] = weakref.WeakSet()
_coordinators: weakref.WeakSet[_Counted] = weakref.WeakSet()
_registered: set[str] = set()


def track_statuses(registry: _Statuses) -> None:
    """Report ``registry.statuses()`` on the status gauge until the registry is garbage-collected."""
    _registries.add(registry)
    if "status" not in _registered:
        _registered.add("status")
        TELEMETRY.observe(
            "buttress.health.check.status",
            _observe_statuses,
            kind="gauge",
            unit="1",
            description="1 for each check's current status and 0 for the two others (pass, warn, fail).",
        )


def track_in_flight(coordinator: _Counted) -> None:
    """Report ``coordinator.in_flight`` on the in-flight gauge until it is garbage-collected."""
    _coordinators.add(coordinator)
    if "in_flight" not in _registered:
        _registered.add("in_flight")
        TELEMETRY.observe(
            "buttress.health.requests.in_flight",
            _observe_in_flight,
            kind="up_down_counter",
            unit="{request}",
            description="Requests the shutdown coordinator's middleware counts as in flight now.",
        )


def _observe_statuses() -> Iterator[Observation]:
    for registry in list(_registries):
        for name, current in registry.statuses():
            for status in Status:
                value = 1.0 if status is current else 0.0
                yield value, {"health.check": name, "health.status": status.value}


def _observe_in_flight() -> Iterator[Observation]:
    for coordinator in list(_coordinators):
        yield float(coordinator.in_flight), {}
