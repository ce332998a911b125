"""Snapshots with a SHA-256 over the canonical serialized state, and when to take them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ._store import SnapshotRecord
from .exceptions import EventSerializationError, EventSourcingConfigurationError

__all__ = ["EveryNEvents", "Snapshot", "SnapshotPolicy", "canonical_bytes", "state_hash"]

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_bytes(state: Any) -> bytes:  # noqa: ANN401
    """Serialize ``state`` canonically: UTF-8 JSON with sorted keys and no insignificant whitespace.

    Equal states give equal bytes, so their hashes agree across processes and versions of this library.

    Raises:
        EventSerializationError: ``state`` holds something JSON cannot represent (NaN, a set, an object).
    """
    try:
        return _ENCODER.encode(state).encode()
    except (TypeError, ValueError) as exc:
        raise EventSerializationError("snapshot", "dumps", str(exc), type_name=type(state).__name__) from exc


def state_hash(canonical: bytes) -> str:
    """Return the hex SHA-256 of canonical state bytes."""
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state at a version, with the SHA-256 of its canonical serialization.

    Attributes:
        stream_id: The aggregate's stream.
        version: The stream version the state reflects.
        state: The state (JSON types only).
        state_hash: Hex SHA-256 of `canonical_bytes` of ``state``.
    """

    stream_id: str
    version: int
    state: dict[str, Any]
    state_hash: str

    @classmethod
    def of(cls, stream_id: str, version: int, state: dict[str, Any]) -> Snapshot:
        """Build a snapshot and compute its hash."""
        return cls(stream_id, version, state, state_hash(canonical_bytes(state)))

    def verify(self) -> bool:
        """Return whether ``state`` still hashes to ``state_hash``."""
        return state_hash(canonical_bytes(self.state)) == self.state_hash


def open_record(record: SnapshotRecord) -> tuple[Snapshot | None, str]:
    """Check a stored record's hash and decode it; returns ``(snapshot, actual_hash)``.

    The snapshot is ``None`` when the stored bytes do not hash to the stored hash, or do not decode to a
    JSON object.
    """
    actual = state_hash(record.state)
    if actual != record.state_hash:
        return None, actual
    try:
        state = json.loads(record.state)
    except ValueError:
        return None, actual
    if not isinstance(state, dict):
        return None, actual
    return Snapshot(record.stream_id, record.version, state, record.state_hash), actual


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
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise EventSourcingConfigurationError("n", n, "must be an int >= 1")
        self.n = n

    def should_snapshot(self, before: int, after: int) -> bool:
        """Return whether a multiple of ``n`` lies in ``(before, after]``."""
        return after // self.n > before // self.n

    def __repr__(self) -> str:
        return f"EveryNEvents({self.n})"
