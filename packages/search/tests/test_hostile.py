"""Every public entry point of buttress-search, driven with hostile arguments: only typed errors.

Each function, constructor and method of the public surface (``buttress.search.__all__``) is called
with hypothesis-generated hostile values in place of its arguments; anything but a ``ButtressError``
fails. The Protocols (`SearchProvider`, `DatabaseFallback`, `Indexer`), the type aliases (`Filter`,
`Value`, `FieldType`), the constant `ENGLISH_STOP_WORDS` and the enum `BreakerState` (looked up by
value as any enum) are not callables of this package and are left out; so are the methods without
parameters (`CircuitBreaker.allow`, ``record_success``, ``aclose``...), which have nothing to be
hostile about. `bulk_index`'s progress callback is kept valid: what a callback raises is its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import buttress.search as search_package
from buttress.search import (
    Analyzer,
    And,
    BreakerState,
    BulkProgress,
    BulkReport,
    CircuitBreaker,
    DocumentFailure,
    Exists,
    FacetCount,
    FallbackSearch,
    IndexFileError,
    InvalidDocumentError,
    MemorySearch,
    MissingExtraError,
    Not,
    NumericStats,
    Or,
    ParsedQuery,
    PostgresSearch,
    QuerySyntaxError,
    Range,
    Schema,
    SearchConfigurationError,
    SearchError,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchTypeError,
    SearchUnavailableError,
    Sort,
    Term,
    Terms,
    UnknownFieldError,
    bulk_index,
    parse_query,
)
from buttress.testing import HostileTarget, HostileTargets, acheck_hostile, check_hostile, hostile_values

SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0},
    fields={"category": "keyword", "tags": "keyword", "price": "number", "in_stock": "boolean"},
    facetable={"category", "tags", "price", "in_stock"},
    sortable={"price", "category"},
)
DOCUMENTS = [
    {"id": "a", "title": "alpha bravo", "body": "charlie", "category": "x", "tags": ["t"], "price": 3},
    {"id": "b", "title": "bravo", "body": "delta", "category": "y", "price": 4.5, "in_stock": True},
]
QUERY = SearchQuery("alpha", filter=Term("category", "x"), facets=("tags",), stats=("price",), limit=5)


def filled() -> MemorySearch:
    memory = MemorySearch(SCHEMA)
    memory.index_now(DOCUMENTS)
    return memory


class ToDocument:
    def to_document(self, entity: dict[str, Any]) -> dict[str, Any]:
        return entity


HIT = SearchHit("a", 1.0, {"id": "a"})

TARGETS = HostileTargets()
# queries and filters
TARGETS.add(parse_query, 'red "running shoes" -kids', syntax="web")
TARGETS.add(
    SearchQuery,
    "alpha",
    filter=Term("category", "x"),
    match="any",
    facets=("tags",),
    stats=("price",),
    sort=(Sort("price"),),
    limit=5,
    offset=0,
    cursor=None,
    highlight=False,
    minimum_should_match="50%",
    syntax="web",
)
TARGETS.add(QUERY.required, 3)
TARGETS.add(ParsedQuery, ("a",), ("b c",), ("d",))
TARGETS.add(Term, "category", "x")
TARGETS.add(Terms, "tags", ("a", "b"))
TARGETS.add(Range, "price", gte=1, gt=None, lte=5.5, lt=None)
TARGETS.add(Range("price", gte=1).contains, 3)
TARGETS.add(Exists, "price")
TARGETS.add(And, Term("category", "x"), Exists("tags"))
TARGETS.add(Or, Term("category", "x"), Exists("tags"))
TARGETS.add(Not, Exists("tags"))
TARGETS.add(Sort, "price", descending=True)
# schema and analysis
TARGETS.add(
    Schema,
    {"title": 2.0},
    fields={"price": "number"},
    filterable=None,
    facetable={"price"},
    sortable={"price"},
    id_field="id",
)
TARGETS.add(SCHEMA.check_query, QUERY)
TARGETS.add(SCHEMA.check_filter, Term("category", "x"))
TARGETS.add(SCHEMA.split, DOCUMENTS[0])
TARGETS.add(Schema.from_dict, SCHEMA.to_dict())
TARGETS.add(Analyzer, stop_words=frozenset({"the"}), stemmer="english", normalization="NFKC")
TARGETS.add(Analyzer().tokens, "Straße ﬁne")
TARGETS.add(Analyzer().spans, "Straße ﬁne")
TARGETS.add(Analyzer.from_dict, Analyzer().to_dict())
# MemorySearch
TARGETS.add(
    MemorySearch,
    SCHEMA,
    analyzer=Analyzer(),
    k1=1.2,
    b=0.75,
    marks=("<b>", "</b>"),
    fragment_size=100,
    max_fragments=2,
    escape_html=True,
)
TARGETS.add(lambda documents: filled().index(documents), DOCUMENTS, covers="MemorySearch.index")
TARGETS.add(lambda documents: filled().index_now(documents), DOCUMENTS, covers="MemorySearch.index_now")
TARGETS.add(lambda ids: filled().delete(ids), ["a", "z"], covers="MemorySearch.delete")
TARGETS.add(lambda ids: filled().delete_now(ids), ["a", "z"], covers="MemorySearch.delete_now")
TARGETS.add(lambda query: filled().search(query), QUERY, covers="MemorySearch.search")
TARGETS.add(lambda query: filled().search_now(query), QUERY, covers="MemorySearch.search_now")
TARGETS.add(lambda query: filled().count(query), QUERY, covers="MemorySearch.count")
# FallbackSearch and CircuitBreaker
TARGETS.add(FallbackSearch, MemorySearch(SCHEMA), MemorySearch(SCHEMA), timeout=1.0, breaker=None)
TARGETS.add(
    lambda query: FallbackSearch(filled(), filled()).search(query), QUERY, covers="FallbackSearch.search"
)
TARGETS.add(
    lambda query: FallbackSearch(filled(), filled()).count(query), QUERY, covers="FallbackSearch.count"
)
TARGETS.add(
    lambda documents: FallbackSearch(filled(), filled()).index(documents),
    DOCUMENTS,
    covers="FallbackSearch.index",
)
TARGETS.add(lambda ids: FallbackSearch(filled(), filled()).delete(ids), ["a"], covers="FallbackSearch.delete")
TARGETS.add(BreakerState, "closed")
TARGETS.add(CircuitBreaker, failure_threshold=3, reset_timeout=5.0, clock=None)
# results (plain records: any value is stored as given)
TARGETS.add(SearchHit, "a", 1.0, {"id": "a"}, highlights={})
TARGETS.add(FacetCount, "x", 1)
TARGETS.add(NumericStats, 1, 1.0, 1.0, 1.0, 1.0)
TARGETS.add(SearchResult, (HIT,), 1, facets={}, stats={}, offset=0, limit=10, next_cursor=None)
TARGETS.add(BulkProgress, 1, 1, 0, 1)
TARGETS.add(BulkReport, 1, (), 1)
TARGETS.add(DocumentFailure, 0, "a", ValueError("x"))
# errors (constructed by the package, but public)
TARGETS.add(QuerySyntaxError, '"open', 0, "unterminated quote")
TARGETS.add(UnknownFieldError, "colour", "filter", ("category",))
TARGETS.add(InvalidDocumentError, "a", "title", "must be a str")
TARGETS.add(IndexFileError, "index.bsi", "corrupt", operation="load")
# show_value is buttress.core's ConfigurationError's flag, driven by core's own hostile test
TARGETS.add(SearchConfigurationError, "limit", -1, "x", keep=("show_value",))
TARGETS.add(SearchTypeError, "limit", "an int", "x")
TARGETS.add(SearchUnavailableError, "postgresql", "postgresql://u:p@db/x", "refused")
TARGETS.add(SearchError, "message")
TARGETS.add(MissingExtraError, "PostgresSearch", "postgres")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a public function, constructor or method raise an untyped error."""
    target.check()


