"""`MemoryEventStore`: the embedded default, for tests, prototypes and single-process applications."""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from uuid import UUID

from . import _rules as rules
from ._metrics import record_append
from ._records import ANY, NO_STREAM, AppendResult, EventData, ExpectedVersion, RecordedEvent
from ._snapshots import check_snapshot, record_intact
from ._store import SnapshotRecord, StoredLocation, Wakeup, resolve_replay
from .exceptions import ConcurrencyError, DuplicateEventError

__all__ = ["MemoryEventStore"]


class MemoryEventStore:
    """An `EventStore` held in this process's memory, with snapshots and checkpoints beside it.

    It follows exactly the rules of `PostgresEventStore` (versions, positions, idempotent re-appends,
    errors), so code tested against it behaves the same on PostgreSQL. Each append runs without an
    ``await`` in its critical section, so concurrent tasks are serialized and the global log is
    totally ordered with no gaps. It also implements `SnapshotStore`, `CheckpointStore` and
    `NotifyingEventStore`.

    Examples:
        >>> import asyncio, uuid
        >>> store = MemoryEventStore()
        >>> event = EventData(uuid.uuid4(), "Opened", b"{}")
        >>> asyncio.run(store.append("account-1", [event], NO_STREAM)).version
        1
    """

    def __init__(self) -> None:
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._log: list[RecordedEvent] = []
        self._ids: dict[UUID, StoredLocation] = {}
        self._snapshots: dict[str, SnapshotRecord] = {}
        self._checkpoints: dict[str, int] = {}
        self._appended = Wakeup()

    async def append(
        self, stream_id: str, events: Sequence[EventData], expected_version: ExpectedVersion
    ) -> AppendResult:
        """Append ``events`` to ``stream_id``; see `EventStore.append` for the rules."""
        stream_id, events, expected = rules.append(stream_id, events, expected_version)
        started = time.perf_counter()
        stored = {e.event_id: self._ids[e.event_id] for e in events if e.event_id in self._ids}
        try:
            replay = resolve_replay(stream_id, events, expected, stored)
        except DuplicateEventError:
            record_append("memory", started, "duplicate", 0)
            raise
        if replay is not None:
            record_append("memory", started, "replayed", 0)
            return replay
        stream = self._streams.get(stream_id, [])
        current = len(stream)
        if expected is not ANY and current != (0 if expected is NO_STREAM else expected):
            record_append("memory", started, "conflict", 0)
            raise ConcurrencyError(stream_id, expected, current)
        position = len(self._log)
        recorded = [
            RecordedEvent(
                event_id=e.event_id,
                stream_id=stream_id,
                version=current + offset,
                position=position + offset,
                event_type=e.event_type,
                data=e.data,
                metadata=e.metadata,
                schema_version=e.schema_version,
                timestamp=e.timestamp,
            )
            for offset, e in enumerate(events, start=1)
        ]
        self._streams.setdefault(stream_id, stream).extend(recorded)
        self._log.extend(recorded)
        for r in recorded:
            self._ids[r.event_id] = StoredLocation(stream_id, r.version, r.position)
        self._appended.wake()
        record_append("memory", started, "appended", len(recorded))
        last = recorded[-1]
        return AppendResult(stream_id, last.version, last.position)

    async def read(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> Sequence[RecordedEvent]:
        """Return the stream's events with ``from_version <= version <= to_version``."""
        stream_id, from_version, to_version = rules.read(stream_id, from_version, to_version)
        stream = self._streams.get(stream_id, [])
        end = len(stream) if to_version is None else min(to_version, len(stream))
        return stream[from_version - 1 : end]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[RecordedEvent]:
        """Return at most ``limit`` events with positions above ``after_position``."""
        after_position, limit = rules.read_all(after_position, limit)
        start = bisect.bisect_right(self._log, after_position, key=lambda r: r.position)
        return self._log[start : start + limit]

    async def wait_for_events(self, after_position: int, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for an event past ``after_position``."""
        after_position, timeout = rules.wait_for_events(after_position, timeout)
        if len(self._log) > after_position:
            return True
        return await self._appended.wait(timeout)

    async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Keep ``snapshot`` unless an intact snapshot of a later version is stored."""
        check_snapshot(snapshot)
        held = self._snapshots.get(snapshot.stream_id)
        if held is None or held.version <= snapshot.version or not record_intact(held, snapshot.stream_id):
            self._snapshots[snapshot.stream_id] = snapshot

    async def load_snapshot(self, stream_id: str) -> SnapshotRecord | None:
        """Return the latest snapshot of ``stream_id``, or ``None``."""
        return self._snapshots.get(rules.stream_id(stream_id))

    async def read_with_snapshot(
        self, stream_id: str
    ) -> tuple[SnapshotRecord | None, Sequence[RecordedEvent]]:
        """Return the latest snapshot of ``stream_id`` (or ``None``) and the events from its version on.

        When the snapshot does not match its hash, the events are the whole stream.
        """
        snapshot = self._snapshots.get(rules.stream_id(stream_id))
        stream = self._streams.get(stream_id, [])
        if snapshot is None or not record_intact(snapshot, stream_id):
            return snapshot, stream[:]
        return snapshot, stream[max(snapshot.version - 1, 0) :]

    async def load_checkpoint(self, name: str) -> int:
        """Return the position saved for subscription ``name``, or 0."""
        return self._checkpoints.get(rules.checkpoint_name(name), 0)

    async def save_checkpoint(self, name: str, position: int) -> None:
        """Save ``position`` for subscription ``name``."""
        name, position = rules.save_checkpoint(name, position)
        self._checkpoints[name] = position

    def __repr__(self) -> str:
        return f"MemoryEventStore(streams={len(self._streams)}, events={len(self._log)})"
