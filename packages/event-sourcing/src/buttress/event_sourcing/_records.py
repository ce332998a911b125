"""What an event store holds: `EventData` in, `RecordedEvent` out, and the expected-version sentinels."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

from buttress.core import check_count, check_seconds, check_text

from .exceptions import EventSourcingConfigurationError, EventSourcingTypeError

__all__ = [
    "ANY",
    "NO_STREAM",
    "AppendResult",
    "EventData",
    "ExpectedVersion",
    "RecordedEvent",
    "StreamState",
]


class StreamState(enum.Enum):
    """The type of the expected-version sentinels `NO_STREAM` and `ANY`."""

    NO_STREAM = "NO_STREAM"
    ANY = "ANY"

    def __repr__(self) -> str:
        return self.value

    def __str__(self) -> str:
        return "no stream (version 0)" if self is StreamState.NO_STREAM else "any version"

    @classmethod
    def _missing_(cls, value: object) -> StreamState:
        raise EventSourcingConfigurationError("StreamState", value, "must be 'NO_STREAM' or 'ANY'")


NO_STREAM: Final = StreamState.NO_STREAM
"""Expected version for an append that must create the stream (the same as ``0``)."""

ANY: Final = StreamState.ANY
"""Expected version for an append that does not check the stream's version."""

type ExpectedVersion = int | StreamState
"""What `EventStore.append` accepts as ``expected_version``: an exact version, `NO_STREAM` or `ANY`."""


@dataclass(frozen=True, slots=True)
class EventData:
    """One event as it is handed to a store: an id, a type name and opaque payload bytes.

    `EventCodec.encode` makes these from domain events; a store never looks inside ``data``.

    Attributes:
        event_id: The event's unique id; re-appending it is idempotent (see `EventStore.append`).
        event_type: The registered type name, used to pick the class on read.
        data: The encoded payload.
        metadata: Encoded metadata (correlation ids and the like); empty by default.
        schema_version: The payload's schema version, for upcasting on read.
        timestamp: When the event happened, timezone-aware.
    """

    event_id: UUID
    event_type: str
    data: bytes
    metadata: bytes = b""
    schema_version: int = 1
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # Validated once, here, so appends only check the batch's shape.
        if not isinstance(self.event_id, UUID):
            raise EventSourcingTypeError("event_id", "a UUID", self.event_id)
        check_type_name(self.event_type)
        if not isinstance(self.data, bytes):
            raise EventSourcingTypeError("data", "bytes", self.data)
        if not isinstance(self.metadata, bytes):
            raise EventSourcingTypeError("metadata", "bytes", self.metadata)
        check_int(self.schema_version, "schema_version", 1, 2**31 - 1)
        check_timestamp(self.timestamp, "timestamp")


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One stored event, as a store returns it.

    Attributes:
        event_id: The event's unique id.
        stream_id: The stream it belongs to.
        version: Its version in that stream: 1 for the first event, then 2, 3, ...
        position: Its position in the store's global log: 1, 2, 3, ... in commit order.
        event_type: The registered type name.
        data: The encoded payload.
        metadata: Encoded metadata.
        schema_version: The schema version the payload was stored with.
        timestamp: When the event happened.
    """

    event_id: UUID
    stream_id: str
    version: int
    position: int
    event_type: str
    data: bytes
    metadata: bytes
    schema_version: int
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What a successful append reports.

    Attributes:
        stream_id: The stream appended to.
        version: The stream's version after the append: pass it as the next ``expected_version``.
        position: The global position of the append's last event.
    """

    stream_id: str
    version: int
    position: int


_MAX_STREAM_ID = 255
_MAX_POSITION = 2**63 - 1
_TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$")


