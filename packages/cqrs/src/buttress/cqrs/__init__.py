"""buttress-cqrs: typed command and query buses, middleware, domain events after commit, cached queries.

Messages derive from core's `Command[R]` and `Query[R]`, so ``send`` and ``ask`` return what the
message declares; each type has exactly one handler, found by a dict lookup::

    from dataclasses import dataclass

    from buttress.core import Command
    from buttress.cqrs import CommandBus, EventBus, LoggingMiddleware, TransactionMiddleware

    @dataclass(frozen=True)
    class PlaceOrder(Command[int]):
        sku: str

    events = EventBus()
    bus = CommandBus(middleware=[LoggingMiddleware()], events=events)
    bus.register(PlaceOrder, factory=make_place_order_handler)
    order_id = await bus.send(PlaceOrder("tea"))  # an int, for the type checker too

Events a handler records (`Dispatch.record`) are published only once the command and its unit of
work succeeded. `ValidationMiddleware` needs the ``pydantic`` extra; it is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._bus import CommandBus, QueryBus
from ._caching import Cached
from ._dependencies import Dependencies, DependencyProvider, DependencyScope
from ._dispatch import Dispatch, Kind
from ._events import EventBus
from ._layers import LoggingMiddleware, RetryMiddleware, TelemetryMiddleware, TimeoutMiddleware
from ._middleware import Middleware, Next, after, before
from ._outbox import EventOutbox, MemoryOutbox, OutboxEntry, OutboxRelay
from ._transactions import MemoryUnitOfWork, TransactionMiddleware, UnitOfWork
from ._version import __version__
from .exceptions import (
    CQRSConfigurationError,
    CQRSError,
    CQRSTypeError,
    DispatchTimeoutError,
    DuplicateHandlerError,
    EventDeliveryError,
    HandlerNotFoundError,
    MessageValidationError,
    MissingExtraError,
)

if TYPE_CHECKING:
    from ._validation import ValidationMiddleware

__all__ = [
    "CQRSConfigurationError",
    "CQRSError",
    "CQRSTypeError",
    "Cached",
    "CommandBus",
    "Dependencies",
    "DependencyProvider",
    "DependencyScope",
    "Dispatch",
    "DispatchTimeoutError",
    "DuplicateHandlerError",
    "EventBus",
    "EventDeliveryError",
    "EventOutbox",
    "HandlerNotFoundError",
    "Kind",
    "LoggingMiddleware",
    "MemoryOutbox",
    "MemoryUnitOfWork",
    "MessageValidationError",
    "Middleware",
    "MissingExtraError",
    "Next",
    "OutboxEntry",
    "OutboxRelay",
    "QueryBus",
    "RetryMiddleware",
    "TelemetryMiddleware",
    "TimeoutMiddleware",
    "TransactionMiddleware",
    "UnitOfWork",
    "ValidationMiddleware",
    "__version__",
    "after",
    "before",
]

__getattr__ = lazy_exports(__name__, {"ValidationMiddleware": "_validation"})
