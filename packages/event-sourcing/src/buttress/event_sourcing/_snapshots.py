"""Snapshots bound by a SHA-256 to their stream, version, type and schema, and when to take them."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from buttress.core import check_text

from ._records import check_stream_id, check_timestamp
from ._store import SnapshotRecord
from .exceptions import EventSerializationError, EventSourcingConfigurationError, EventSourcingTypeError

__all__ = [
    "HASH_TAG",
    "EveryNEvents",
    "Snapshot",
    "SnapshotPolicy",
    "canonical_bytes",
    "check_snapshot",
    "record_intact",
    "state_hash",
]

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

HASH_TAG = b"buttress.event_sourcing/snapshot/2\x00"
"""The first bytes hashed: which layout the hash covers (PostgreSQL computes the same bytes)."""

_MAX_VERSION = 2**63
_MAX_SCHEMA = 2**31


def canonical_bytes(state: Any) -> bytes:  # noqa: ANN401
    """Serialize ``state`` canonically: UTF-8 JSON with sorted keys and no insignificant whitespace.

    Equal states give equal bytes, so their hashes agree across processes and versions of this library.

    Raises:
        EventSerializationError: ``state`` holds something JSON cannot represent (NaN, a set, an object,
            a lone surrogate).
    """
    try:
        return _ENCODER.encode(state).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise EventSerializationError(
            "snapshot",
            "dumps",
            f"the state is not JSON ({type(exc).__name__})",
            type_name=type(state).__name__,
        ) from None


def state_hash(
    state: bytes,
    *,
    stream_id: str,
    version: int,
    aggregate_type: str,
    schema_version: int,
    last_event_id: UUID,
) -> str:
    """Return the hex SHA-256 that binds a snapshot's state to what a reader relies on.

    The hashed bytes are `HASH_TAG`, then the stream id (UTF-8, after its length as a 4-byte big-endian
    unsigned int), the version (8-byte big-endian signed), the aggregate type (length-prefixed like the
    stream id), the state schema version (4-byte big-endian signed), the 16 bytes of ``last_event_id``,
    and finally the canonical state. Changing any of them changes the hash; the length prefixes keep one
    field from bleeding into the next.

    Raises:
        EventSourcingConfigurationError: An argument has the wrong type or is out of range.
    """
    if not isinstance(state, bytes):
        raise EventSourcingTypeError("state", "bytes", state)
    for name, value in (("stream_id", stream_id), ("aggregate_type", aggregate_type)):
        if not isinstance(value, str):
            raise EventSourcingTypeError(name, "a str", value)
    _check_int(version, "version", _MAX_VERSION)
    _check_int(schema_version, "schema_version", _MAX_SCHEMA)
    if not isinstance(last_event_id, UUID):
        raise EventSourcingTypeError("last_event_id", "a UUID", last_event_id)
    try:
        stream = stream_id.encode()
        kind = aggregate_type.encode()
    except UnicodeEncodeError:
        raise EventSourcingConfigurationError(
            "stream_id or aggregate_type", "<text>", "must be encodable as UTF-8 (no lone surrogates)"
        ) from None
    digest = hashlib.sha256(HASH_TAG)
    digest.update(struct.pack(">I", len(stream)) + stream + struct.pack(">q", version))
    digest.update(struct.pack(">I", len(kind)) + kind + struct.pack(">i", schema_version))
    digest.update(last_event_id.bytes)
    digest.update(state)
    return digest.hexdigest()


def _check_int(value: object, name: str, bound: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventSourcingTypeError(name, "an int", value)
    if not -bound <= value < bound:
        raise EventSourcingConfigurationError(name, value, f"must be an int in [-{bound}, {bound})")


def record_hash(record: SnapshotRecord, stream_id: str) -> str | None:
    """The hash ``record`` should carry as the snapshot of ``stream_id``; ``None`` if it cannot have one."""
    if record.last_event_id is None:
        return None
    try:
        return state_hash(
            record.state,
            stream_id=stream_id,
            version=record.version,
            aggregate_type=record.aggregate_type,
            schema_version=record.schema_version,
            last_event_id=record.last_event_id,
        )
    except EventSourcingConfigurationError:
        return None


def record_intact(record: SnapshotRecord, stream_id: str) -> bool:
    """Return whether ``record`` matches its hash as the snapshot of ``stream_id``."""
    return record_hash(record, stream_id) == record.state_hash


def check_snapshot(snapshot: object) -> SnapshotRecord:
    """Return ``snapshot`` if a store may save it (a `SnapshotRecord` with usable fields), else raise."""
    if not isinstance(snapshot, SnapshotRecord):
        raise EventSourcingTypeError("snapshot", "a SnapshotRecord", snapshot)
    check_stream_id(snapshot.stream_id)
    if snapshot.version < 1:
        raise EventSourcingConfigurationError("snapshot.version", snapshot.version, "must be >= 1")
    if snapshot.schema_version < 1:
        raise EventSourcingConfigurationError(
            "snapshot.schema_version", snapshot.schema_version, "must be >= 1"
        )
    if snapshot.last_event_id is None:
        raise EventSourcingConfigurationError(
            "snapshot.last_event_id", None, "must be the id of the last event"
        )
    kind = check_text(
        "snapshot.aggregate_type", snapshot.aggregate_type, error=EventSourcingConfigurationError
    )
    if len(kind) > 200:
        raise EventSourcingConfigurationError(
            "snapshot.aggregate_type", kind[:200], "must be at most 200 characters"
        )
    check_timestamp(snapshot.timestamp, "snapshot.timestamp")
    return snapshot


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state at a version, with the hash that binds it (see `state_hash`).

    Attributes:
        stream_id: The aggregate's stream.
        version: The stream version the state reflects.
        state: The state (JSON types only).
        state_hash: Hex SHA-256 binding `canonical_bytes` of ``state`` to the other fields.
        aggregate_type: The aggregate class's name.
        schema_version: The aggregate class's ``state_schema_version``.
        last_event_id: The id of the event at ``version``.
    """

    stream_id: str
    version: int
    state: dict[str, Any]
    state_hash: str
    aggregate_type: str
    schema_version: int
    last_event_id: UUID

    @classmethod
    def of(
        cls,
        stream_id: str,
        version: int,
        state: dict[str, Any],
        *,
        aggregate_type: str,
        last_event_id: UUID,
        schema_version: int = 1,
    ) -> Snapshot:
        """Build a snapshot and compute its hash.

        Raises:
            EventSerializationError: ``state`` is not JSON.
            EventSourcingConfigurationError: Another argument has the wrong type or is out of range.
        """
        if not isinstance(state, dict):
            raise EventSourcingTypeError("state", "a dict", state)
        digest = state_hash(
            canonical_bytes(state),
            stream_id=stream_id,
            version=version,
            aggregate_type=aggregate_type,
            schema_version=schema_version,
            last_event_id=last_event_id,
        )
        return cls(stream_id, version, state, digest, aggregate_type, schema_version, last_event_id)

    def verify(self) -> bool:
        """Return whether the fields still hash to ``state_hash``."""
        try:
            expected = state_hash(
                canonical_bytes(self.state),
                stream_id=self.stream_id,
                version=self.version,
                aggregate_type=self.aggregate_type,
                schema_version=self.schema_version,
                last_event_id=self.last_event_id,
            )
        except (EventSerializationError, EventSourcingConfigurationError):
            return False
        return expected == self.state_hash

    def to_record(self, timestamp: datetime) -> SnapshotRecord:
        """The `SnapshotRecord` a `SnapshotStore` keeps for this snapshot, taken at ``timestamp``."""
        return SnapshotRecord(
            stream_id=self.stream_id,
            version=self.version,
            state=canonical_bytes(self.state),
            state_hash=self.state_hash,
            aggregate_type=self.aggregate_type,
            timestamp=timestamp,
            schema_version=self.schema_version,
            last_event_id=self.last_event_id,
        )


@runtime_checkable
class SnapshotPolicy(Protocol):
    """**Protocol**: decides whether a `Repository` takes a snapshot after a save.

    Methods:
        should_snapshot: Whether to snapshot after the aggregate moved between two versions.
    """

    def should_snapshot(self, before: int, after: int) -> bool:
        """Return whether to snapshot an aggregate saved from version ``before`` to ``after``."""
        ...


class EveryNEvents:
    """Snapshot whenever a save crosses a multiple of ``n`` events (version 100, 200, ... for 100).

    Args:
        n: Events between snapshots, at least 1.
    """

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise EventSourcingTypeError("n", "an int", n)
        if n < 1:
            raise EventSourcingConfigurationError("n", n, "must be an int >= 1")
        self.n = n

    def should_snapshot(self, before: int, after: int) -> bool:
        """Return whether a multiple of ``n`` lies in ``(before, after]``."""
        for name, value in (("before", before), ("after", after)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise EventSourcingTypeError(name, "an int", value)
        return after // self.n > before // self.n

    def __repr__(self) -> str:
        return f"EveryNEvents({self.n})"
