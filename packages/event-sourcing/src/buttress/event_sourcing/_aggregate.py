"""`Aggregate`: state rebuilt from its events, changed only by triggering new ones."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, ClassVar

from ._codec import from_jsonable, to_jsonable
from ._events import DomainEvent
from .exceptions import EventSourcingError

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
        raise TypeError("applies() takes one or more event classes")

    def mark(method: F) -> F:
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

    Attributes:
        id: The aggregate's identity; its stream id is ``str(id)``.
        version: The version of the last event applied (0 before the first).
    """

    _appliers: ClassVar[dict[type[Any], str]] = {}

    def __init__(self, id: ID) -> None:
        self.id = id
        self.version = 0
        self._pending: list[DomainEvent] = []

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
    def pending_events(self) -> tuple[DomainEvent, ...]:
        """Events triggered since the aggregate was loaded or last saved."""
        return tuple(self._pending)

    def trigger[E: DomainEvent](self, event_class: type[E], /, **fields: Any) -> E:  # noqa: ANN401
        """Build the next event of ``event_class`` from ``fields``, apply it, and keep it pending.

        ``stream_id`` and ``version`` are filled in; pass the payload fields (and optionally
        ``event_id`` or ``timestamp``).
        """
        build: Callable[..., E] = event_class
        event = build(stream_id=self.stream_id, version=self.version + 1, **fields)
        self.apply(event)
        self._pending.append(event)
        return event

    def apply(self, event: DomainEvent) -> None:
        """Apply one event: call its `applies` method and advance `version`.

        Raises:
            EventSourcingError: The event belongs to another stream, is not the next version, or has no
                `applies` method.
        """
        if event.stream_id != self.stream_id or event.version != self.version + 1:
            raise EventSourcingError(
                f"{type(self).__name__} {self.stream_id!r} at version {self.version} cannot apply "
                f"{event.event_type} version {event.version} of stream {event.stream_id!r}"
            )
        getattr(self, self._applier_for(type(event)))(event)
        self.version = event.version

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
        hints = _annotations(type(self))
        for name, value in state.items():
            hint = hints.get(name)
            if hint is None:
                current = getattr(self, name, None)
                hint = Any if current is None else type(current)
            setattr(self, name, from_jsonable(value, hint))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, version={self.version})"


def _annotations(cls: type[Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}
