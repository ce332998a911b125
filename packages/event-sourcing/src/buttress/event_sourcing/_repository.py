"""`Repository[A]`: load aggregates from snapshot + tail; save pending events with optimistic locking."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from buttress.core import Clock, SystemClock

from ._aggregate import Aggregate
from ._codec import EventCodec
from ._metrics import (
    EVENTS_REPLAYED,
    INTEGRITY_FAILURES,
    LOAD_DURATION,
    LOADS,
    SNAPSHOT_READS,
    SNAPSHOT_WRITES,
)
from ._records import AppendResult, RecordedEvent, check_stream_id
from ._snapshots import Snapshot, SnapshotPolicy, canonical_bytes, record_hash, state_hash
from ._store import EventStore, SnapshotRecord, SnapshotStore, SnapshottingEventStore
from .exceptions import (
    AggregateNotFoundError,
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingTypeError,
    EventSourcingUnavailableError,
    SnapshotIntegrityError,
)

__all__ = ["Repository"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Problem:
    """Why a snapshot is not used; an outdated one (another state schema version) is not a failure."""

    reason: str
    outdated: bool = False
    expected_hash: str = ""
    actual_hash: str = ""


def _state_schema_version(cls: type[Any]) -> int:
    version = getattr(cls, "state_schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        raise EventSourcingConfigurationError(
            "state_schema_version", version, f"of {cls.__qualname__} must be an int from 1 to 2**31 - 1"
        )
    return version


def _stream_of(id: object) -> str:
    try:
        return str(id)
    except Exception as exc:
        raise EventSourcingConfigurationError("id", type(id).__name__, "cannot be turned into a str") from exc


class Repository[A: Aggregate[Any]]:
    """Loads and saves aggregates of one type through an `EventStore`.

    `load` starts from the latest snapshot when there is one (checking its SHA-256), then applies the
    events after it; `save` appends the aggregate's pending events with the version it was loaded at as
    the expected version, so a concurrent change raises `ConcurrencyError` instead of being overwritten.

    A snapshot is used only if it matches its hash (which binds the state to the stream id, the version,
    the aggregate type, the state schema version and the id of the event at that version; see
    `state_hash`), was taken of this repository's aggregate type, its last event id is the id of the
    stream's event at its version, and its state restores. Otherwise the repository logs a warning on
    the ``buttress.event_sourcing._repository`` logger, adds one to `snapshot_integrity_failures` (and
    to the ``buttress.event_sourcing.snapshot.integrity_failures`` counter), and replays the
    full history instead, which gives the same aggregate as an intact snapshot would have; with
    ``strict_snapshots=True`` it raises `SnapshotIntegrityError` instead. A snapshot taken under another
    ``state_schema_version`` of the class is outdated, not damaged: it is skipped (logged at INFO, not
    counted, never raised).

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
        snapshot_integrity_failures: How many untrustworthy snapshots this repository has met.
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
            raise EventSourcingTypeError("store", "an EventStore", store)
        if not isinstance(codec, EventCodec):
            raise EventSourcingTypeError("codec", "an EventCodec", codec)
        if snapshots is not None and not isinstance(snapshots, SnapshotStore):
            raise EventSourcingTypeError("snapshots", "a SnapshotStore", snapshots)
        if policy is not None and not isinstance(policy, SnapshotPolicy):
            raise EventSourcingTypeError("policy", "a SnapshotPolicy", policy)
        if policy is not None and snapshots is None:
            raise EventSourcingConfigurationError("policy", policy, "needs a snapshot store (snapshots=...)")
        if not isinstance(strict_snapshots, bool):
            raise EventSourcingTypeError("strict_snapshots", "a bool", strict_snapshots)
        if clock is not None and not isinstance(clock, Clock):
            raise EventSourcingTypeError("clock", "a Clock", clock)
        _state_schema_version(aggregate_type)
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
        self._attributes = {"aggregate.type": aggregate_type.__name__}

    async def load(self, id: object, *, use_snapshot: bool = True) -> A:
        """Return the aggregate with ``id``, rebuilt from its snapshot (if any and intact) and events.

        Args:
            id: The aggregate's id; its stream is ``str(id)``.
            use_snapshot: ``False`` ignores snapshots and replays every event.

        Raises:
            AggregateNotFoundError: No events are stored for ``id``.
            SnapshotIntegrityError: The snapshot cannot be trusted and ``strict_snapshots`` is set.
            EventSerializationError: A stored event cannot be decoded.
        """
        stream_id = check_stream_id(_stream_of(id))
        if not isinstance(use_snapshot, bool):
            raise EventSourcingTypeError("use_snapshot", "a bool", use_snapshot)
        started = time.perf_counter()
        aggregate: A | None = None
        records: Sequence[RecordedEvent] | None = None
        if use_snapshot and self.snapshots is not None:
            aggregate, records = await self._from_snapshot(id, stream_id)
        if aggregate is None:
            aggregate = self.aggregate_type(id)
        if records is None:
            records = await self.store.read(stream_id, from_version=aggregate.version + 1)
        decode, apply = self.codec.decode, aggregate.apply
        for record in records:
            apply(decode(record))
        found = aggregate.version != 0
        LOAD_DURATION.record(time.perf_counter() - started, self._attributes)
        LOADS.add(1, {**self._attributes, "outcome": "found" if found else "not_found"})
        if records:
            EVENTS_REPLAYED.add(len(records), self._attributes)
        if not found:
            raise AggregateNotFoundError(self.aggregate_type.__name__, id)
        return aggregate

    async def _from_snapshot(
        self, id: object, stream_id: str
    ) -> tuple[A | None, Sequence[RecordedEvent] | None]:
        """The aggregate restored from its snapshot and the events after it; ``(None, events)`` otherwise.

        The events are ``None`` when the caller still has to read the whole stream.
        """
        records: Sequence[RecordedEvent] | None = None
        if self._combined is not None:
            # One round trip for both; the events start at the snapshot's own last event.
            stored, records = await self._combined.read_with_snapshot(stream_id)
        else:
            assert self.snapshots is not None  # noqa: S101 - the caller checked
            stored = await self.snapshots.load_snapshot(stream_id)
        if stored is None:
            SNAPSHOT_READS.add(1, {**self._attributes, "outcome": "miss"})
            return None, records
        if not isinstance(stored, SnapshotRecord):
            raise EventSourcingTypeError("snapshots.load_snapshot()", "a SnapshotRecord or None", stored)
        problem = self._check_record(stream_id, stored)
        if problem is None and records is None:
            records = await self.store.read(stream_id, from_version=stored.version)
        if problem is None and records is not None:
            aggregate, tail, problem = self._restore(id, stored, records)
            if aggregate is not None:
                SNAPSHOT_READS.add(1, {**self._attributes, "outcome": "hit"})
                return aggregate, tail
        if problem is not None:
            self._reject(stream_id, stored, problem)
        return None, await self._whole_stream(stream_id, records)

    def _check_record(self, stream_id: str, stored: SnapshotRecord) -> _Problem | None:
        if stored.stream_id != stream_id:
            return _Problem("the store returned it labelled as a snapshot of another stream")
        expected = record_hash(stored, stream_id)
        if expected != stored.state_hash:
            return _Problem(
                "its SHA-256 does not match (a changed state, version, stream, type or schema version)",
                expected_hash=stored.state_hash,
                actual_hash=expected or "",
            )
        if stored.aggregate_type != self.aggregate_type.__name__:
            return _Problem(
                f"it was taken of a {stored.aggregate_type[:200]}, not a {self.aggregate_type.__name__}"
            )
        if stored.schema_version != _state_schema_version(self.aggregate_type):
            return _Problem(
                f"its state schema version is {stored.schema_version}, the class's is "
                f"{_state_schema_version(self.aggregate_type)}",
                outdated=True,
            )
        if stored.version < 1:
            return _Problem("its version is below 1")
        return None

    def _restore(
        self, id: object, stored: SnapshotRecord, records: Sequence[RecordedEvent]
    ) -> tuple[A | None, Sequence[RecordedEvent], _Problem | None]:
        index = stored.version - records[0].version if records else -1
        if not 0 <= index < len(records) or records[index].event_id != stored.last_event_id:
            return None, (), _Problem("the stream holds no event with its last event id at its version")
        if records[index].version != stored.version:
            return None, (), _Problem("the stream's versions are not consecutive")
        aggregate = self.aggregate_type(id)
        try:
            state = json.loads(stored.state)
            aggregate.restore_state(state)
        except Exception as exc:  # noqa: BLE001 - any failure to restore means: rebuild from the events
            return None, (), _Problem(f"its state cannot be restored ({type(exc).__name__})")
        aggregate.version = stored.version
        aggregate._last_event_id = stored.last_event_id
        return aggregate, records[index + 1 :], None

    def _reject(self, stream_id: str, stored: SnapshotRecord, problem: _Problem) -> None:
        outcome = "outdated" if problem.outdated else "rejected"
        SNAPSHOT_READS.add(1, {**self._attributes, "outcome": outcome})
        if problem.outdated:
            logger.info(
                "snapshot of stream %r at version %d is not used (%s); replaying the full history",
                stream_id,
                stored.version,
                problem.reason,
            )
            return
        self.snapshot_integrity_failures += 1
        INTEGRITY_FAILURES.add(1, self._attributes)
        if self.strict_snapshots:
            raise SnapshotIntegrityError(
                stream_id,
                stored.version,
                problem.reason,
                expected_hash=problem.expected_hash,
                actual_hash=problem.actual_hash,
            )
        # Once per load, with what finds the row (never the state): the stream, the aggregate type, the
        # version the row claims, and why.
        logger.warning(
            "snapshot of %s stream %r at version %d fails its integrity check (%s); "
            "replaying the full history",
            self.aggregate_type.__name__,
            stream_id,
            stored.version,
            problem.reason,
            extra={
                "stream_id": stream_id,
                "aggregate_type": self.aggregate_type.__name__,
                "snapshot_version": stored.version,
            },
        )

    async def _whole_stream(
        self, stream_id: str, records: Sequence[RecordedEvent] | None
    ) -> Sequence[RecordedEvent]:
        """The whole stream, reading only what ``records`` (a run ending at the stream's end) lacks."""
        if not records:
            return await self.store.read(stream_id)
        first = records[0].version
        if first > 1:
            return [*await self.store.read(stream_id, to_version=first - 1), *records]
        return records

    async def save(self, aggregate: A) -> AppendResult | None:
        """Append the aggregate's pending events, expecting the version it had before them.

        Returns the append's result, or ``None`` when nothing was pending. When the policy says so, a
        snapshot is then taken; failing to store it is logged and does not fail the save.

        Raises:
            ConcurrencyError: Someone else appended to the stream since the aggregate was loaded.
        """
        self._check_aggregate(aggregate)
        pending = aggregate.pending_events
        if not pending:
            return None
        before = aggregate.version - len(pending)
        result = await self.store.append(aggregate.stream_id, self.codec.encode_all(pending), before)
        aggregate.collect_events()
        if self.policy is not None and self.policy.should_snapshot(before, aggregate.version):
            try:
                await self.take_snapshot(aggregate)
            except (EventSourcingUnavailableError, EventSerializationError) as exc:
                # The events are stored: failing the save now would make the caller retry what succeeded.
                logger.warning("could not store a snapshot of %r: %s", aggregate.stream_id, exc)
        return result

    async def take_snapshot(self, aggregate: A) -> Snapshot:
        """Store a snapshot of ``aggregate`` at its current version and return it.

        Raises:
            EventSourcingConfigurationError: The repository has no snapshot store, the aggregate is not
                of the repository's type, has no stored events, or has unsaved events (a snapshot must
                describe stored history).
            EventSerializationError: The aggregate's state is not JSON.
        """
        if self.snapshots is None:
            raise EventSourcingConfigurationError("snapshots", None, "this repository has no snapshot store")
        self._check_aggregate(aggregate)
        if aggregate.pending_events:
            raise EventSourcingConfigurationError(
                "aggregate", aggregate.stream_id, "has unsaved events; save it before taking a snapshot"
            )
        last_event_id = aggregate.last_event_id
        if aggregate.version < 1 or last_event_id is None:
            raise EventSourcingConfigurationError(
                "aggregate", aggregate.stream_id, "has no stored events to take a snapshot of"
            )
        state = aggregate.snapshot_state()
        if not isinstance(state, dict):
            raise EventSourcingConfigurationError(
                "snapshot_state()", type(state).__name__, "must return a dict"
            )
        canonical = canonical_bytes(state)
        aggregate_type = type(aggregate).__name__
        schema_version = _state_schema_version(type(aggregate))
        digest = state_hash(
            canonical,
            stream_id=aggregate.stream_id,
            version=aggregate.version,
            aggregate_type=aggregate_type,
            schema_version=schema_version,
            last_event_id=last_event_id,
        )
        record = SnapshotRecord(
            stream_id=aggregate.stream_id,
            version=aggregate.version,
            state=canonical,
            state_hash=digest,
            aggregate_type=aggregate_type,
            timestamp=self._clock.now(),
            schema_version=schema_version,
            last_event_id=last_event_id,
        )
        try:
            await self.snapshots.save_snapshot(record)
        except Exception:
            SNAPSHOT_WRITES.add(1, {**self._attributes, "outcome": "failed"})
            raise
        SNAPSHOT_WRITES.add(1, {**self._attributes, "outcome": "stored"})
        return Snapshot(
            aggregate.stream_id,
            aggregate.version,
            state,
            digest,
            aggregate_type,
            schema_version,
            last_event_id,
        )

    def _check_aggregate(self, aggregate: object) -> None:
        if not isinstance(aggregate, self.aggregate_type):
            raise EventSourcingTypeError("aggregate", f"a {self.aggregate_type.__name__}", aggregate)

    def __repr__(self) -> str:
        return f"Repository({self.aggregate_type.__name__}, store={self.store!r})"
