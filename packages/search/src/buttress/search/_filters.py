"""Filters, `Sort` and the checks every value of a query goes through before any backend sees it.

The rules are the same for `MemorySearch` and `PostgresSearch`, so a bad value fails the same way on
both, as a typed error, before a backend is asked anything:

- text (field names, keyword values, query text, cursors, ids) is a ``str`` without NUL and without
  lone surrogates (PostgreSQL stores neither; UTF-8 cannot encode a surrogate);
- a number is an ``int`` within ±(2**53 - 1) or a finite ``float`` (I-JSON, RFC 7493: every number
  is exact as an IEEE double, so PostgreSQL's ``float8`` and ``numeric`` compare it as Python does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from buttress.core import MAX_COUNT, check_count, check_text
from buttress.core import check_seconds as core_check_seconds

from .exceptions import SearchConfigurationError, SearchTypeError

__all__ = [
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_NODES",
    "MAX_SAFE_INTEGER",
    "MAX_TERMS",
    "And",
    "Exists",
    "Filter",
    "Not",
    "Or",
    "Range",
    "Sort",
    "Term",
    "Terms",
    "Value",
    "check_filter_tree",
    "check_int",
    "check_number",
    "check_seconds",
    "check_str",
    "check_value",
    "is_text",
]

type Value = str | int | float | bool
"""A filterable value: a keyword (``str``), a number (``int`` / ``float``) or a ``bool``."""

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""The largest int a number field, a filter or a bound may hold (exact as an IEEE double)."""

MAX_TERMS: Final = 65_536
"""The most values one `Terms` filter may hold (Elasticsearch's default ``max_terms_count``)."""

MAX_FILTER_NODES: Final = 1_024
"""The most filters (leaves and `And`/`Or`/`Not` nodes) one query's filter tree may hold."""

MAX_FILTER_DEPTH: Final = 32
"""The deepest one query's filter tree may nest."""


