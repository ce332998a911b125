"""The `EventStore`, `SnapshotStore` and `CheckpointStore` Protocols, and the rules every store shares."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable
from uuid import UUID

from ._records import NO_STREAM, AppendResult, EventData, ExpectedVersion, RecordedEvent
from .exceptions import DuplicateEventError, EventSourcingConfigurationError, EventSourcingTypeError

__all__ = [
    "CheckpointStore",
    "EventStore",
    "NotifyingEventStore",
    "SnapshotRecord",
    "SnapshotStore",
    "SnapshottingEventStore",
]


@runtime_checkable
class EventStore(Protocol):
    """**Protocol**: an append-only store of event streams with one global, totally ordered log.

    `MemoryEventStore` and `PostgresEventStore` implement it; `buttress.testing.EventStoreContract` checks
    an implementation against every rule below.

    Versions: a stream's first event has version 1; a stream that has no events is at version 0.
    Positions: every event also gets a position in the global log, increasing in commit order, so a
    reader that has seen position ``p`` never later finds an event below ``p`` (gap safety).

    Idempotency: appending events whose ids are stored already is a no-op, and returns what the first
    append returned, when the whole batch is stored, in this stream, at consecutive versions, and
    (for an exact ``expected_version``) right after that version. Any other reuse of a stored id raises
    `DuplicateEventError`. So a retry after a lost reply never duplicates anything.

    Methods:
        append: Add events to a stream, checking its version; all or nothing.
        read: A stream's events in version order.
        read_all: A page of the global log in position order.
    """

    async def append(
        self, stream_id: str, events: Sequence[EventData], expected_version: ExpectedVersion
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` atomically, after checking the stream's version.

        Args:
            stream_id: The stream to append to.
            events: One or more events with distinct ids.
            expected_version: `NO_STREAM` (or ``0``): the stream must not exist; an int ``n``: the stream
                must be at version ``n``; `ANY`: no check.

        Raises:
            ConcurrencyError: The stream is not at ``expected_version``; ``.expected`` and ``.actual`` say
                both.
            DuplicateEventError: An event id is stored already somewhere else.
            EventSourcingConfigurationError: Malformed arguments.
        """
        ...

    async def read(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> Sequence[RecordedEvent]:
        """Return the stream's events with ``from_version <= version <= to_version``, in version order.

        An unknown stream reads as empty.
        """
        ...

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[RecordedEvent]:
        """Return at most ``limit`` events with positions above ``after_position``, in position order."""
        ...


@runtime_checkable
class NotifyingEventStore(EventStore, Protocol):
    """**Protocol**: an `EventStore` that can wake a subscriber when something is appended.

    Methods:
        wait_for_events: Wait until the log may hold events past a position.
    """

    async def wait_for_events(self, after_position: int, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for events past ``after_position``.

        Returns ``True`` when an append was seen (or may have happened), ``False`` on timeout; a caller
        reads `EventStore.read_all` either way, so a spurious wake is harmless.
        """
        ...


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A stored snapshot: an aggregate's serialized state at a version, and the hash that binds it.

    ``state_hash`` is the SHA-256 of the state *and* of everything a reader relies on to use it: the
    stream id, the version, the aggregate type, the state's schema version and the id of the event at
    that version (see `state_hash`). A row whose version was edited, a row copied from another stream,
    type or database, or a state of another schema version no longer matches its hash, and a
    `Repository` replays the stream instead of using it. Only ``timestamp`` is not covered: it is never
    used to load, and stores may keep it at a coarser precision.

    Attributes:
        stream_id: The aggregate's stream.
        version: The stream version the state reflects.
        state: The canonical serialized state.
        state_hash: Hex SHA-256 over the fields above (see `state_hash`), computed when the snapshot was
            taken.
        aggregate_type: The aggregate class's name.
        timestamp: When the snapshot was taken.
        schema_version: The aggregate class's ``state_schema_version`` when the snapshot was taken.
        last_event_id: The id of the event at ``version``, the last one the state includes.
    """

    stream_id: str
    version: int
    state: bytes
    state_hash: str
    aggregate_type: str
    timestamp: datetime
    schema_version: int = 1
    last_event_id: UUID | None = None

    def __post_init__(self) -> None:
        # Types only: a stored row with odd values must still load, and then fail its hash check.
        for name, kind in (
            ("stream_id", str),
            ("state", bytes),
            ("state_hash", str),
            ("aggregate_type", str),
        ):
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise EventSourcingTypeError(name, f"a {kind.__name__}", value)
        for name, bound in (("version", 2**63), ("schema_version", 2**31)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise EventSourcingTypeError(name, "an int", value)
            if not -bound <= value < bound:
                raise EventSourcingConfigurationError(name, value, f"must be an int in [-{bound}, {bound})")
        if not isinstance(self.timestamp, datetime):
            raise EventSourcingTypeError("timestamp", "a datetime", self.timestamp)
        if self.last_event_id is not None and not isinstance(self.last_event_id, UUID):
            raise EventSourcingTypeError("last_event_id", "a UUID or None", self.last_event_id)


@runtime_checkable
class SnapshotStore(Protocol):
    """**Protocol**: where a `Repository` keeps the latest snapshot of each aggregate.

    Methods:
        save_snapshot: Store a snapshot; a later version replaces an earlier one.
        load_snapshot: The latest snapshot of a stream, or ``None``.
    """

    async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store ``snapshot``, replacing an older one of the same stream.

        A newer one is kept, unless it fails its hash check: a damaged row never blocks a good one.
        """
        ...

    async def load_snapshot(self, stream_id: str) -> SnapshotRecord | None:
        """Return the latest snapshot of ``stream_id``, or ``None``."""
        ...


@runtime_checkable
class SnapshottingEventStore(EventStore, SnapshotStore, Protocol):
    """**Protocol**: an `EventStore` that keeps snapshots too and reads one with its tail in one go.

    A `Repository` whose event store and snapshot store are the same such object loads an aggregate
    with a single call (one round trip on PostgreSQL) instead of two.

    Methods:
        read_with_snapshot: The latest snapshot of a stream and the events after it.
    """

    async def read_with_snapshot(
        self, stream_id: str
    ) -> tuple[SnapshotRecord | None, Sequence[RecordedEvent]]:
        """Return the stream's latest snapshot (or ``None``) and its events from the snapshot's version on.

        The events start with the one at the snapshot's version (the repository checks that its id is
        the snapshot's ``last_event_id``), then the tail. Without a snapshot, they are the whole stream.
        A store may also return the whole stream (or any longer run ending at the stream's end) with a
        snapshot it can tell is damaged; the repository reads whatever it then misses.
        """
        ...


@runtime_checkable
class CheckpointStore(Protocol):
    """**Protocol**: where a subscription remembers the last global position it has processed.

    Methods:
        load_checkpoint: The saved position of a subscription, 0 when none was saved.
        save_checkpoint: Save a subscription's position.
    """

    async def load_checkpoint(self, name: str) -> int:
        """Return the position saved for ``name``, or 0."""
        ...

    async def save_checkpoint(self, name: str, position: int) -> None:
        """Save ``position`` for ``name``."""
        ...


@dataclass(frozen=True, slots=True)
class StoredLocation:
    """Where an event id is stored: its stream, version and position."""

    stream_id: str
    version: int
    position: int


def resolve_replay(
    stream_id: str,
    events: Sequence[EventData],
    expected: ExpectedVersion,
    stored: Mapping[UUID, StoredLocation],
) -> AppendResult | None:
    """Apply the idempotency rule to a batch some of whose ids may be stored already.

    Returns ``None`` when none of the ids is stored (append normally), the original `AppendResult` when
    the whole batch is stored exactly where this append would have put it, and raises
    `DuplicateEventError` for any other reuse.
    """
    if not stored:
        return None
    first = stored.get(events[0].event_id)
    ok = first is not None and first.stream_id == stream_id
    if first is not None and ok:
        expected_first = 1 if expected is NO_STREAM else expected + 1 if isinstance(expected, int) else None
        ok = expected_first is None or first.version == expected_first
        for offset, event in enumerate(events):
            where = stored.get(event.event_id)
            if where is None or where.stream_id != stream_id or where.version != first.version + offset:
                ok = False
                break
    if ok:
        last = stored[events[-1].event_id]
        return AppendResult(stream_id, last.version, last.position)
    for event in events:
        where = stored.get(event.event_id)
        if where is not None:
            raise DuplicateEventError(event.event_id, where.stream_id, where.version)
    raise AssertionError("unreachable: stored is not empty")  # pragma: no cover


class Wakeup:
    """The tasks waiting in a store's ``wait_for_events``, woken together when events may have come."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    async def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for `wake`; return whether it came."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)
        return True

    def wake(self) -> None:
        """Wake every task waiting now."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
