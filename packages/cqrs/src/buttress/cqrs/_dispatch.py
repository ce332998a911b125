"""`Dispatch`: one send or ask in flight, as middleware and handler factories see it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Literal

from ._dependencies import DependencyProvider, DependencyScope
from .exceptions import CQRSConfigurationError, CQRSTypeError

__all__ = ["Dispatch", "Kind"]

type Kind = Literal["command", "query"]
"""Which bus a dispatch runs on."""


class Dispatch:
    """One message on its way through a bus: the message, the events it recorded, its dependencies.

    A bus makes one per `send` or `ask` and hands it to each middleware and to a handler factory.
    Middleware may replace `message` (a validated copy) before calling the next layer.

    Attributes:
        message: The command or query.
        kind: ``"command"`` or ``"query"``.
        validated: Whether `ValidationMiddleware` has validated `message` (it validates once).
    """

    __slots__ = ("_events", "_provider", "_scope", "_scope_cm", "kind", "message", "validated")

    def __init__(self, message: object, kind: Kind, provider: DependencyProvider | None = None) -> None:
        if kind not in ("command", "query"):
            raise CQRSConfigurationError("kind", kind, "must be 'command' or 'query'")
        if provider is not None and not callable(getattr(provider, "scope", None)):
            raise CQRSTypeError("provider", "a DependencyProvider (with scope()) or None", provider)
        self._start(message, kind, provider)

    def _start(self, message: object, kind: Kind, provider: DependencyProvider | None) -> None:
        # Also the bus's hot path (through new_dispatch): the event list is made on first record.
        self.message = message
        self.kind: Kind = kind
        self.validated = False
        self._events: list[object] | None = None
        self._provider = provider
        self._scope: DependencyScope | None = None
        self._scope_cm: AbstractAsyncContextManager[DependencyScope] | None = None

    @property
    def message_type(self) -> type:
        """The message's type, which chose its handler."""
        return type(self.message)

    @property
    def events(self) -> tuple[object, ...]:
        """The domain events recorded so far, in order."""
        return tuple(self._events or ())

    def record(self, *events: object) -> None:
        """Record domain events; the bus publishes them only if the whole dispatch succeeds.

        Raises:
            CQRSConfigurationError: The dispatch is a query (queries change nothing, so they emit
                no events).
        """
        if self.kind != "command":
            raise CQRSConfigurationError(
                "events", type(self.message).__qualname__, "a query records no events"
            )
        if self._events is None:
            self._events = []
        self._events.extend(events)

    def take_events(self) -> list[object]:
        """Remove and return the recorded events (an outbox takes them, so the bus does not publish them)."""
        taken, self._events = self._events or [], None
        return taken

    def drop_events(self, since: int = 0) -> None:
        """Forget the events recorded after the first ``since`` (those of an attempt that failed).

        Raises:
            CQRSTypeError: ``since`` is not an int.
        """
        if isinstance(since, bool) or not isinstance(since, int):
            raise CQRSTypeError("since", "an int", since)
        if self._events is not None:
            del self._events[max(since, 0) :]

    async def get[T](self, kind: type[T]) -> T:
        """Return this dispatch's instance of ``kind`` from the bus's `DependencyProvider`.

        The provider's scope is opened on the first call and closed when the dispatch ends.

        Raises:
            CQRSConfigurationError: The bus has no provider.
        """
        scope = self._scope
        if scope is None:
            if self._provider is None:
                raise CQRSConfigurationError(
                    "provider", None, "this bus has no DependencyProvider: pass provider= to it"
                )
            manager = self._provider.scope()
            scope = await manager.__aenter__()
            self._scope_cm, self._scope = manager, scope
        return await scope.get(kind)

    async def _close(self, error: BaseException | None) -> None:
        """End the dependency scope, if one was opened, with the dispatch's error."""
        manager = self._scope_cm
        if manager is None:
            return
        self._scope_cm = self._scope = None
        if error is None:
            await manager.__aexit__(None, None, None)
        else:
            await manager.__aexit__(type(error), error, error.__traceback__)


def new_dispatch(message: object, kind: Kind, provider: DependencyProvider | None) -> Dispatch:
    """A dispatch for a bus, which checked ``kind`` and ``provider`` when it was built."""
    dispatch = Dispatch.__new__(Dispatch)
    dispatch._start(message, kind, provider)
    return dispatch
