"""`Repository[A]`: load aggregates from snapshot + tail; save pending events with optimistic locking."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from buttress.core import Clock, SystemClock

from ._aggregate import Aggregate
from ._codec import EventCodec
from ._records import AppendResult, RecordedEvent
from ._snapshots import Snapshot, SnapshotPolicy, canonical_bytes, open_record, state_hash
from ._store import EventStore, SnapshotRecord, SnapshotStore, SnapshottingEventStore
from .exceptions import (
    AggregateNotFoundError,
    EventSourcingConfigurationError,
    EventStoreUnavailableError,
    SnapshotIntegrityError,
)

__all__ = ["Repository"]

logger = logging.getLogger("buttress.event_sourcing")


class Repository[A: Aggregate[Any]]:
    """Loads and saves aggregates of one type through an `EventStore`.

    `load` starts from the latest snapshot when there is one (checking its SHA-256), then applies the
    events after it; `save` appends the aggregate's pending events with the version it was loaded at as
    the expected version, so a concurrent change raises `ConcurrencyError` instead of being overwritten.

    A snapshot whose state does not match its hash is never used: the repository logs a warning on the
    ``buttress.event_sourcing`` logger, adds one to `snapshot_integrity_failures`, and replays the full
    history instead, which gives the same aggregate as an intact snapshot would have. With
    ``strict_snapshots=True`` it raises `SnapshotIntegrityError` instead.

    Args:
        aggregate_type: The aggregate class; it is built as ``aggregate_type(id)`` before replay.
        store: Where events live.
        codec: Encodes and decodes the aggregate's events.
        snapshots: Where snapshots live (`MemoryEventStore` and `PostgresEventStore` are both snapshot
            stores); ``None`` disables snapshots.
        policy: When `save` takes a snapshot, such as `EveryNEvents`; ``None`` never does (call
            `take_snapshot` yourself).
        strict_snapshots: Raise on a corrupted snapshot instead of falling back to replay.
        clock: Source of snapshot timestamps.

    Attributes:
        snapshot_integrity_failures: How many corrupted snapshots this repository has met.
    """

    def __init__(
        self,
        aggregate_type: type[A],
        store: EventStore,
        codec: EventCodec,
        *,
        snapshots: SnapshotStore | None = None,
        policy: SnapshotPolicy | None = None,
        strict_snapshots: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(aggregate_type, type) or not issubclass(aggregate_type, Aggregate):
            raise EventSourcingConfigurationError(
                "aggregate_type", aggregate_type, "must be an Aggregate subclass"
            )
        if not isinstance(store, EventStore):
            raise EventSourcingConfigurationError("store", type(store).__name__, "must be an EventStore")
        if not isinstance(codec, EventCodec):
            raise EventSourcingConfigurationError("codec", type(codec).__name__, "must be an EventCodec")
        if snapshots is not None and not isinstance(snapshots, SnapshotStore):
            raise EventSourcingConfigurationError(
                "snapshots", type(snapshots).__name__, "must be a SnapshotStore"
            )
        if policy is not None and not isinstance(policy, SnapshotPolicy):
            raise EventSourcingConfigurationError("policy", type(policy).__name__, "must be a SnapshotPolicy")
        if policy is not None and snapshots is None:
            raise EventSourcingConfigurationError("policy", policy, "needs a snapshot store (snapshots=...)")
        self.aggregate_type = aggregate_type
        self.store = store
        self.codec = codec
        self.snapshots = snapshots
        self.policy = policy
        self.strict_snapshots = strict_snapshots
        self._clock = clock or SystemClock()
        same = snapshots is not None and cast("object", snapshots) is store
        self._combined = store if same and isinstance(store, SnapshottingEventStore) else None
        self.snapshot_integrity_failures = 0

    async def load(self, id: object, *, use_snapshot: bool = True) -> A:
        """Return the aggregate with ``id``, rebuilt from its snapshot (if any and intact) and events.

        Args:
            id: The aggregate's id; its stream is ``str(id)``.
            use_snapshot: ``False`` ignores snapshots and replays every event.

        Raises:
            AggregateNotFoundError: No events are stored for ``id``.
            SnapshotIntegrityError: The snapshot is corrupted and ``strict_snapshots`` is set.
        """
        stream_id = str(id)
        aggregate = self.aggregate_type(id)
        records: Sequence[RecordedEvent] | None = None
        if use_snapshot and self.snapshots is not None:
            if self._combined is not None:
                # One round trip for both; a corrupted snapshot then needs only the events before it.
                stored, records = await self._combined.read_with_snapshot(stream_id)
            else:
                stored = await self.snapshots.load_snapshot(stream_id)
            snapshot = None if stored is None else self._verified(stored)
            if snapshot is not None:
                aggregate.restore_state(snapshot.state)
                aggregate.version = snapshot.version
                if records and records[0].version <= snapshot.version:
                    records = [r for r in records if r.version > snapshot.version]
            elif stored is not None and records is not None:
                first = records[0].version if records else stored.version + 1
                if first > 1:
                    records = [*await self.store.read(stream_id, to_version=first - 1), *records]
        if records is None:
            records = await self.store.read(stream_id, from_version=aggregate.version + 1)
        decode, apply = self.codec.decode, aggregate.apply
        for record in records:
            apply(decode(record))
        if aggregate.version == 0:
            raise AggregateNotFoundError(self.aggregate_type.__name__, id)
        return aggregate

    def _verified(self, record: SnapshotRecord) -> Snapshot | None:
        stream_id = record.stream_id
        snapshot, actual = open_record(record)
        if snapshot is not None:
            return snapshot
        self.snapshot_integrity_failures += 1
        if self.strict_snapshots:
            raise SnapshotIntegrityError(stream_id, record.version, record.state_hash, actual)
        logger.warning(
            "snapshot of stream %r at version %d fails its SHA-256 check; replaying the full history",
            stream_id,
            record.version,
        )
        return None

    async def save(self, aggregate: A) -> AppendResult | None:
        """Append the aggregate's pending events, expecting the version it had before them.

        Returns the append's result, or ``None`` when nothing was pending. When the policy says so, a
        snapshot is then taken; failing to store it is logged and does not fail the save.

        Raises:
            ConcurrencyError: Someone else appended to the stream since the aggregate was loaded.
        """
        if not isinstance(aggregate, self.aggregate_type):
            raise EventSourcingConfigurationError(
                "aggregate", type(aggregate).__name__, f"must be a {self.aggregate_type.__name__}"
            )
        pending = aggregate.pending_events
        if not pending:
            return None
        before = aggregate.version - len(pending)
        result = await self.store.append(aggregate.stream_id, self.codec.encode_all(pending), before)
        aggregate.collect_events()
        if self.policy is not None and self.policy.should_snapshot(before, aggregate.version):
            try:
                await self.take_snapshot(aggregate)
            except EventStoreUnavailableError as exc:
                logger.warning("could not store a snapshot of %r: %s", aggregate.stream_id, exc)
        return result

    async def take_snapshot(self, aggregate: A) -> Snapshot:
        """Store a snapshot of ``aggregate`` at its current version and return it.

        Raises:
            EventSourcingConfigurationError: The repository has no snapshot store, or the aggregate has
                unsaved events (a snapshot must describe stored history).
        """
        if self.snapshots is None:
            raise EventSourcingConfigurationError("snapshots", None, "this repository has no snapshot store")
        if aggregate.pending_events:
            raise EventSourcingConfigurationError(
                "aggregate", aggregate.stream_id, "has unsaved events; save it before taking a snapshot"
            )
        state = aggregate.snapshot_state()
        canonical = canonical_bytes(state)
        digest = state_hash(canonical)
        await self.snapshots.save_snapshot(
            SnapshotRecord(
                stream_id=aggregate.stream_id,
                version=aggregate.version,
                state=canonical,
                state_hash=digest,
                aggregate_type=type(aggregate).__name__,
                timestamp=self._clock.now(),
            )
        )
        return Snapshot(aggregate.stream_id, aggregate.version, state, digest)

    def __repr__(self) -> str:
        return f"Repository({self.aggregate_type.__name__}, store={self.store!r})"
