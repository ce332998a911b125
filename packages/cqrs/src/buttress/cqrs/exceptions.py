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

from collections.abc import Mapping, Sequence

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError, NotFoundError, safe_repr
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
            _type_name(message_type),
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
        if not isinstance(errors, Sequence):
            raise CQRSTypeError("errors", "a sequence of pydantic error dicts", errors)
        places = "; ".join(_place(e) for e in errors[:5])
        reason = f"failed validation ({places})"
        name = _type_name(message_type)
        super().__init__(name, name, reason, show_value=False)
        self.message_type = message_type
        self.errors = list(errors)


def _place(error: object) -> str:
    if not isinstance(error, Mapping):
        return type(error).__qualname__
    return f"{_loc(error.get('loc'))}: {_text(error.get('type'))}"


def _loc(loc: object) -> str:
    return ".".join(map(_text, loc)) if isinstance(loc, tuple | list) else _text(loc)


def _text(part: object) -> str:
    """``part`` as text for a message: a str as it is, anything else shown safely (never a huge int)."""
    return part if isinstance(part, str) else safe_repr(part)


def _type_name(message_type: object) -> str:
    """The message type's name; what is not a type is named by its type (never shown as a value)."""
    return message_type.__qualname__ if isinstance(message_type, type) else type(message_type).__qualname__


class HandlerNotFoundError(CQRSError, NotFoundError):
    """No handler is registered for the message's type (types are matched exactly, not by subclass).

    Attributes:
        message_type: The type of the message that was sent or asked.
    """

    def __init__(self, kind: str, message_type: type) -> None:
        super().__init__(f"{_text(kind)} handler for", _type_name(message_type))
        self.message_type = message_type


class DispatchTimeoutError(CQRSError, TimeoutError):
    """A dispatch ran past `TimeoutMiddleware`'s limit and was cancelled.

    Attributes:
        message_type: The message's type.
        seconds: The limit.
    """

    def __init__(self, message_type: type, seconds: float) -> None:
        shown = f"{seconds:g}" if isinstance(seconds, float) else _text(seconds)
        super().__init__(f"{_type_name(message_type)} was not handled within {shown} seconds")
        self.message_type = message_type
        self.seconds = seconds


class EventDeliveryError(CQRSError):
    """Some event handlers raised; every other handler of every event still ran.

    Attributes:
        errors: The exceptions the handlers raised, in the order they happened.
    """

    def __init__(self, errors: Sequence[Exception]) -> None:
        if not isinstance(errors, Sequence):
            raise CQRSTypeError("errors", "a sequence of exceptions", errors)
        kinds = ", ".join(sorted({type(error).__qualname__ for error in errors}))
        super().__init__(f"{len(errors)} event handler call(s) failed: {kinds}")
        self.errors = list(errors)


class MissingExtraError(CQRSError, CoreMissingExtraError):
    """A feature was used without its extra (``pip install 'buttress-cqrs[pydantic]'``)."""

    distribution = "buttress-cqrs"
