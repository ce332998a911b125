"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`).

Attributes are bounded: the backend (``memory``, ``postgresql``), an outcome, the aggregate class's
name and a subscription's configured name; never a stream id, an event id or a payload.
"""

from __future__ import annotations

import time
from typing import Final, Literal

from buttress.core import Telemetry

from . import __version__

__all__ = [
    "APPENDED",
    "APPEND_DURATION",
    "CONFLICTS",
    "EVENTS_HANDLED",
    "EVENTS_REPLAYED",
    "INTEGRITY_FAILURES",
    "LOADS",
    "LOAD_DURATION",
    "SNAPSHOT_READS",
    "SNAPSHOT_WRITES",
    "TELEMETRY",
    "UNAVAILABLE",
    "record_append",
]

type Backend = Literal["memory", "postgresql"]
type AppendOutcome = Literal["appended", "replayed", "conflict", "duplicate", "unavailable", "error"]

TELEMETRY: Final = Telemetry("buttress.event_sourcing", __version__)

APPENDED: Final = TELEMETRY.counter(
    "buttress.event_sourcing.events.appended",
    unit="{event}",
    description="Events written to the store by appends (an idempotent re-append writes none).",
)
APPEND_DURATION: Final = TELEMETRY.histogram(
    "buttress.event_sourcing.append.duration",
    unit="s",
    description="Time an append took, by outcome.",
)
CONFLICTS: Final = TELEMETRY.counter(
    "buttress.event_sourcing.concurrency_conflicts",
    unit="{conflict}",
    description="Appends refused because the stream was not at the expected version.",
)
UNAVAILABLE: Final = TELEMETRY.counter(
    "buttress.event_sourcing.unavailable",
    unit="{error}",
    description="Operations that failed because the database could not be reached.",
)
LOADS: Final = TELEMETRY.counter(
    "buttress.event_sourcing.stream.loads",
    unit="{load}",
    description="Aggregates loaded by repositories, by outcome (found, not_found).",
)
LOAD_DURATION: Final = TELEMETRY.histogram(
    "buttress.event_sourcing.load.duration",
    unit="s",
    description="Time a repository took to load an aggregate (snapshot, events and replay).",
)
EVENTS_REPLAYED: Final = TELEMETRY.counter(
    "buttress.event_sourcing.events.replayed",
    unit="{event}",
    description="Events applied to aggregates while loading them (after the snapshot, if one was used).",
)
SNAPSHOT_READS: Final = TELEMETRY.counter(
    "buttress.event_sourcing.snapshot.reads",
    unit="{read}",
    description="Snapshot look-ups by repositories, by outcome (hit, miss, outdated, rejected).",
)
SNAPSHOT_WRITES: Final = TELEMETRY.counter(
    "buttress.event_sourcing.snapshot.writes",
    unit="{write}",
    description="Snapshots taken by repositories, by outcome (stored, failed).",
)
INTEGRITY_FAILURES: Final = TELEMETRY.counter(
    "buttress.event_sourcing.snapshot.integrity_failures",
    unit="{snapshot}",
    description="Snapshots that failed their SHA-256 binding or did not fit their stream.",
)
EVENTS_HANDLED: Final = TELEMETRY.counter(
    "buttress.event_sourcing.subscription.events",
    unit="{event}",
    description="Events handled by subscriptions and applied by projection runners.",
)


def record_append(backend: Backend, started: float, outcome: AppendOutcome, events: int) -> None:
    """Record one append that began at ``started`` (`time.perf_counter`) and wrote ``events``."""
    APPEND_DURATION.record(time.perf_counter() - started, {"backend": backend, "outcome": outcome})
    if events:
        APPENDED.add(events, {"backend": backend})
    if outcome == "conflict":
        CONFLICTS.add(1, {"backend": backend})
