"""Typed queries: filters, sort, the query object and the parser of the full-text string."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .exceptions import QuerySyntaxError, SearchConfigurationError, SearchTypeError

__all__ = [
    "And",
    "Exists",
    "Filter",
    "Not",
    "Or",
    "ParsedQuery",
    "Range",
    "SearchQuery",
    "Sort",
    "Term",
    "Terms",
    "Value",
    "parse_query",
]

type Value = str | int | float | bool
"""A filterable value: a keyword (``str``), a number (``int`` / ``float``) or a ``bool``."""

MAX_QUERY_LENGTH = 4096


def _check_value(name: str, value: object) -> None:
    if not isinstance(value, str | int | float | bool):
        raise SearchTypeError(name, "a str, int, float or bool", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise SearchConfigurationError(name, value, "must be a finite number")


def _check_field(field_name: object) -> None:
    if not isinstance(field_name, str):
        raise SearchTypeError("field", "a str", field_name)
    if not field_name:
        raise SearchConfigurationError("field", field_name, "must not be empty")


@dataclass(frozen=True, slots=True)
class Term:
    """Documents whose ``field`` equals ``value`` (for a list-valued field: holds ``value``).

    Numbers compare by value (``1 == 1.0``); a ``bool`` matches only a ``bool``.
    """

    field: str
    value: Value

    def __post_init__(self) -> None:
        _check_field(self.field)
        _check_value("Term.value", self.value)


@dataclass(frozen=True, slots=True)
class Terms:
    """Documents whose ``field`` equals any of ``values`` (an empty tuple matches nothing)."""

    field: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        _check_field(self.field)
        given: object = self.values
        if isinstance(given, str) or not isinstance(given, Sequence):
            raise SearchTypeError("Terms.values", "a tuple of values", given)
        object.__setattr__(self, "values", tuple(given))
        for value in self.values:
            _check_value("Terms.values", value)


@dataclass(frozen=True, slots=True)
class Range:
    """Documents whose numeric ``field`` lies in the range; give at least one bound.

    A document without the field never matches.
    """

    field: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    def __post_init__(self) -> None:
        _check_field(self.field)
        bounds = {"gte": self.gte, "gt": self.gt, "lte": self.lte, "lt": self.lt}
        for name, bound in bounds.items():
            if bound is None:
                continue
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise SearchTypeError(f"Range.{name}", "a number", bound)
            if not math.isfinite(bound):
                raise SearchConfigurationError(f"Range.{name}", bound, "must be a finite number")
        if all(bound is None for bound in bounds.values()):
            raise SearchConfigurationError("Range", self.field, "give at least one of gte, gt, lte, lt")
        if self.gte is not None and self.gt is not None:
            raise SearchConfigurationError("Range", self.field, "give gte or gt, not both")
        if self.lte is not None and self.lt is not None:
            raise SearchConfigurationError("Range", self.field, "give lte or lt, not both")

    def contains(self, number: float) -> bool:
        """Return whether ``number`` lies in the range."""
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
        _check_field(self.field)


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
    for item in filters:
        if not isinstance(item, _FILTER_TYPES):
            raise SearchTypeError(owner, "filters (Term, Terms, Range, Exists, And, Or, Not)", item)


@dataclass(frozen=True, slots=True)
class Sort:
    """Order by a sortable field; documents without it come last in both directions."""

    field: str
    descending: bool = False

    def __post_init__(self) -> None:
        _check_field(self.field)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A full-text string split into its parts (still raw text: each backend analyses it).

    Attributes:
        terms: Plain words (a word the analyzer splits in several tokens acts as a phrase).
        phrases: Quoted phrases, matched as consecutive tokens within one field.
        excluded: Words and phrases after ``-``; a document holding any of them is left out.
    """

    terms: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def positive(self) -> tuple[str, ...]:
        """Terms and phrases, which select and score documents."""
        return self.terms + self.phrases


