"""Errors raised by buttress-event-sourcing.

::

    ButtressError                                  (buttress.core)
    └── EventSourcingError                         every error this package raises
        ├── EventSourcingConfigurationError        (also ConfigurationError, ValueError) a bad value
        ├── EventSourcingTypeError                 (also ArgumentTypeError, TypeError) a value of the
        │                                          wrong type
        ├── ConcurrencyError                       (also ConflictError) the stream is not at the expected
        │                                          version; carries .stream_id, .expected and .actual
        ├── DuplicateEventError                    (also ConflictError) an event id is stored already,
        │                                          somewhere other than where this append would put it
        ├── EventSerializationError                (also SerializationError, ValueError) an event or a
        │   │                                      state that cannot be encoded, or bytes that cannot be read
        │   ├── UnknownEventTypeError              a stored type name no class is registered for
        │   └── UpcastError                        no upcaster chain leads to the current schema version
        ├── SnapshotIntegrityError                 a snapshot that fails its SHA-256 binding (state, stream,
        │                                          version, type, schema, last event) or does not fit the
        │                                          stream (raised only in strict mode; otherwise logged,
        │                                          counted and replayed)
        ├── AggregateNotFoundError                 (also NotFoundError, LookupError) no events for that id
        ├── EventSourcingUnavailableError          (also BackendUnavailableError, ConnectionError) the
        │                                          database cannot be reached
        └── MissingExtraError                      (also ImportError) a backend whose extra is not installed

Errors carry their context as attributes as well as in the message. Payloads (event data, snapshot state)
never appear in a message: they may hold personal data.
"""

from __future__ import annotations

from uuid import UUID

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    SerializationError,
)
from buttress.core import (
    MissingExtraError as CoreMissingExtraError,
)

__all__ = [
    "AggregateNotFoundError",
    "ConcurrencyError",
    "DuplicateEventError",
    "EventSerializationError",
    "EventSourcingConfigurationError",
    "EventSourcingError",
    "EventSourcingTypeError",
    "EventSourcingUnavailableError",
    "MissingExtraError",
    "SnapshotIntegrityError",
    "UnknownEventTypeError",
    "UpcastError",
]


class EventSourcingError(ButtressError):
    """Root of every error buttress-event-sourcing raises."""


class EventSourcingConfigurationError(EventSourcingError, ConfigurationError):
    """An argument to a store, codec, repository or subscription is invalid; the message names it."""


class EventSourcingTypeError(EventSourcingError, ArgumentTypeError):
    """An argument has the wrong type (``.parameter``, ``.expected``, ``.actual``: its type's name)."""


def describe_expected(expected: object) -> str:
    """Say an expected version in words, for messages."""
    if isinstance(expected, int):
        return "no stream (version 0)" if expected == 0 else f"version {expected}"
    return str(expected)


class ConcurrencyError(EventSourcingError, ConflictError):
    """An append's expected version does not match the stream's current version.

    Load the aggregate again (someone else appended in between), re-apply the command, and save again.

    Args:
        stream_id: The stream that was appended to.
        expected: The expected version the append was made with: an int or `NO_STREAM`.
        actual: The stream's current version when the append was refused (0: the stream does not exist).

    Attributes:
        stream_id: The stream that was appended to.
        expected: The expected version the append was made with.
        actual: The stream's version when the append was refused.
    """

    def __init__(self, stream_id: str, expected: object, actual: int) -> None:
        now = (
            "does not exist (version 0)" if type(actual) is int and actual == 0 else f"is at version {actual}"
        )
        ConflictError.__init__(
            self,
            "stream",
            stream_id,
            f"expected {describe_expected(expected)} but the stream {now}; "
            "reload the aggregate and retry the command",
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEventError(EventSourcingError, ConflictError):
    """An event id in an append is stored already, in another stream or at another version.

    Re-appending the very same events to the same place is a no-op (see `EventStore.append`); this error
    means the id was reused for something else.

    Attributes:
        event_id: The id that is stored already.
        stored_stream_id: The stream it is stored in.
        stored_version: Its version in that stream.
    """

    def __init__(self, event_id: UUID, stored_stream_id: str, stored_version: int) -> None:
        ConflictError.__init__(
            self,
            "event",
            str(event_id),
            f"this id is stored already as version {stored_version} of stream {stored_stream_id!r}; "
            "an event id may be appended only once (re-appending the same batch to the same place "
            "is a no-op)",
        )
        self.event_id = event_id
        self.stored_stream_id = stored_stream_id
        self.stored_version = stored_version


class EventSerializationError(EventSourcingError, SerializationError):
    """An event or aggregate state cannot be encoded, or stored bytes cannot be decoded."""


class UnknownEventTypeError(EventSerializationError):
    """A stored event's type name has no registered class.

    Attributes:
        event_type: The stored type name.
    """

    def __init__(self, event_type: str) -> None:
        SerializationError.__init__(
            self,
            "event",
            "loads",
            f"no event class is registered for type {event_type!r}; pass it to EventCodec(types=...)",
        )
        self.event_type = event_type


class UpcastError(EventSerializationError):
    """A stored event's schema version cannot be brought up to its class's current schema version.

    Attributes:
        event_type: The stored type name.
        stored_version: The schema version it was stored with.
        current_version: The schema version of the registered class.
    """

    def __init__(self, event_type: str, stored_version: int, current_version: int, reason: str) -> None:
        SerializationError.__init__(
            self,
            "event",
            "loads",
            f"cannot upcast {event_type!r} from schema version {stored_version} to {current_version}: "
            f"{reason}",
        )
        self.event_type = event_type
        self.stored_version = stored_version
        self.current_version = current_version


class SnapshotIntegrityError(EventSourcingError):
    """A snapshot cannot be trusted: it does not match its hash, or what it claims does not fit.

    The hash binds the state to the stream id, the version, the aggregate type, the state schema
    version and the id of the event at that version, so a damaged state, an edited version and a row
    copied from another stream all fail it. A snapshot of another aggregate type, one whose event at
    its version is not in the stream, and one whose state cannot be restored fail too. Raised only by
    repositories built with ``strict_snapshots=True``; otherwise the failure is logged, counted, and the
    aggregate is rebuilt from its full event history.

    Attributes:
        stream_id: The aggregate's stream.
        version: The version the snapshot claims.
        reason: What failed, in words (never the state itself).
        expected_hash: The hash stored with the snapshot ("" when the hash matched).
        actual_hash: The hash the snapshot's fields give ("" when the hash matched).
    """

    def __init__(
        self, stream_id: str, version: int, reason: str, *, expected_hash: str = "", actual_hash: str = ""
    ) -> None:
        super().__init__(
            f"snapshot of stream {stream_id!r} at version {version} fails its integrity check: {reason}; "
            "it was changed, damaged or copied after it was written, or belongs elsewhere"
        )
        self.stream_id = stream_id
        self.version = version
        self.reason = reason
        self.expected_hash = expected_hash
        self.actual_hash = actual_hash


class AggregateNotFoundError(EventSourcingError, NotFoundError):
    """No events are stored for the aggregate that was asked for."""


class EventSourcingUnavailableError(EventSourcingError, BackendUnavailableError):
    """The event store's database cannot be reached (``.backend``, ``.address`` redacted, ``.reason``)."""


class MissingExtraError(EventSourcingError, CoreMissingExtraError):
    """A backend or hook was used without the extra that installs its dependency.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-event-sourcing"
