"""buttress-event-sourcing: async event sourcing with an event store on PostgreSQL.

Aggregates rebuilt from their events, an `EventStore` with expected-version appends (`NO_STREAM`, `ANY`
or an exact version), idempotent re-appends and one gap-safe global log; snapshots bound by SHA-256 to
their stream, version, aggregate type, state schema and last event; event payloads checked against their
annotations both ways; catch-up subscriptions, and exactly-once projections into PostgreSQL::

    from dataclasses import dataclass
    from buttress.event_sourcing import Aggregate, Event, EventCodec, MemoryEventStore, Repository, applies

    @dataclass(frozen=True)
    class Deposited(Event):
        amount: int

    class Account(Aggregate[str]):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.balance = 0

        def deposit(self, amount: int) -> None:
            self.trigger(Deposited, amount=amount)

        @applies(Deposited)
        def _deposited(self, event: Deposited) -> None:
            self.balance += event.amount

    accounts = Repository(Account, MemoryEventStore(), EventCodec([Deposited]))

`PostgresEventStore` and `PostgresProjectionRunner` need the ``postgres`` extra, `AesGcmCipher` the
``encryption`` extra; they are imported on first use, so the rest works with neither installed.
"""

from __future__ import annotations

# Set before the imports below: `_metrics` reports it with the instrumentation scope.
__version__ = "0.1.0"

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._aggregate import Aggregate, applies
from ._codec import Cipher, Compressor, EventCodec, Upcaster, ZlibCompressor
from ._events import DomainEvent, Event
from ._memory import MemoryEventStore
from ._records import ANY, NO_STREAM, AppendResult, EventData, ExpectedVersion, RecordedEvent, StreamState
from ._repository import Repository
from ._snapshots import EveryNEvents, Snapshot, SnapshotPolicy, canonical_bytes, state_hash
from ._store import (
    CheckpointStore,
    EventStore,
    NotifyingEventStore,
    SnapshotRecord,
    SnapshotStore,
    SnapshottingEventStore,
)
from ._subscription import Subscription
from .exceptions import (
    AggregateNotFoundError,
    ConcurrencyError,
    DuplicateEventError,
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingError,
    EventSourcingTypeError,
    EventSourcingUnavailableError,
    MissingExtraError,
    SnapshotIntegrityError,
    UnknownEventTypeError,
    UpcastError,
)

if TYPE_CHECKING:
    from ._crypto import AesGcmCipher
    from ._postgres import PostgresEventStore
    from ._projections import PostgresProjectionRunner, Projection

__all__ = [
    "ANY",
    "NO_STREAM",
    "AesGcmCipher",
    "Aggregate",
    "AggregateNotFoundError",
    "AppendResult",
    "CheckpointStore",
    "Cipher",
    "Compressor",
    "ConcurrencyError",
    "DomainEvent",
    "DuplicateEventError",
    "Event",
    "EventCodec",
    "EventData",
    "EventSerializationError",
    "EventSourcingConfigurationError",
    "EventSourcingError",
    "EventSourcingTypeError",
    "EventSourcingUnavailableError",
    "EventStore",
    "EveryNEvents",
    "ExpectedVersion",
    "MemoryEventStore",
    "MissingExtraError",
    "NotifyingEventStore",
    "PostgresEventStore",
    "PostgresProjectionRunner",
    "Projection",
    "RecordedEvent",
    "Repository",
    "Snapshot",
    "SnapshotIntegrityError",
    "SnapshotPolicy",
    "SnapshotRecord",
    "SnapshotStore",
    "SnapshottingEventStore",
    "StreamState",
    "Subscription",
    "UnknownEventTypeError",
    "UpcastError",
    "Upcaster",
    "ZlibCompressor",
    "__version__",
    "applies",
    "canonical_bytes",
    "state_hash",
]

# Backends behind extras load on first use, so the package imports without asyncpg or cryptography.
__getattr__ = lazy_exports(
    __name__,
    {
        "AesGcmCipher": "_crypto",
        "PostgresEventStore": "_postgres",
        "Projection": "_projections",
        "PostgresProjectionRunner": "_projections",
    },
)
