"""Errors raised by buttress-persistence.

::

    ButtressError                                  (buttress.core)
    └── PersistenceError                           every error this package raises
        ├── PersistenceConfigurationError          (also ConfigurationError, ValueError) a bad argument
        │   ├── UnknownFieldError                  a specification names a field the model lacks
        │   └── InvalidQueryError                  an API query a client sent is malformed (HTTP 400)
        │       ├── FieldNotAllowedError           a filter or sort on a field outside the allow-list
        │       ├── MalformedFilterError           the filter parameter is not valid JSON of the
        │       │                                  expected shape
        │       └── InvalidCursorError             a cursor that is garbled, forged or from another query
        ├── PersistenceTypeError                   (also ArgumentTypeError, TypeError) an argument of the
        │                                          wrong type
        ├── EntityNotFoundError                    (also NotFoundError, LookupError) no live entity has
        │                                          that id (HTTP 404)
        ├── EntityExistsError                      (also ConflictError) an entity with that id or unique
        │                                          key is stored already (HTTP 409)
        ├── VersionConflictError                   (also ConflictError) the entity changed since it was
        │                                          read: optimistic locking refused the write (HTTP 409)
        ├── DatabaseError                          the database refused a statement (a constraint, a
        │                                          value it cannot store); the driver's error is chained
        ├── PersistenceUnavailableError            (also BackendUnavailableError, ConnectionError) the
        │                                          database cannot be reached (HTTP 503)
        └── MissingExtraError                      (also ImportError) a driver whose extra is missing

Errors never carry a password (URLs are redacted), statement parameters or the names of fields a
resource does not expose.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    safe_repr,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "DatabaseError",
    "EntityExistsError",
    "EntityNotFoundError",
    "FieldNotAllowedError",
    "InvalidCursorError",
    "InvalidQueryError",
    "MalformedFilterError",
    "MissingExtraError",
    "PersistenceConfigurationError",
    "PersistenceError",
    "PersistenceTypeError",
    "PersistenceUnavailableError",
    "UnknownFieldError",
    "VersionConflictError",
]


class PersistenceError(ButtressError):
    """Root of every error buttress-persistence raises."""


class PersistenceConfigurationError(PersistenceError, ConfigurationError):
    """An argument is invalid; the message names it and says what would be accepted."""


class PersistenceTypeError(PersistenceError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class UnknownFieldError(PersistenceConfigurationError):
    """A specification or a sort names a field (or a relationship path) the model does not have.

    Attributes:
        field: The dotted path that did not resolve.
    """

    def __init__(self, field: str, model: str) -> None:
        super().__init__("field", field, f"is not a column or relationship path of {model}")
        self.field = field


class InvalidQueryError(PersistenceConfigurationError):
    """A query a client sent (filters, sorts, a page) is invalid. Answered with HTTP 400.

    The message is safe to show the client: it names the parameter and what was wrong with it, never
    a field the resource does not expose.
    """


class FieldNotAllowedError(InvalidQueryError):
    """A filter or a sort names a field that is not in the resource's allow-list.

    The message names the field the client sent and nothing else, so the allow-list (and any column
    kept out of it) stays private.

    Attributes:
        field: The field the client asked for (cut to 80 characters in the message).
        usage: ``"filter"`` or ``"sort"``.
    """

    def __init__(self, field: str, usage: str) -> None:
        shown = safe_repr(field)
        super().__init__(usage, field, f"{shown} cannot be used to {usage}", show_value=False)
        self.field = field
        self.usage = usage


class MalformedFilterError(InvalidQueryError):
    """The filter parameter is not JSON, or not an object of ``{field: {operator: value}}``."""


class InvalidCursorError(InvalidQueryError):
    """A cursor was garbled, forged (its signature does not match) or made for another query."""

    def __init__(self, reason: str) -> None:
        super().__init__("cursor", None, reason, show_value=False)


class EntityNotFoundError(PersistenceError, NotFoundError):
    """No live entity has that id. Answered with HTTP 404."""


class EntityExistsError(PersistenceError, ConflictError):
    """An entity with the same id (or the same value of another unique column) is stored already.

    Answered with HTTP 409.
    """


class VersionConflictError(PersistenceError, ConflictError):
    """Optimistic locking refused a write: the stored version is not the one the entity was read at.

    Read the entity again, apply the change and retry. Answered with HTTP 409.

    Attributes:
        expected: The version the write expected (the entity's own).
        actual: The version stored now.
    """

    def __init__(self, kind: str, key: object, *, expected: object, actual: object) -> None:
        versions = f"expected version {safe_repr(expected)}, stored {safe_repr(actual)}"
        reason = f"was changed by another writer ({versions})"
        super().__init__(kind, key, reason)
        self.expected = expected
        self.actual = actual


class DatabaseError(PersistenceError):
    """The database refused a statement: a constraint other than a duplicate, or a value it cannot store.

    The driver's exception is chained as ``__cause__``; the message holds its SQLSTATE and class, never
    the statement's parameters.

    Attributes:
        sqlstate: The five-character SQLSTATE, when the driver reports one.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class PersistenceUnavailableError(PersistenceError, BackendUnavailableError):
    """The database cannot be reached (refused, reset, shut down). Answered with HTTP 503."""


class MissingExtraError(PersistenceError, CoreMissingExtraError):
    """A database driver was asked for without its extra (``postgres`` for asyncpg, ``sqlite``)."""

    distribution = "buttress-persistence"
