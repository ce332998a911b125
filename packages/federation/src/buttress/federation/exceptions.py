"""Errors raised by buttress-federation.

::

    ButtressError                                  (buttress.core)
    └── FederationError                            every error this package raises
        ├── FederationConfigurationError           (also ConfigurationError, ValueError) a bad argument:
        │                                          a resolver for an unknown type, a negative limit
        ├── FederationTypeError            (also ArgumentTypeError, TypeError) an argument of
        │                                          the wrong type (SDL that is not a str)
        ├── FederationValidationError              (also ValueError) a subgraph schema that fails
        │                                          validation; ``.errors`` holds every `SubgraphError`
        ├── FieldSetError                          (also ValueError) a FieldSet string (``@key(fields:)``)
        │                                          that is not a selection set
        ├── RepresentationError                    (also ValueError) an ``_entities`` representation
        │                                          without ``__typename``, of an unknown type, or
        │                                          missing key fields; reported as a GraphQL error
        ├── EntityResolutionError                  a type with no resolver, or a resolver that broke
        │                                          its contract (wrong number of results)
        ├── CostLimitExceededError                 (also ValueError) an operation over a cost, depth or
        │                                          alias limit, rejected before execution
        └── DataLoaderError                        a batch function that broke its contract

Errors raised inside ``_entities`` reach the client as GraphQL errors (graphql-core wraps them and
keeps the original in ``original_error``); nothing else in a request is affected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError, safe_repr

if TYPE_CHECKING:
    from ._report import SubgraphError

__all__ = [
    "CostLimitExceededError",
    "DataLoaderError",
    "EntityResolutionError",
    "FederationConfigurationError",
    "FederationError",
    "FederationTypeError",
    "FederationValidationError",
    "FieldSetError",
    "RepresentationError",
]


class FederationError(ButtressError):
    """Root of every error buttress-federation raises."""


def _text(value: object) -> str:
    """``value`` for a message: a str as it is, anything else (a 5,000-digit int too) by its safe repr."""
    return value if isinstance(value, str) else safe_repr(value)


def _items(parameter: str, value: object) -> tuple[object, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FederationTypeError(parameter, "a sequence", value)
    return tuple(value)


class FederationConfigurationError(FederationError, ConfigurationError):
    """An argument is invalid (an unknown entity type, a negative limit); the message names it."""


class FederationTypeError(FederationError, ArgumentTypeError):
    """An argument has the wrong type; the message names the parameter and the type given."""


class FederationValidationError(FederationError, ValueError):
    """A subgraph schema failed validation.

    Attributes:
        errors: Every error found, in the order of the checks (never only the first).
    """

    def __init__(self, errors: Sequence[SubgraphError]) -> None:
        self.errors: tuple[SubgraphError, ...] = _items("errors", errors)  # type: ignore[assignment]
        count = len(self.errors)
        head = "; ".join(
            f"[{_text(getattr(e, 'code', '?'))}] {_text(getattr(e, 'message', e))}" for e in self.errors[:3]
        )
        more = f" (and {count - 3} more)" if count > 3 else ""
        noun = "error" if count == 1 else "errors"
        super().__init__(f"subgraph schema has {count} {noun}: {head}{more}")


class FieldSetError(FederationError, ValueError):
    """A FieldSet string (``"id organization { id }"``) is not the content of a selection set.

    Attributes:
        fields: The FieldSet as given.
        reason: What the parser found wrong (``Expected Name, found "}".``).
        column: 1-based position in ``fields`` where it went wrong, when known.
    """

    def __init__(self, fields: str, reason: str, column: int | None = None) -> None:
        self.fields = fields
        self.reason = reason
        self.column = column
        where = f" at column {_text(column)}" if column is not None else ""
        super().__init__(f"invalid field set {safe_repr(fields)}{where}: {_text(reason)}")


class RepresentationError(FederationError, ValueError):
    """An ``_entities`` representation is malformed.

    Attributes:
        index: The representation's position in ``representations``.
        typename: Its ``__typename``, or ``None`` when that is missing.
        missing: Key fields it lacks (empty for other faults).
    """

    def __init__(
        self, message: str, *, index: int, typename: str | None = None, missing: Sequence[str] = ()
    ) -> None:
        self.index = index
        self.typename = typename
        self.missing: tuple[str, ...] = _items("missing", missing)  # type: ignore[assignment]
        super().__init__(message)


class EntityResolutionError(FederationError):
    """An entity type has no resolver, or its resolver broke the `BatchEntityResolver` contract.

    Attributes:
        typename: The entity type concerned.
    """

    def __init__(self, message: str, *, typename: str) -> None:
        self.typename = typename
        super().__init__(message)


class CostLimitExceededError(FederationError, ValueError):
    """An operation is over a limit and was rejected before execution.

    Attributes:
        measure: Which limit: ``"cost"``, ``"depth"`` or ``"aliases"``.
        value: The computed value of that measure.
        limit: The configured limit.
    """

    def __init__(self, measure: str, value: int, limit: int) -> None:
        self.measure = measure
        self.value = value
        self.limit = limit
        what = "alias count" if measure == "aliases" else _text(measure)
        super().__init__(f"operation {what} {_text(value)} exceeds the limit of {_text(limit)}")


class DataLoaderError(FederationError):
    """A DataLoader batch function broke its contract (returned the wrong number of values)."""