@TARGETS.drives("bulk_index")
def test_bulk_index_raises_only_typed_errors() -> None:
    """Property: bulk_index answers hostile arguments with typed errors; the progress callback, which
    the package calls with a `BulkProgress`, is kept (what a callback raises is the callback's own)."""
    seen: list[BulkProgress] = []
    check_hostile(
        bulk_index,
        MemorySearch(SCHEMA),
        DOCUMENTS,
        ToDocument(),
        batch_size=1,
        on_progress=seen.append,
        keep=("on_progress",),
    )


@TARGETS.drives("MemorySearch.save", "MemorySearch.load")
async def test_save_and_load_raise_only_typed_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Property: a hostile path or option to save/load is a typed error (IndexFileError for the file).

    Hostile paths are relative and the test runs in its own directory: save writes where it is told.
    """
    monkeypatch.chdir(tmp_path)
    values = hostile_values()
    path = tmp_path / "index.bsi"
    await filled().save(path)
    await acheck_hostile(filled().save, path, values=values)
    await acheck_hostile(
        MemorySearch.load,
        path,
        marks=("<b>", "</b>"),
        fragment_size=100,
        max_fragments=2,
        escape_html=False,
        values=values,
    )


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(search_package)


# -- PostgreSQL, on the test's event loop ----------------------------------------------------------


@pytest.fixture
async def filled_postgres(postgres: PostgresSearch) -> PostgresSearch:
    """The conftest's empty PostgresSearch, holding the documents above."""
    await postgres.index(DOCUMENTS)
    return postgres


