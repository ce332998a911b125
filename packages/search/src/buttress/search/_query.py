"""The query object and the parser of the full-text string (its two syntaxes)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from ._filters import (
    And,
    Exists,
    Filter,
    Not,
    Or,
    Range,
    Sort,
    Term,
    Terms,
    Value,
    check_filter_tree,
    check_str,
)
from .exceptions import QuerySyntaxError, SearchConfigurationError, SearchTypeError

__all__ = [
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_LENGTH",
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

MAX_QUERY_LENGTH: Final = 4096
"""The longest query text, in characters."""

MAX_LIMIT: Final = 10_000
"""The largest page; walk further with a cursor."""

MAX_OFFSET: Final = 2**31 - 1
"""The largest offset (a PostgreSQL ``int``); deep pages are cheaper with a cursor."""

_PERCENT = re.compile(r"(100|[1-9][0-9]?)%")

type Syntax = Literal["web", "plain"]
type MatchMode = Literal["all", "any"]


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

    def __post_init__(self) -> None:
        for name in ("terms", "phrases", "excluded"):
            given: object = getattr(self, name)
            if isinstance(given, str | bytes | bytearray) or not isinstance(given, Sequence):
                raise SearchTypeError(f"ParsedQuery.{name}", "a tuple of str", given)
            object.__setattr__(self, name, tuple(check_str(f"ParsedQuery.{name}", part) for part in given))

    @classmethod
    def _parts(
        cls, terms: tuple[str, ...], phrases: tuple[str, ...], excluded: tuple[str, ...]
    ) -> ParsedQuery:
        """A parse of text `parse_query` has checked already: its parts need no second check."""
        parsed = object.__new__(cls)
        object.__setattr__(parsed, "terms", terms)
        object.__setattr__(parsed, "phrases", phrases)
        object.__setattr__(parsed, "excluded", excluded)
        return parsed

    @property
    def positive(self) -> tuple[str, ...]:
        """Terms and phrases, which select and score documents."""
        return self.terms + self.phrases


def parse_query(text: str, syntax: Syntax = "web") -> ParsedQuery:
    """Split a full-text string into its parts.

    ``syntax="web"`` (the default) knows two operators, as web search engines do: ``"double
    quotes"`` around a phrase, and ``-`` before a word or a quoted phrase to exclude it. Nothing else
    is special, and there is no escape character: a ``-`` inside a word (``e-mail``) or after one
    (``well-``) is ordinary, and a word starting with ``-`` is searched by quoting it (``"-dash"``
    finds ``dash``: the analyzer drops punctuation anyway). An unterminated quote, an empty phrase or
    a ``-`` with nothing after it raises `QuerySyntaxError`.

    ``syntax="plain"`` has no operators: every whitespace-separated word is a term, quotes and
    dashes are punctuation, and no text raises a syntax error. Use it for text typed by users who
    were not told about operators.

    Raises:
        QuerySyntaxError: (``"web"`` only) on an unterminated quote, an empty phrase or a lone ``-``;
            for either syntax, on a text longer than `MAX_QUERY_LENGTH` characters.
        SearchConfigurationError: ``text`` holds NUL or a lone surrogate, or ``syntax`` is unknown.
        SearchTypeError: ``text`` is not a str.

    Examples:
        >>> parse_query('red "running shoes" -kids')
        ParsedQuery(terms=('red',), phrases=('running shoes',), excluded=('kids',))
        >>> parse_query('red "running shoes" -kids', syntax="plain")
        ParsedQuery(terms=('red', '"running', 'shoes"', '-kids'), phrases=(), excluded=())
    """
    if type(text) is not str or "\x00" in text or not text.isascii():  # else nothing to refuse
        text = check_str("text", text, allow_empty=True)
    if not isinstance(syntax, str) or syntax not in ("web", "plain"):
        raise SearchConfigurationError("syntax", syntax, "must be 'web' or 'plain'")
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            text, MAX_QUERY_LENGTH, f"the query is longer than {MAX_QUERY_LENGTH} characters"
        )
    if syntax == "plain":
        return ParsedQuery._parts(tuple(text.split()), (), ())
    return _parse_web(text)


def _parse_web(text: str) -> ParsedQuery:
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
                raise QuerySyntaxError(
                    text,
                    start,
                    "'-' must be followed by a word or a quoted phrase "
                    "(or search with syntax='plain', where '-' is not an operator)",
                )
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
    return ParsedQuery._parts(tuple(terms), tuple(phrases), tuple(excluded))


def _names(parameter: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence | frozenset | set):
        raise SearchTypeError(parameter, "a tuple of field names", value)
    # Repeats ask for the same thing twice: kept once, so a long list of one name costs nothing.
    return tuple(dict.fromkeys(check_str(parameter, name) for name in value))


def _count(parameter: str, value: object, maximum: int, advice: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SearchTypeError(parameter, "an int", value)
    if value < 0:
        raise SearchConfigurationError(parameter, value, "must not be negative")
    if value > maximum:
        raise SearchConfigurationError(parameter, value, f"must be at most {maximum}{advice}")
    return int(value)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to search for, how to narrow, count and order it, and which page to return.

    Every argument is checked here, so a bad one raises a typed error before any backend is asked
    (and so never counts against `FallbackSearch`'s circuit breaker).

    Args:
        text: The full-text string (see `parse_query`); empty matches every document (filter-only).
        filter: A filter every hit must match (at most 1,024 filters, nested at most 32 deep).
        match: ``"any"`` (default): a hit holds at least one term or phrase (at least
            ``minimum_should_match`` of them when given), and hits holding more, and rarer, words
            rank first: Lucene's and Elasticsearch's default OR, suited to natural-language text.
            ``"all"``: a hit holds every term and phrase, as web search engines do.
        facets: Facetable fields whose exact value counts over the whole filtered hit set to return.
        stats: Numeric facetable fields whose min/max/sum/avg over the hit set to return.
        sort: Sortable fields to order by (each once); the id breaks ties. Empty: by relevance
            (score, descending), then id.
        limit: Hits per page, 0 to 10,000 (0 returns only totals, facets and stats).
        offset: Hits to skip (offset pagination), at most 2**31 - 1. Not with ``cursor``.
        cursor: ``SearchResult.next_cursor`` of the previous page (cursor pagination).
        highlight: Whether to return highlighted fragments of the searchable fields.
        minimum_should_match: With ``match="any"``, how many of the terms and phrases a hit must
            hold: an int (at least 1; more than there are means all of them) or a percentage
            ``"1%"`` to ``"100%"`` of them, rounded down, at least 1 (Elasticsearch's rule). Terms
            made only of stop words are not counted.
        syntax: ``"web"`` (default): ``"phrases"`` and ``-exclusions``; ``"plain"``: no operators,
            for raw user text (see `parse_query`).
    """

    text: str = ""
    filter: Filter | None = None
    match: MatchMode = "any"
    facets: tuple[str, ...] = ()
    stats: tuple[str, ...] = ()
    sort: tuple[Sort, ...] = ()
    limit: int = 10
    offset: int = 0
    cursor: str | None = None
    highlight: bool = False
    minimum_should_match: int | str | None = None
    syntax: Syntax = "web"
    parsed: ParsedQuery = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", parse_query(self.text, self.syntax))
        if self.filter is not None:
            check_filter_tree("filter", self.filter)
        if not isinstance(self.match, str) or self.match not in ("all", "any"):
            raise SearchConfigurationError("match", self.match, "must be 'any' or 'all'")
        if self.minimum_should_match is not None:
            self._check_minimum()
        # An empty tuple (the default) needs no check.
        if type(self.facets) is not tuple or self.facets:
            object.__setattr__(self, "facets", _names("facets", self.facets))
        if type(self.stats) is not tuple or self.stats:
            object.__setattr__(self, "stats", _names("stats", self.stats))
        if type(self.sort) is not tuple or self.sort:
            self._check_sort()
        # A plain int in range is kept as it is (what `_count` would return); anything else is checked.
        limit, offset = self.limit, self.offset
        if type(limit) is not int or not 0 <= limit <= MAX_LIMIT:
            object.__setattr__(self, "limit", _count("limit", limit, MAX_LIMIT, "; page with a cursor"))
        if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
            object.__setattr__(self, "offset", _count("offset", offset, MAX_OFFSET, "; page with a cursor"))
        if self.cursor is not None:
            check_str("cursor", self.cursor)
            if self.offset:
                raise SearchConfigurationError("offset", self.offset, "give offset or cursor, not both")
        if not isinstance(self.highlight, bool):
            raise SearchTypeError("highlight", "a bool", self.highlight)

    def _check_minimum(self) -> None:
        minimum = self.minimum_should_match
        if minimum is None:
            return
        if self.match != "any":
            raise SearchConfigurationError(
                "minimum_should_match", minimum, "applies to match='any' only (match='all' needs every part)"
            )
        if isinstance(minimum, str):
            if not _PERCENT.fullmatch(minimum):
                raise SearchConfigurationError(
                    "minimum_should_match", minimum, "a percentage is '1%' to '100%'"
                )
            return
        if isinstance(minimum, bool) or not isinstance(minimum, int):
            raise SearchTypeError("minimum_should_match", "an int, a percentage str or None", minimum)
        if not 1 <= minimum <= MAX_QUERY_LENGTH:
            raise SearchConfigurationError(
                "minimum_should_match", minimum, f"must be from 1 to {MAX_QUERY_LENGTH}"
            )
        object.__setattr__(self, "minimum_should_match", int(minimum))

    def _check_sort(self) -> None:
        given: object = self.sort
        if isinstance(given, str | bytes | bytearray) or not isinstance(given, Sequence):
            raise SearchTypeError("sort", "a tuple of Sort", given)
        seen: set[str] = set()
        for item in given:
            if not isinstance(item, Sort):
                raise SearchTypeError("sort", "a tuple of Sort", item)
            if item.field in seen:
                raise SearchConfigurationError("sort", item.field, "sort by each field once")
            seen.add(item.field)
        object.__setattr__(self, "sort", tuple(given))

    def required(self, parts: int) -> int:
        """How many of ``parts`` analysed terms and phrases a hit must hold under this query's match.

        Raises:
            SearchTypeError: ``parts`` is not an int.
            SearchConfigurationError: ``parts`` is negative.
        """
        parts = _count("parts", parts, MAX_QUERY_LENGTH, "")
        if self.match == "all":
            return parts
        minimum = self.minimum_should_match
        if minimum is None or not parts:
            return min(1, parts)
        if isinstance(minimum, str):
            return max(1, parts * int(minimum[:-1]) // 100)
        return min(minimum, parts)