def check_timestamp(value: object, parameter: str) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime that exists in UTC, else raise."""
    if not isinstance(value, datetime):
        raise EventSourcingTypeError(parameter, "a timezone-aware datetime", value)
    if value.utcoffset() is None:
        raise EventSourcingConfigurationError(parameter, value, "must be a timezone-aware datetime")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise EventSourcingConfigurationError(
            parameter, value, "must lie between years 1 and 9999 in UTC"
        ) from None
    return value


def check_stream_id(stream_id: object) -> str:
    """Return ``stream_id`` if it is a usable stream id (1-255 characters, no NUL or lone surrogate)."""
    text = check_text(
        "stream_id", stream_id, error=EventSourcingConfigurationError, type_error=EventSourcingTypeError
    )
    if len(text) > _MAX_STREAM_ID:
        raise EventSourcingConfigurationError(
            "stream_id", text, f"must be a non-empty str of at most {_MAX_STREAM_ID} characters"
        )
    return text


def check_name(name: object, parameter: str = "name") -> str:
    """Return ``name`` if it is a usable checkpoint or subscription name (1-200 characters), else raise."""
    text = check_text(
        parameter, name, error=EventSourcingConfigurationError, type_error=EventSourcingTypeError
    )
    if len(text) > 200:
        raise EventSourcingConfigurationError(parameter, text, "must be a str of at most 200 characters")
    return text


def check_expected(expected_version: object) -> ExpectedVersion:
    """Return ``expected_version`` normalised (``0`` → `NO_STREAM`), else raise."""
    if isinstance(expected_version, StreamState):
        return expected_version
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise EventSourcingTypeError("expected_version", "NO_STREAM, ANY or an int", expected_version)
    if not 0 <= expected_version <= _MAX_POSITION:
        raise EventSourcingConfigurationError(
            "expected_version", expected_version, "must be NO_STREAM, ANY or a version from 0 to 2**63 - 1"
        )
    return NO_STREAM if expected_version == 0 else expected_version


@functools.lru_cache(maxsize=1024)
def _is_type_name(name: str) -> bool:
    return _TYPE_NAME.match(name) is not None


def check_type_name(name: object, parameter: str = "event_type") -> str:
    """Return ``name`` if it is a usable event type name, else raise."""
    if not isinstance(name, str):
        raise EventSourcingTypeError(parameter, "a str", name)
    if not _is_type_name(name):
        raise EventSourcingConfigurationError(
            parameter,
            name,
            "must be 1-200 characters: letters, digits, '_', '.', ':' or '-', not starting with a digit",
        )
    return name


def check_events(events: object) -> Sequence[EventData]:
    """Return ``events`` if it is a non-empty sequence of `EventData` with distinct ids, else raise."""
    if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
        raise EventSourcingTypeError("events", "a sequence of EventData", events)
    if not events:
        raise EventSourcingConfigurationError(
            "events", events, "must be a non-empty sequence of EventData", show_value=False
        )
    ids: set[UUID] = set()
    for index, event in enumerate(events):
        if not isinstance(event, EventData):
            raise EventSourcingTypeError(
                f"events[{index}]", "an EventData (encode domain events with EventCodec.encode)", event
            )
        ids.add(event.event_id)
    if len(ids) != len(events):
        raise EventSourcingConfigurationError("events", "<batch>", "an event id appears twice in one append")
    return events


_MAX_INTERVAL = 7 * 24 * 3600.0


def check_interval(value: object, parameter: str) -> float:
    """Return ``value`` as seconds if it is a finite number > 0 (at most a week), else raise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EventSourcingTypeError(parameter, "a number of seconds", value)
    return check_seconds(parameter, value, maximum=_MAX_INTERVAL, error=EventSourcingConfigurationError)


def check_int(value: object, parameter: str, minimum: int, maximum: int = _MAX_POSITION) -> int:
    """Return ``value`` if it is an int from ``minimum`` to ``maximum``; a non-int is a type error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventSourcingTypeError(parameter, "an int", value)
    return check_count(
        parameter, value, minimum=minimum, maximum=maximum, error=EventSourcingConfigurationError
    )


def check_position(value: object, parameter: str, minimum: int) -> int:
    """Return ``value`` if it is an int from ``minimum`` to 2**63 - 1 (a PostgreSQL bigint), else raise."""
    return check_int(value, parameter, minimum)