def check_str(parameter: str, value: object, *, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a str without NUL and lone surrogates (else a typed error)."""
    return check_text(
        parameter,
        value,
        allow_empty=allow_empty,
        error=SearchConfigurationError,
        type_error=SearchTypeError,
    )


def is_text(value: object) -> bool:
    """Whether ``value`` is a str without NUL and lone surrogates (what every backend can store)."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_number(parameter: str, value: object) -> int | float:
    """Return ``value`` as a plain int or float if it is an int within ±(2**53 - 1) or a finite float.

    Raises:
        SearchTypeError: ``value`` is not an int or float (a ``bool`` is not a number here).
        SearchConfigurationError: It is out of that range (NaN, an infinity, ``10**400``).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SearchTypeError(parameter, "a number (int or float)", value)
    if isinstance(value, int):
        # Compared as ints: a value too large for a float is out of range, never an OverflowError.
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise SearchConfigurationError(
                parameter, value, "an int must be within ±(2**53 - 1); use a float for larger numbers"
            )
        return int(value)
    if not math.isfinite(value):
        raise SearchConfigurationError(parameter, value, "must be a finite number")
    return float(value)


def check_seconds(parameter: str, value: object) -> float:
    """Return a duration in seconds (> 0, at most 100 years) or raise a typed error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SearchTypeError(parameter, "a number of seconds", value)
    return core_check_seconds(parameter, value, error=SearchConfigurationError)


def check_int(parameter: str, value: object, *, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """Return an int from ``minimum`` to ``maximum`` or raise a typed error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SearchTypeError(parameter, "an int", value)
    return check_count(parameter, value, minimum=minimum, maximum=maximum, error=SearchConfigurationError)


def check_value(parameter: str, value: object) -> Value:
    """Return a filter value (a text keyword, a number or a bool) or raise a typed error."""
    if isinstance(value, str):
        return check_str(parameter, value, allow_empty=True)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return check_number(parameter, value)
    raise SearchTypeError(parameter, "a str, int, float or bool", value)


def _field(owner: str, value: object) -> str:
    return check_str(f"{owner}.field", value)


@dataclass(frozen=True, slots=True)
class Term:
    """Documents whose ``field`` equals ``value`` (for a list-valued field: holds ``value``).

    Numbers compare by value (``1 == 1.0``); a ``bool`` matches only a ``bool``.
    """

    field: str
    value: Value

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _field("Term", self.field))
        object.__setattr__(self, "value", check_value("Term.value", self.value))


@dataclass(frozen=True, slots=True)
class Terms:
    """Documents whose ``field`` equals any of ``values`` (an empty tuple matches nothing).

    At most `MAX_TERMS` values.
    """

    field: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _field("Terms", self.field))
        given: object = self.values
        if isinstance(given, str | bytes | bytearray) or not isinstance(given, Sequence | frozenset | set):
            raise SearchTypeError("Terms.values", "a tuple of values", given)
        if len(given) > MAX_TERMS:
            raise SearchConfigurationError(
                "Terms.values", len(given), f"give at most {MAX_TERMS} values", show_value=False
            )
        values = tuple(check_value("Terms.values", value) for value in given)
        object.__setattr__(self, "values", values)


@dataclass(frozen=True, slots=True)
class Range:
    """Documents whose numeric ``field`` lies in the range; give at least one bound.

    A document without the field never matches. Bounds follow the number rule of the module
    (an int within ±(2**53 - 1) or a finite float).
    """

    field: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _field("Range", self.field))
        for name in ("gte", "gt", "lte", "lt"):
            bound = getattr(self, name)
            if bound is not None:
                object.__setattr__(self, name, check_number(f"Range.{name}", bound))
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise SearchConfigurationError("Range", self.field, "give at least one of gte, gt, lte, lt")
        if self.gte is not None and self.gt is not None:
            raise SearchConfigurationError("Range", self.field, "give gte or gt, not both")
        if self.lte is not None and self.lt is not None:
            raise SearchConfigurationError("Range", self.field, "give lte or lt, not both")

    def contains(self, number: float) -> bool:
        """Return whether ``number`` lies in the range.

        Raises:
            SearchTypeError: ``number`` is not a number.
        """
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise SearchTypeError("number", "a number (int or float)", number)
        return (
            (self.gte is None or number >= self.gte)
            and (self.gt is None or number > self.gt)
            and (self.lte is None or number <= self.lte)
            and (self.lt is None or number < self.lt)
        )


@dataclass(frozen=True, slots=True)
class Exists:
    """Documents that hold ``field`` with a value (``None`` and an empty list count as absent)."""

    field: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _field("Exists", self.field))


@dataclass(frozen=True, slots=True, init=False)
class And:
    """Documents matching every filter (no filters: every document)."""

    filters: tuple[Filter, ...]

    def __init__(self, *filters: Filter) -> None:
        _check_filters("And", filters)
        object.__setattr__(self, "filters", filters)


@dataclass(frozen=True, slots=True, init=False)
class Or:
    """Documents matching at least one filter (no filters: no document)."""

    filters: tuple[Filter, ...]

    def __init__(self, *filters: Filter) -> None:
        _check_filters("Or", filters)
        object.__setattr__(self, "filters", filters)


@dataclass(frozen=True, slots=True)
class Not:
    """Documents not matching ``filter``."""

    filter: Filter

    def __post_init__(self) -> None:
        _check_filters("Not", (self.filter,))


type Filter = Term | Terms | Range | Exists | And | Or | Not
"""Any filter; combine them with `And`, `Or` and `Not`."""

_FILTER_TYPES = (Term, Terms, Range, Exists, And, Or, Not)


def _check_filters(owner: str, filters: tuple[object, ...]) -> None:
    if len(filters) > MAX_FILTER_NODES:
        raise SearchConfigurationError(
            owner, len(filters), f"a filter tree holds at most {MAX_FILTER_NODES} filters", show_value=False
        )
    for item in filters:
        if not isinstance(item, _FILTER_TYPES):
            raise SearchTypeError(owner, "filters (Term, Terms, Range, Exists, And, Or, Not)", item)


def check_filter_tree(parameter: str, root: object) -> None:
    """Raise a typed error unless ``root`` is a filter tree small and shallow enough to run.

    At most `MAX_FILTER_NODES` filters nested at most `MAX_FILTER_DEPTH` deep; the tree is walked
    without recursion, so any tree is safe to check.
    """
    stack: list[tuple[object, int]] = [(root, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, _FILTER_TYPES):
            raise SearchTypeError(parameter, "a filter (Term, Terms, Range, Exists, And, Or, Not)", item)
        nodes += 1
        if nodes > MAX_FILTER_NODES:
            raise SearchConfigurationError(
                parameter, nodes, f"a filter tree holds at most {MAX_FILTER_NODES} filters", show_value=False
            )
        if depth > MAX_FILTER_DEPTH:
            raise SearchConfigurationError(
                parameter, depth, f"filters nest at most {MAX_FILTER_DEPTH} deep", show_value=False
            )
        if isinstance(item, And | Or):
            stack.extend((sub, depth + 1) for sub in item.filters)
        elif isinstance(item, Not):
            stack.append((item.filter, depth + 1))


@dataclass(frozen=True, slots=True)
class Sort:
    """Order by a sortable field; documents without it come last in both directions."""

    field: str
    descending: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _field("Sort", self.field))
        if not isinstance(self.descending, bool):
            raise SearchTypeError("Sort.descending", "a bool", self.descending)
