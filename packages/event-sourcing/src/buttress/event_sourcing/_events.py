"""Domain events: the `DomainEvent` Protocol and the `Event` dataclass base."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Protocol, runtime_checkable
from uuid import UUID, uuid4

__all__ = ["ENVELOPE_FIELDS", "DomainEvent", "Event"]

ENVELOPE_FIELDS = frozenset({"event_id", "stream_id", "version", "timestamp"})
"""The fields a store keeps in its own columns; everything else is the event's payload."""


@runtime_checkable
class DomainEvent(Protocol):
    """**Protocol**: an immutable fact about one aggregate.

    `Event` (a frozen dataclass) implements it; a frozen pydantic model with these fields and a
    ``schema_version`` class attribute does too.

    Attributes:
        event_id: Unique id; the store's idempotency key.
        stream_id: The aggregate's stream.
        version: The aggregate's version after this event: 1 for its first event.
        timestamp: When it happened, timezone-aware UTC.
        event_type: The name it is stored under.
        schema_version: The version of its payload's shape; older stored shapes are upcast on read.
    """

    @property
    def event_id(self) -> UUID:
        """Unique id of the event."""
        ...

    @property
    def stream_id(self) -> str:
        """The stream (aggregate) the event belongs to."""
        ...

    @property
    def version(self) -> int:
        """The aggregate's version after this event."""
        ...

    @property
    def timestamp(self) -> datetime:
        """When the event happened (UTC)."""
        ...

    @property
    def event_type(self) -> str:
        """The type name the event is stored under."""
        ...

    @property
    def schema_version(self) -> int:
        """The version of the payload's shape."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base class for domain events: subclass it as a frozen dataclass and add the payload fields.

    The envelope fields are keyword-only, so subclasses may declare positional fields::

        @dataclass(frozen=True)
        class Deposited(Event):
            amount: int

    Set the class attribute ``schema_version`` when the payload's shape changes, and register an
    upcaster for the old shape with `EventCodec.upcaster`.

    Attributes:
        stream_id: The aggregate's stream.
        version: The aggregate's version after this event.
        event_id: Unique id (a fresh UUID4 by default).
        timestamp: When it happened (now, UTC, by default).
        schema_version: The payload's schema version (class attribute, 1 by default).
    """

    stream_id: str
    version: int
    event_id: UUID = field(default_factory=uuid4)
    timestamp: datetime = field(default_factory=_utcnow)

    schema_version: ClassVar[int] = 1

    @property
    def event_type(self) -> str:
        """The class's name; `EventCodec` stores the event under its registered name."""
        return type(self).__name__
