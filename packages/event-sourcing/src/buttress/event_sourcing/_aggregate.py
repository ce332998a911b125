"""`Aggregate`: state rebuilt from its events, changed only by triggering new ones."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from ._events import ENVELOPE_FIELDS, DomainEvent
from ._values import Converter, Mismatch, dump_fields, field_converters, from_jsonable, to_jsonable
from .exceptions import (
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingError,
    EventSourcingTypeError,
)

__all__ = ["Aggregate", "applies"]

_MARK = "__buttress_applies__"


def applies[F: Callable[..., None]](*event_classes: type[Any]) -> Callable[[F], F]:
    """Mark an `Aggregate` method as the one that applies events of these classes (and their subclasses).

    Examples:
        >>> class Account(Aggregate[str]):
        ...     balance: int = 0
        ...
        ...     @applies(Deposited)
        ...     def _deposited(self, event: Deposited) -> None:
        ...         self.balance += event.amount  # doctest: +SKIP
    """
    if not event_classes or not all(isinstance(c, type) for c in event_classes):
        raise EventSourcingConfigurationError(
            "event_classes", [type(c).__name__ for c in event_classes], "must be one or more event classes"
        )

    def mark(method: F) -> F:
        if not isinstance(method, types.FunctionType):
            raise EventSourcingTypeError("method", "a method", method)
        setattr(method, _MARK, event_classes)
        return method

    return mark


class Aggregate[ID]:
    """Base class for event-sourced aggregates.

    State changes only through events: a command method calls `trigger`, which builds the next event,
    applies it (through the method marked `applies` for its class) and keeps it pending until a
    `Repository` saves it. Loading replays stored events through the same methods.

    Subclasses keep the ``__init__(self, id)`` signature (the repository calls it before replaying)
    and set their initial state there or as annotated class attributes.

    Set the class attribute ``state_schema_version`` (1 by default) to a new number whenever the shape of
    `snapshot_state` changes: snapshots taken with another number are then not used (the aggregate is
    replayed from its events) until a new snapshot is taken.

    Attributes:
        id: The aggregate's identity; its stream id is ``str(id)``.
        version: The version of the last event applied (0 before the first).
        state_schema_version: The version of the shape of `snapshot_state` (class attribute).
    """

    _appliers: ClassVar[dict[type[Any], str]] = {}
    state_schema_version: ClassVar[int] = 1

    def __init__(self, id: ID) -> None:
        self.id = id
        self.version = 0
        self._pending: list[DomainEvent] = []
        self._last_event_id: UUID | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init_subclass__(**kwargs)
        appliers = dict(cls._appliers)
        for name, member in vars(cls).items():
            for event_class in getattr(member, _MARK, ()):
                appliers[event_class] = name
        cls._appliers = appliers

    @property
    def stream_id(self) -> str:
        """The aggregate's stream id: ``str(self.id)``."""
        return str(self.id)

    @property
    def last_event_id(self) -> UUID | None:
        """The id of the last event applied (or restored from a snapshot); ``None`` before the first."""
        return self._last_event_id

    @property
    def pending_events(self) -> tuple[DomainEvent, ...]:
        """Events triggered since the aggregate was loaded or last saved."""
        return tuple(self._pending)

    def trigger[E: DomainEvent](self, event_class: type[E], /, **fields: Any) -> E:  # noqa: ANN401
        """Build the next event of ``event_class`` from ``fields``, apply it, and keep it pending.

        ``stream_id`` and ``version`` are filled in; pass the payload fields (and optionally
        ``event_id`` or ``timestamp``).
        """
        if not isinstance(event_class, type):
            raise EventSourcingTypeError("event_class", "a class", event_class)
        build: Callable[..., E] = event_class
        try:
            event = build(stream_id=self.stream_id, version=self.version + 1, **fields)
        except (TypeError, ValueError) as exc:  # the signature, or the class's own validation, refused
            raise EventSourcingConfigurationError(
                "fields", sorted(fields), f"do not fit {event_class.__name__} ({type(exc).__name__}: {exc})"
            ) from exc
        _check_fields(event)
        self.apply(event)
        self._pending.append(event)
        return event

    def apply(self, event: DomainEvent) -> None:
        """Apply one event: call its `applies` method and advance `version`.

        Raises:
            EventSourcingError: The event belongs to another stream, is not the next version, or has no
                `applies` method.
        """
        try:
            stream_id, version, event_id = event.stream_id, event.version, event.event_id
        except AttributeError:
            raise EventSourcingTypeError(
                "event", "a domain event (event_id, stream_id, version, ...)", event
            ) from None
        if stream_id != self.stream_id or version != self.version + 1:
            raise EventSourcingError(
                f"{type(self).__name__} {self.stream_id!r} at version {self.version} cannot apply "
                f"{type(event).__name__} version {version!r:.40} of stream {stream_id!r:.300}"
            )
        getattr(self, self._applier_for(type(event)))(event)
        self.version = version
        self._last_event_id = event_id

    @classmethod
    def _applier_for(cls, event_class: type[Any]) -> str:
        for klass in event_class.__mro__:
            name = cls._appliers.get(klass)
            if name is not None:
                return name
        raise EventSourcingError(
            f"{cls.__name__} has no method marked @applies({event_class.__name__}); add one to apply it"
        )

    def collect_events(self) -> list[DomainEvent]:
        """Return the pending events and forget them (the repository calls this after a save)."""
        events, self._pending = self._pending, []
        return events

    def snapshot_state(self) -> dict[str, Any]:
        """Return the state a snapshot stores: every public attribute except ``id`` and ``version``.

        Values are converted like event payloads (UUIDs, datetimes, Decimals, enums, tuples, sets and
        dataclasses become JSON). Override it, together with `restore_state`, for other state.
        """
        return {
            name: to_jsonable(value)
            for name, value in vars(self).items()
            if not name.startswith("_") and name not in ("id", "version")
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Set the attributes `snapshot_state` returned, converting values back to their types.

        A value's type comes from the class's annotation for the attribute or, without one, from the
        value ``__init__`` gave it (so ``self.balance = Decimal(0)`` comes back as a `Decimal`).
        """
        if not isinstance(state, dict):
            raise EventSourcingTypeError("state", "a dict", state)
        hints = _annotations(type(self))
        values = {}
        for name, value in state.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_") or name in _OWN:
                raise EventSourcingConfigurationError(
                    "state", str(name)[:40], "holds a name that is not a public attribute"
                )
            hint = hints.get(name)
            if hint is not None:
                values[name] = from_jsonable(value, hint)
                continue
            # Without an annotation the type is a guess from __init__'s value, so a value of another type
            # (a float in an attribute that started as 0) is kept as it was stored.
            current = getattr(self, name, None)
            try:
                values[name] = value if current is None else from_jsonable(value, type(current))
            except EventSerializationError:
                values[name] = value
        for name, value in values.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, version={self.version})"


_PAYLOAD_FIELDS: dict[type[Any], list[tuple[str, Converter]]] = {}


def _check_fields(event: object) -> None:
    """Refuse a dataclass event whose fields do not fit their annotations, before it is applied.

    The codec would refuse it on save anyway; refusing it here keeps a mistyped value out of the state.
    """
    cls = type(event)
    fields = _PAYLOAD_FIELDS.get(cls)
    if fields is None:
        if not dataclasses.is_dataclass(event):
            return
        try:
            fields = [(n, c) for n, c in field_converters(cls) if n not in ENVELOPE_FIELDS]
        except Mismatch as exc:
            raise EventSourcingConfigurationError(
                "event_class", cls.__qualname__, f"its annotations cannot be used: {exc.describe()}"
            ) from None
        _PAYLOAD_FIELDS[cls] = fields
    try:
        dump_fields(fields, event)
    except Mismatch as exc:
        raise EventSourcingConfigurationError(
            "fields",
            type(event).__name__,
            f"do not fit their annotations: {exc.describe()}",
            show_value=False,
        ) from None


_OWN = frozenset({"id", "version", "state_schema_version", "last_event_id", "pending_events", "stream_id"})


def _annotations(cls: type[Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the values' own types
        return {}