def parse_query(text: str) -> ParsedQuery:
    """Split a full-text string into terms, ``"quoted phrases"`` and ``-excluded`` words or phrases.

    Raises:
        QuerySyntaxError: On an unterminated quote, an empty phrase or a ``-`` with nothing after it.
        SearchTypeError: When ``text`` is not a str.

    Examples:
        >>> parse_query('red "running shoes" -kids')
        ParsedQuery(terms=('red',), phrases=('running shoes',), excluded=('kids',))
    """
    if not isinstance(text, str):
        raise SearchTypeError("text", "a str", text)
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            text, MAX_QUERY_LENGTH, f"the query is longer than {MAX_QUERY_LENGTH} characters"
        )
    terms: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        negated = char == "-"
        start = position
        if negated:
            position += 1
            if position == end or text[position].isspace():
                raise QuerySyntaxError(text, start, "'-' must be followed by a word or a quoted phrase")
        if text[position] == '"':
            close = text.find('"', position + 1)
            if close < 0:
                raise QuerySyntaxError(text, position, "unterminated quote")
            phrase = text[position + 1 : close].strip()
            if not phrase:
                raise QuerySyntaxError(text, position, "empty phrase")
            (excluded if negated else phrases).append(phrase)
            position = close + 1
            continue
        stop = position
        while stop < end and not text[stop].isspace() and text[stop] != '"':
            stop += 1
        (excluded if negated else terms).append(text[position:stop])
        position = stop
    return ParsedQuery(tuple(terms), tuple(phrases), tuple(excluded))


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to search for, how to narrow, count and order it, and which page to return.

    Args:
        text: The full-text string (see `parse_query`); empty matches every document (filter-only).
        filter: A filter every hit must match.
        match: ``"all"``: a hit holds every term and phrase; ``"any"``: at least one (scored by how
            many and how rare).
        facets: Facetable fields whose exact value counts over the whole filtered hit set to return.
        stats: Numeric facetable fields whose min/max/sum/avg over the hit set to return.
        sort: Sortable fields to order by; the id breaks ties. Empty: by relevance (score,
            descending), then id.
        limit: Hits per page (0 returns only totals, facets and stats).
        offset: Hits to skip (offset pagination). Not with ``cursor``.
        cursor: ``SearchResult.next_cursor`` of the previous page (cursor pagination).
        highlight: Whether to return highlighted fragments of the searchable fields.
    """

    text: str = ""
    filter: Filter | None = None
    match: Literal["all", "any"] = "all"
    facets: tuple[str, ...] = ()
    stats: tuple[str, ...] = ()
    sort: tuple[Sort, ...] = ()
    limit: int = 10
    offset: int = 0
    cursor: str | None = None
    highlight: bool = False
    parsed: ParsedQuery = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # noqa: PLR0912 - one check per argument
        object.__setattr__(self, "parsed", parse_query(self.text))
        if self.filter is not None:
            _check_filters("filter", (self.filter,))
        if self.match not in ("all", "any"):
            raise SearchConfigurationError("match", self.match, "must be 'all' or 'any'")
        for name in ("facets", "stats", "sort"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise SearchTypeError(name, "a tuple", value)
            object.__setattr__(self, name, tuple(value))
        for name in self.facets + self.stats:
            _check_field(name)
        for sort in self.sort:
            if not isinstance(sort, Sort):
                raise SearchTypeError("sort", "a tuple of Sort", sort)
        for name in ("limit", "offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SearchTypeError(name, "an int", value)
            if value < 0:
                raise SearchConfigurationError(name, value, "must not be negative")
        if self.limit > 10_000:
            raise SearchConfigurationError("limit", self.limit, "must be at most 10000; page with a cursor")
        if self.cursor is not None:
            if not isinstance(self.cursor, str):
                raise SearchTypeError("cursor", "a str", self.cursor)
            if self.offset:
                raise SearchConfigurationError("offset", self.offset, "give offset or cursor, not both")
        if not isinstance(self.highlight, bool):
            raise SearchTypeError("highlight", "a bool", self.highlight)