@TARGETS.drives("PostgresSearch")
async def test_the_postgres_provider_raises_only_typed_errors(filled_postgres: PostgresSearch) -> None:
    postgres = filled_postgres
    """Property: every method of `PostgresSearch` answers hostile arguments with typed errors."""
    await acheck_hostile(postgres.search, QUERY)
    await acheck_hostile(postgres.count, QUERY)
    await acheck_hostile(postgres.delete, ["z", "y"])
    await acheck_hostile(postgres.index, [{"id": "c", "title": "echo", "price": 1}])
    assert (await postgres.search(SearchQuery("alpha"))).ids == ["a"]


async def test_postgres_search_construction_raises_only_typed_errors(
    postgres_pool: Any, postgres_schema: Any
) -> None:
    """Property: PostgresSearch(pool=...) and connect refuse bad arguments with typed errors."""
    await acheck_hostile(
        PostgresSearch,
        postgres_pool,
        SCHEMA,
        table="docs",
        analyzer=Analyzer(),
        marks=("<b>", "</b>"),
        fragment_size=100,
        max_fragments=2,
        escape_html=False,
    )

    async def connect(
        dsn: str,
        schema: Schema,
        *,
        table: str = "docs",
        min_size: int = 1,
        max_size: int = 2,
        command_timeout: float = 5.0,
        server_settings: dict[str, str] | None = None,
    ) -> None:
        # connect returns a provider that owns its pool: close it, so the check leaves none behind.
        search = await PostgresSearch.connect(
            dsn,
            schema,
            table=table,
            min_size=min_size,
            max_size=max_size,
            command_timeout=command_timeout,
            server_settings=server_settings,
        )
        await search.aclose()

    await acheck_hostile(
        connect,
        postgres_schema.dsn,
        SCHEMA,
        table="docs",
        min_size=1,
        max_size=2,
        command_timeout=5.0,
        server_settings={"application_name": "x"},
        max_examples=40,
    )


async def test_a_postgres_primary_behind_a_fallback_raises_only_typed_errors(
    filled_postgres: PostgresSearch,
) -> None:
    postgres = filled_postgres
    """Property: hostile queries through FallbackSearch are typed errors and never open the breaker."""
    breaker = CircuitBreaker(failure_threshold=1)
    fallback = FallbackSearch(postgres, filled(), breaker=breaker)
    await acheck_hostile(fallback.search, QUERY)
    await acheck_hostile(fallback.count, QUERY)
    assert breaker.failures == 0
    assert breaker.allow()


def test_an_unknown_breaker_state_is_a_typed_error() -> None:
    """Found when `BreakerState` was first driven: Enum's lookup raised a bare ValueError."""
    assert BreakerState("half_open") is BreakerState.HALF_OPEN
    with pytest.raises(SearchConfigurationError, match="must be one of") as raised:
        BreakerState("ajar")
    assert isinstance(raised.value, ValueError)
