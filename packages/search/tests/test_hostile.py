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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import buttress.search as search_package
from buttress.search import (
    Analyzer,
    And,
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
from buttress.testing import acheck_hostile, check_hostile, hostile_values

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

TARGETS: list[tuple[Callable[..., object], tuple[object, ...], dict[str, object]]] = [
    # queries and filters
    (parse_query, ('red "running shoes" -kids',), {"syntax": "web"}),
    (
        SearchQuery,
        ("alpha",),
        {
            "filter": Term("category", "x"),
            "match": "any",
            "facets": ("tags",),
            "stats": ("price",),
            "sort": (Sort("price"),),
            "limit": 5,
            "offset": 0,
            "cursor": None,
            "highlight": False,
            "minimum_should_match": "50%",
            "syntax": "web",
        },
    ),
    (QUERY.required, (3,), {}),
    (ParsedQuery, (("a",), ("b c",), ("d",)), {}),
    (Term, ("category", "x"), {}),
    (Terms, ("tags", ("a", "b")), {}),
    (Range, ("price",), {"gte": 1, "gt": None, "lte": 5.5, "lt": None}),
    (Range("price", gte=1).contains, (3,), {}),
    (Exists, ("price",), {}),
    (And, (Term("category", "x"), Exists("tags")), {}),
    (Or, (Term("category", "x"), Exists("tags")), {}),
    (Not, (Exists("tags"),), {}),
    (Sort, ("price",), {"descending": True}),
    # schema and analysis
    (
        Schema,
        ({"title": 2.0},),
        {
            "fields": {"price": "number"},
            "filterable": None,
            "facetable": {"price"},
            "sortable": {"price"},
            "id_field": "id",
        },
    ),
    (SCHEMA.check_query, (QUERY,), {}),
    (SCHEMA.check_filter, (Term("category", "x"),), {}),
    (SCHEMA.split, (DOCUMENTS[0],), {}),
    (Schema.from_dict, (SCHEMA.to_dict(),), {}),
    (Analyzer, (), {"stop_words": frozenset({"the"}), "stemmer": "english", "normalization": "NFKC"}),
    (Analyzer().tokens, ("Straße ﬁne",), {}),
    (Analyzer().spans, ("Straße ﬁne",), {}),
    (Analyzer.from_dict, (Analyzer().to_dict(),), {}),
    # MemorySearch
    (
        MemorySearch,
        (SCHEMA,),
        {
            "analyzer": Analyzer(),
            "k1": 1.2,
            "b": 0.75,
            "marks": ("<b>", "</b>"),
            "fragment_size": 100,
            "max_fragments": 2,
            "escape_html": True,
        },
    ),
    (lambda documents: filled().index(documents), (DOCUMENTS,), {}),
    (lambda documents: filled().index_now(documents), (DOCUMENTS,), {}),
    (lambda ids: filled().delete(ids), (["a", "z"],), {}),
    (lambda ids: filled().delete_now(ids), (["a", "z"],), {}),
    (lambda query: filled().search(query), (QUERY,), {}),
    (lambda query: filled().search_now(query), (QUERY,), {}),
    (lambda query: filled().count(query), (QUERY,), {}),
    # FallbackSearch and CircuitBreaker
    (FallbackSearch, (MemorySearch(SCHEMA), MemorySearch(SCHEMA)), {"timeout": 1.0, "breaker": None}),
    (lambda query: FallbackSearch(filled(), filled()).search(query), (QUERY,), {}),
    (lambda query: FallbackSearch(filled(), filled()).count(query), (QUERY,), {}),
    (lambda documents: FallbackSearch(filled(), filled()).index(documents), (DOCUMENTS,), {}),
    (lambda ids: FallbackSearch(filled(), filled()).delete(ids), (["a"],), {}),
    (CircuitBreaker, (), {"failure_threshold": 3, "reset_timeout": 5.0, "clock": None}),
    # results (plain records: any value is stored as given)
    (SearchHit, ("a", 1.0, {"id": "a"}), {"highlights": {}}),
    (FacetCount, ("x", 1), {}),
    (NumericStats, (1, 1.0, 1.0, 1.0, 1.0), {}),
    (SearchResult, ((HIT,), 1), {"facets": {}, "stats": {}, "offset": 0, "limit": 10, "next_cursor": None}),
    (BulkProgress, (1, 1, 0, 1), {}),
    (BulkReport, (1, (), 1), {}),
    (DocumentFailure, (0, "a", ValueError("x")), {}),
    # errors (constructed by the package, but public)
    (QuerySyntaxError, ('"open', 0, "unterminated quote"), {}),
    (UnknownFieldError, ("colour", "filter", ("category",)), {}),
    (InvalidDocumentError, ("a", "title", "must be a str"), {}),
    (IndexFileError, ("index.bsi", "corrupt"), {"operation": "load"}),
    # show_value is buttress.core's ConfigurationError's flag, driven by core's own hostile test
    (
        lambda parameter, value, reason: SearchConfigurationError(parameter, value, reason),  # noqa: PLW0108
        ("limit", -1, "x"),
        {},
    ),
    (SearchTypeError, ("limit", "an int", "x"), {}),
    (SearchUnavailableError, ("postgresql", "postgresql://u:p@db/x", "refused"), {}),
    (SearchError, ("message",), {}),
    (MissingExtraError, ("PostgresSearch", "postgres"), {}),
]


def _name(target: Callable[..., object]) -> str:
    name = str(getattr(target, "__qualname__", repr(target)))
    if name.endswith("<lambda>"):
        code = target.__code__  # type: ignore[attr-defined]
        return "lambda:" + ",".join(code.co_varnames[: code.co_argcount])
    return name


@pytest.mark.parametrize(
    ("target", "args", "kwargs"), TARGETS, ids=[f"{n}-{_name(t)}" for n, (t, _, _) in enumerate(TARGETS)]
)
def test_public_entry_points_raise_only_typed_errors(
    target: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    """Property: no argument makes a public function, constructor or method raise an untyped error."""
    check_hostile(target, *args, **kwargs)


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


def test_every_public_name_is_driven_or_is_not_callable() -> None:
    """Every name in ``__all__`` is driven above, or is a Protocol, an alias, a constant or the enum."""
    driven = {_name(target).split(".")[0] for target, _, _ in TARGETS}
    driven |= {"PostgresSearch"}  # driven on the test's event loop, below
    driven |= {"MemorySearch", "FallbackSearch", "SearchConfigurationError"}  # driven through lambdas
    driven |= {"bulk_index"}  # driven with its callback kept
    not_callables = {
        "__version__",
        "ENGLISH_STOP_WORDS",
        "BreakerState",
        "DatabaseFallback",
        "FieldType",
        "Filter",
        "Indexer",
        "SearchProvider",
        "Value",
    }
    assert set(search_package.__all__) - driven - not_callables == set()


# -- PostgreSQL, on the test's event loop ----------------------------------------------------------


@pytest.fixture
async def filled_postgres(postgres: PostgresSearch) -> PostgresSearch:
    """The conftest's empty PostgresSearch, holding the documents above."""
    await postgres.index(DOCUMENTS)
    return postgres


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
