"""buttress.search: one async search API over an embedded BM25 engine and PostgreSQL full-text search.

Typed queries (`SearchQuery`, filters, `Sort`) run against a `Schema` on any `SearchProvider`:
`MemorySearch` (embedded, BM25, persistence to a file) or `PostgresSearch` (extra ``postgres``:
the same `Analyzer`'s tokens in a ``tsvector`` with a GIN index, so both return the same hit sets).
Every argument is checked before a backend is asked, the same way for both. Results carry exact
facet counts, numeric stats, highlights and cursors. `FallbackSearch` answers from a fallback,
marked ``degraded``, when the primary fails or is slow, behind a `CircuitBreaker`. `bulk_index`
feeds a provider in batches through an `Indexer` and reports per-document errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._analysis import ENGLISH_STOP_WORDS, Analyzer
from ._bulk import BulkProgress, BulkReport, DocumentFailure, bulk_index
from ._fallback import BreakerState, CircuitBreaker, FallbackSearch
from ._memory import MemorySearch
from ._query import (
    And,
    Exists,
    Filter,
    Not,
    Or,
    ParsedQuery,
    Range,
    SearchQuery,
    Sort,
    Term,
    Terms,
    Value,
    parse_query,
)
from ._schema import FieldType, Schema
from ._types import (
    DatabaseFallback,
    FacetCount,
    Indexer,
    NumericStats,
    SearchHit,
    SearchProvider,
    SearchResult,
)
from ._version import __version__
from .exceptions import (
    IndexFileError,
    InvalidDocumentError,
    MissingExtraError,
    QuerySyntaxError,
    SearchConfigurationError,
    SearchError,
    SearchTypeError,
    SearchUnavailableError,
    UnknownFieldError,
)

if TYPE_CHECKING:
    from ._postgres import PostgresSearch

__all__ = [
    "ENGLISH_STOP_WORDS",
    "Analyzer",
    "And",
    "BreakerState",
    "BulkProgress",
    "BulkReport",
    "CircuitBreaker",
    "DatabaseFallback",
    "DocumentFailure",
    "Exists",
    "FacetCount",
    "FallbackSearch",
    "FieldType",
    "Filter",
    "IndexFileError",
    "Indexer",
    "InvalidDocumentError",
    "MemorySearch",
    "MissingExtraError",
    "Not",
    "NumericStats",
    "Or",
    "ParsedQuery",
    "PostgresSearch",
    "QuerySyntaxError",
    "Range",
    "Schema",
    "SearchConfigurationError",
    "SearchError",
    "SearchHit",
    "SearchProvider",
    "SearchQuery",
    "SearchResult",
    "SearchTypeError",
    "SearchUnavailableError",
    "Sort",
    "Term",
    "Terms",
    "UnknownFieldError",
    "Value",
    "__version__",
    "bulk_index",
    "parse_query",
]


__getattr__ = lazy_exports(__name__, {"PostgresSearch": "_postgres"})
