"""Errors raised by buttress-cqrs.

::

    ButtressError                                  (buttress.core)
    └── CQRSError                                  every error this package raises
        ├── CQRSConfigurationError                 (also ConfigurationError, ValueError) a bad argument
        │   ├── DuplicateHandlerError              a second handler for one message type
        │   └── MessageValidationError             a message failed ValidationMiddleware's check
        ├── CQRSTypeError                          (also ArgumentTypeError, TypeError) an argument of the
        │                                          wrong type
        ├── HandlerNotFoundError                   (also NotFoundError, LookupError) no handler is
        │                                          registered for the message's type
        ├── DispatchTimeoutError                   (also TimeoutError) a dispatch ran past its time limit
        ├── EventDeliveryError                     event handlers raised; the others still ran
        └── MissingExtraError                      (also ImportError) ValidationMiddleware without pydantic

Errors never carry a message's field values: they name message types, parameters and the types of the
errors that happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError, NotFoundError
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "CQRSConfigurationError",
    "CQRSError",
    "CQRSTypeError",
    "DispatchTimeoutError",
    "DuplicateHandlerError",
    "EventDeliveryError",
    "HandlerNotFoundError",
    "MessageValidationError",
    "MissingExtraError",
]


class CQRSError(ButtressError):
    """Root of every error buttress-cqrs raises."""


class CQRSConfigurationError(CQRSError, ConfigurationError):
    """An argument to a bus, a middleware or a policy is invalid; the message names it."""


class CQRSTypeError(CQRSError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class DuplicateHandlerError(CQRSConfigurationError):
    """A handler is registered for a message type that has one already: each has exactly one.

    Attributes:
        message_type: The message type registered twice.
    """

    def __init__(self, message_type: type) -> None:
        super().__init__(
            "message_type",
            message_type.__qualname__,
            "has a handler already: a command or query type has exactly one handler",
        )
        self.message_type = message_type


class MessageValidationError(CQRSConfigurationError):
    """A message failed validation: its handler did not run.

    Attributes:
        message_type: The message's type.
        errors: pydantic's errors, each with ``loc``, ``type`` and ``msg`` (never the input value).
    """

    def __init__(self, message_type: type, errors: Sequence[dict[str, object]]) -> None:
        places = "; ".join(f"{_loc(e.get('loc'))}: {e.get('type')}" for e in errors[:5])
        reason = f"failed validation ({places})"
        super().__init__(message_type.__qualname__, message_type.__qualname__, reason, show_value=False)
        self.message_type = message_type
        self.errors = list(errors)


def _loc(loc: object) -> str:
    return ".".join(map(str, loc)) if isinstance(loc, tuple | list) else str(loc)


class HandlerNotFoundError(CQRSError, NotFoundError):
    """No handler is registered for the message's type (types are matched exactly, not by subclass).

    Attributes:
        message_type: The type of the message that was sent or asked.
    """

    def __init__(self, kind: str, message_type: type) -> None:
        super().__init__(f"{kind} handler for", message_type.__qualname__)
        self.message_type = message_type


class DispatchTimeoutError(CQRSError, TimeoutError):
    """A dispatch ran past `TimeoutMiddleware`'s limit and was cancelled.

    Attributes:
        message_type: The message's type.
        seconds: The limit.
    """

    def __init__(self, message_type: type, seconds: float) -> None:
        super().__init__(f"{message_type.__qualname__} was not handled within {seconds:g} seconds")
        self.message_type = message_type
        self.seconds = seconds


class EventDeliveryError(CQRSError):
    """Some event handlers raised; every other handler of every event still ran.

    Attributes:
        errors: The exceptions the handlers raised, in the order they happened.
    """

    def __init__(self, errors: Sequence[Exception]) -> None:
        kinds = ", ".join(sorted({type(error).__qualname__ for error in errors}))
        super().__init__(f"{len(errors)} event handler call(s) failed: {kinds}")
        self.errors = list(errors)


class MissingExtraError(CQRSError, CoreMissingExtraError):
    """A feature was used without its extra (``pip install 'buttress-cqrs[pydantic]'``)."""

    distribution = "buttress-cqrs"
