"""`EventBus`: domain events to every `EventHandler` subscribed to their type (or a base of it)."""

from __future__ import annotations

import inspect
import logging

from buttress.core import EventHandler

from ._metrics import EVENT_DELIVERIES
from .exceptions import CQRSTypeError, EventDeliveryError

__all__ = ["EventBus", "check_event_handler"]

logger = logging.getLogger(__name__)


def check_event_handler(parameter: str, handler: object) -> EventHandler[object]:
    """Return ``handler`` once it has an async ``handle`` method (core's `EventHandler`)."""
    if isinstance(handler, type) or not inspect.iscoroutinefunction(getattr(handler, "handle", None)):
        raise CQRSTypeError(parameter, "an EventHandler (an object with async handle(event))", handler)
    return handler  # type: ignore[return-value]


class EventBus:
    """Publishes events to the handlers subscribed to their type or to any of its base classes.

    Handlers run one after another, in the order they subscribed (a base class's after the exact
    type's). One handler's failure does not stop the others: `publish` raises `EventDeliveryError`
    with every failure once all have run. `EventBus` is itself an `EventHandler`, so it can be the
    ``events=`` of a `CommandBus` or the target of an `OutboxRelay`.

    Examples:
        >>> class Printer:
        ...     async def handle(self, event: object) -> None:
        ...         print(event)
        >>> events = EventBus()
        >>> events.subscribe(str, Printer())
    """

    __slots__ = ("_handlers", "_resolved")

    def __init__(self) -> None:
        self._handlers: dict[type, list[EventHandler[object]]] = {}
        self._resolved: dict[type, tuple[EventHandler[object], ...]] = {}

    def subscribe[E](self, event_type: type[E], handler: EventHandler[E]) -> None:
        """Call ``handler.handle(event)`` for every published event that is an instance of ``event_type``.

        Raises:
            CQRSTypeError: ``event_type`` is not a class, or ``handler`` has no async ``handle``.
        """
        if not isinstance(event_type, type):
            raise CQRSTypeError("event_type", "a class", event_type)
        checked = check_event_handler("handler", handler)
        self._handlers.setdefault(event_type, []).append(checked)
        self._resolved.clear()

    def handlers(self, event_type: type) -> tuple[EventHandler[object], ...]:
        """The handlers an event of exactly ``event_type`` reaches, in the order they run.

        Raises:
            CQRSTypeError: ``event_type`` is not a class.
        """
        if not isinstance(event_type, type):
            raise CQRSTypeError("event_type", "a class", event_type)
        return self._resolve(event_type)

    def _resolve(self, event_type: type) -> tuple[EventHandler[object], ...]:
        resolved = self._resolved.get(event_type)
        if resolved is not None:
            return resolved
        found = [h for base in event_type.__mro__ for h in self._handlers.get(base, ())]
        resolved = self._resolved[event_type] = tuple(found)
        return resolved

    async def publish(self, *events: object) -> None:
        """Deliver each event, in order, to every handler of its type.

        Raises:
            EventDeliveryError: One or more handlers raised; every other handler still ran.
        """
        errors: list[Exception] = []
        for event in events:
            name = type(event).__qualname__
            for handler in self._resolve(type(event)):
                try:
                    await handler.handle(event)
                except Exception as exc:  # noqa: BLE001 - one handler's failure must not starve the others
                    logger.warning(
                        "event handler %s failed on %s: %s",
                        type(handler).__qualname__,
                        name,
                        type(exc).__name__,
                    )
                    EVENT_DELIVERIES.add(1, {"cqrs.event": name, "cqrs.outcome": "failed"})
                    errors.append(exc)
                else:
                    EVENT_DELIVERIES.add(1, {"cqrs.event": name, "cqrs.outcome": "delivered"})
        if errors:
            raise EventDeliveryError(errors) from errors[0]

    async def handle(self, event: object) -> None:
        """Publish one event (so an `EventBus` is an `EventHandler` of every event).

        Raises:
            EventDeliveryError: One or more handlers raised.
        """
        await self.publish(event)
