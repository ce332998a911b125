"""Results and the extension points: `SearchProvider`, `DatabaseFallback` and `Indexer`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ._query import SearchQuery, Value

__all__ = [
    "DatabaseFallback",
    "FacetCount",
    "Indexer",
    "NumericStats",
    "SearchHit",
    "SearchProvider",
    "SearchResult",
]


@dataclass(frozen=True, slots=True)
class SearchHit[TDocument]:
    """One matching document.

    Attributes:
        id: The document's id.
        score: Its relevance (0.0 for a query without text); comparable within one result only.
        document: The document as indexed.
        highlights: Per searchable field that matched, fragments with the matched words wrapped in
            the provider's marks (``<mark>``/``</mark>`` by default); HTML-escaped only when the
            provider was made with ``escape_html=True``.
    """

    id: str
    score: float
    document: TDocument
    highlights: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_new = object.__new__
_slots = vars(SearchHit)  # the slots' member descriptors
_set_id: Callable[[object, object], None] = _slots["id"].__set__
_set_score: Callable[[object, object], None] = _slots["score"].__set__
_set_document: Callable[[object, object], None] = _slots["document"].__set__
_set_highlights: Callable[[object, object], None] = _slots["highlights"].__set__


def make_hit[TDocument](
    id: str,
    score: float,
    document: TDocument,
    highlights: Mapping[str, tuple[str, ...]],
) -> SearchHit[TDocument]:
    """``SearchHit(id, score, document, highlights)``, built through its slots directly.

    The same object as the constructor's (which checks nothing either), at a third of its cost: a
    frozen dataclass's ``__init__`` goes through ``object.__setattr__`` once per field, and a page
    builds one hit per document.
    """
    hit: SearchHit[TDocument] = _new(SearchHit)
    _set_id(hit, id)
    _set_score(hit, score)
    _set_document(hit, document)
    _set_highlights(hit, highlights)
    return hit


def make_plain_hits[TDocument](
    page: Iterable[tuple[str, float, TDocument]],
) -> tuple[SearchHit[TDocument], ...]:
    """``tuple(make_hit(id, score, document, {}) for id, score, document in page)``, one loop.

    Hits without highlights (each its own empty dict, as the constructor's default gives).
    """
    hits: list[SearchHit[TDocument]] = []
    append = hits.append
    for doc_id, score, document in page:
        hit: SearchHit[TDocument] = _new(SearchHit)
        _set_id(hit, doc_id)
        _set_score(hit, score)
        _set_document(hit, document)
        _set_highlights(hit, {})
        append(hit)
    return tuple(hits)


@dataclass(frozen=True, slots=True)
class FacetCount:
    """How many hits hold ``value`` in the facet's field (a list-valued field counts each value once)."""

    value: Value
    count: int


@dataclass(frozen=True, slots=True)
class NumericStats:
    """Statistics of a number field over the whole hit set (hits without the field are not counted).

    Attributes:
        count: Hits holding the field.
        min: The smallest value, or ``None`` when ``count`` is 0 (so are ``max`` and ``avg``).
        max: The largest value.
        sum: The sum of the values (0 when ``count`` is 0).
        avg: ``sum / count``.
    """

    count: int
    min: float | None
    max: float | None
    sum: float
    avg: float | None


@dataclass(frozen=True, slots=True)
class SearchResult[TDocument]:
    """A page of hits with exact totals, facets and stats over every hit (not only the page).

    Attributes:
        hits: The page, best first (or in the query's sort order).
        total: How many documents match, exactly.
        facets: Per requested field, every value with its exact count, by count descending then value.
        stats: Per requested number field, its `NumericStats`.
        offset: The offset of the first hit of the page (with a cursor: hits before it, when known).
        limit: The page size asked for.
        next_cursor: Give it as ``SearchQuery.cursor`` for the next page; ``None`` on the last page.
        degraded: True when `FallbackSearch` answered from its fallback.
    """

    hits: tuple[SearchHit[TDocument], ...]
    total: int
    facets: Mapping[str, tuple[FacetCount, ...]] = field(default_factory=dict)
    stats: Mapping[str, NumericStats] = field(default_factory=dict)
    offset: int = 0
    limit: int = 10
    next_cursor: str | None = None
    degraded: bool = False

    @property
    def ids(self) -> list[str]:
        """The ids of the page's hits, in order."""
        return [hit.id for hit in self.hits]


_result_slots = vars(SearchResult)
_set_hits: Callable[[object, object], None] = _result_slots["hits"].__set__
_set_total: Callable[[object, object], None] = _result_slots["total"].__set__
_set_facets: Callable[[object, object], None] = _result_slots["facets"].__set__
_set_stats: Callable[[object, object], None] = _result_slots["stats"].__set__
_set_offset: Callable[[object, object], None] = _result_slots["offset"].__set__
_set_limit: Callable[[object, object], None] = _result_slots["limit"].__set__
_set_next_cursor: Callable[[object, object], None] = _result_slots["next_cursor"].__set__
_set_degraded: Callable[[object, object], None] = _result_slots["degraded"].__set__


def make_result[TDocument](
    hits: tuple[SearchHit[TDocument], ...],
    total: int,
    offset: int,
    limit: int,
    next_cursor: str | None,
) -> SearchResult[TDocument]:
    """``SearchResult(hits, total, {}, {}, offset, limit, next_cursor)``, built through its slots.

    The same object as the constructor's (fresh empty facets and stats, not degraded), as
    `make_hit` builds a hit: a query's one result, without eight ``object.__setattr__`` calls.
    """
    result: SearchResult[TDocument] = _new(SearchResult)
    _set_hits(result, hits)
    _set_total(result, total)
    _set_facets(result, {})
    _set_stats(result, {})
    _set_offset(result, offset)
    _set_limit(result, limit)
    _set_next_cursor(result, next_cursor)
    _set_degraded(result, False)
    return result


class SearchProvider[TDocument](Protocol):
    """**Protocol**: a search index that documents are written to and queried.

    `MemorySearch` and `PostgresSearch` implement it; `buttress.testing.SearchProviderContract` checks
    an implementation.

    Methods:
        index: Add or replace documents (by id). All or nothing per call: a bad document raises
            `InvalidDocumentError` and none of the call's documents is written.
        delete: Remove documents by id; return how many existed.
        search: Run a `SearchQuery`.
        count: How many documents match a query (every document without one).
    """

    async def index(self, documents: Iterable[TDocument]) -> None:
        """Add or replace ``documents``."""
        ...

    async def delete(self, ids: Iterable[str]) -> int:
        """Remove the documents with these ids; return how many were removed."""
        ...

    async def search(self, query: SearchQuery) -> SearchResult[TDocument]:
        """Return the page of hits, totals, facets and stats for ``query``."""
        ...

    async def count(self, query: SearchQuery | None = None) -> int:
        """Return how many documents match ``query`` (all documents when ``None``)."""
        ...


class DatabaseFallback[TDocument](Protocol):
    """**Protocol**: a plain database query `FallbackSearch` runs when its primary is down or slow.

    Typically an ``ILIKE`` or ``tsvector`` query over the application's own tables. It should honour
    the query's filter and page; facets and stats may come back empty.

    Methods:
        search: Answer ``query`` as well as the database can.
    """

    async def search(self, query: SearchQuery) -> SearchResult[TDocument]:
        """Answer ``query``."""
        ...


class Indexer[TEntity, TDocument](Protocol):
    """**Protocol**: maps a domain object to the document that is indexed for it.

    Methods:
        to_document: Build the document; raise any exception for an entity that cannot be indexed
            (`bulk_index` reports it against that entity and goes on).
    """

    def to_document(self, entity: TEntity) -> TDocument:
        """Return the document for ``entity``."""
        ...
