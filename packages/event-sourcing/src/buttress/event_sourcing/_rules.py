"""The argument rules of the store Protocols, checked in one place.

`MemoryEventStore` and `PostgresEventStore` call these at each method's entry, so both refuse the same
input with the same error before touching their state or their server. Each function is named after the
Protocol method whose arguments it checks and returns them checked::

    stream_id, events, expected = rules.append(stream_id, events, expected_version)
"""

from __future__ import annotations

from collections.abc import Sequence

from ._records import (
    EventData,
    ExpectedVersion,
    check_events,
    check_expected,
    check_interval,
    check_name,
    check_position,
    check_stream_id,
)

__all__ = ["append", "checkpoint_name", "read", "read_all", "save_checkpoint", "stream_id", "wait_for_events"]


def append(
    stream_id: object, events: object, expected_version: object
) -> tuple[str, Sequence[EventData], ExpectedVersion]:
    """`EventStore.append`: ``(stream_id, events, expected_version)``."""
    return check_stream_id(stream_id), check_events(events), check_expected(expected_version)


def read(stream_id: object, from_version: object, to_version: object) -> tuple[str, int, int | None]:
    """`EventStore.read`: ``(stream_id, from_version, to_version)``."""
    upper = None if to_version is None else check_position(to_version, "to_version", 0)
    return check_stream_id(stream_id), check_position(from_version, "from_version", 1), upper


def read_all(after_position: object, limit: object) -> tuple[int, int]:
    """`EventStore.read_all`: ``(after_position, limit)``."""
    return check_position(after_position, "after_position", 0), check_position(limit, "limit", 1)


def wait_for_events(after_position: object, timeout: object) -> tuple[int, float]:
    """`NotifyingEventStore.wait_for_events`: ``(after_position, timeout)``."""
    return check_position(after_position, "after_position", 0), check_interval(timeout, "timeout")


def stream_id(value: object) -> str:
    """The ``stream_id`` of `SnapshotStore.load_snapshot` and `SnapshottingEventStore.read_with_snapshot`."""
    return check_stream_id(value)


def checkpoint_name(name: object) -> str:
    """`CheckpointStore.load_checkpoint`: the checkpoint's ``name``."""
    return check_name(name)


def save_checkpoint(name: object, position: object) -> tuple[str, int]:
    """`CheckpointStore.save_checkpoint`: ``(name, position)``."""
    return check_name(name), check_position(position, "position", 0)
