"""A client's bad input is a typed error raised before any backend, the same on both providers,
and never counts against `FallbackSearch`'s circuit breaker."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from buttress.search import (
    Analyzer,
    And,
    BreakerState,
    CircuitBreaker,
    Exists,
    FallbackSearch,
    IndexFileError,
    InvalidDocumentError,
    MemorySearch,
    Not,
    ParsedQuery,
    PostgresSearch,
    Range,
    Schema,
    SearchConfigurationError,
    SearchError,
    SearchQuery,
    SearchTypeError,
    SearchUnavailableError,
    Sort,
    Term,
    Terms,
    UnknownFieldError,
)
from buttress.testing import PostgresSchema

SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0},
    fields={"category": "keyword", "tags": "keyword", "price": "number", "in_stock": "boolean"},
    facetable={"category", "tags", "price", "in_stock"},
    sortable={"price", "category"},
)

BAD_TEXT = ["nul \x00 byte", "lone \ud800 surrogate", "\udfff"]
DEAD_DSN = "postgresql://nobody@127.0.0.1:1/none"  # the conftest's `dead` fixture's server

type Provider = MemorySearch | PostgresSearch


# -- query values are checked when the query is built ---------------------------------------------


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize(
    "build",
    [
        SearchQuery,
        lambda bad: SearchQuery(bad, syntax="plain"),
        lambda bad: Term("category", bad),
        lambda bad: Terms("tags", ("ok", bad)),
        lambda bad: Term(bad, "x"),
        Exists,
        lambda bad: Range(bad, gte=1),
        Sort,
        lambda bad: SearchQuery(facets=(bad,)),
        lambda bad: SearchQuery(stats=(bad,)),
        lambda bad: SearchQuery(cursor=bad),
        lambda bad: Schema(searchable={bad: 1.0}),
        lambda bad: Schema(searchable={"title": 1.0}, fields={bad: "keyword"}),
        lambda bad: Schema(searchable={"title": 1.0}, id_field=bad),
        lambda bad: Analyzer(stop_words={bad}),
        lambda bad: MemorySearch(SCHEMA, marks=(bad, "")),
    ],
)
def test_nul_and_lone_surrogates_are_refused_where_they_are_given(
    bad: str, build: Callable[[str], object]
) -> None:
    """NUL and lone surrogates in any text of a query, a filter or a schema: a typed error at once."""
    with pytest.raises(SearchConfigurationError, match=r"NUL|surrogate"):
        build(bad)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: Range("price", lt=10**400), SearchConfigurationError),
        (lambda: Range("price", gte=-(10**400)), SearchConfigurationError),
        (lambda: Range("price", lte=2**53), SearchConfigurationError),
        (lambda: Range("price", gt=float("nan")), SearchConfigurationError),
        (lambda: Term("price", 10**400), SearchConfigurationError),
        (lambda: Terms("price", (1, 2**60)), SearchConfigurationError),
        (lambda: Terms("tags", tuple(str(n) for n in range(70_000))), SearchConfigurationError),
        (lambda: SearchQuery(offset=2**31), SearchConfigurationError),
        (lambda: SearchQuery(offset=10**400), SearchConfigurationError),
        (lambda: SearchQuery(limit=10**400), SearchConfigurationError),
        (lambda: SearchQuery(minimum_should_match=10**400), SearchConfigurationError),
        (lambda: SearchQuery(minimum_should_match=0), SearchConfigurationError),
        (lambda: SearchQuery(minimum_should_match="0%"), SearchConfigurationError),
        (lambda: SearchQuery(minimum_should_match="150%"), SearchConfigurationError),
        (lambda: SearchQuery(minimum_should_match=1.5), SearchTypeError),
        (lambda: SearchQuery("a b", match="all", minimum_should_match=1), SearchConfigurationError),
        (lambda: SearchQuery(syntax="lucene"), SearchConfigurationError),
        (lambda: SearchQuery(sort=(Sort("price"), Sort("price", descending=True))), SearchConfigurationError),
        (lambda: Sort("price", descending="yes"), SearchTypeError),
        (lambda: Schema(searchable={"title": 10**400}), SearchConfigurationError),
        (lambda: Schema(searchable={"title": 1.0}, facetable=[["unhashable"]]), SearchTypeError),
        (lambda: Analyzer(stop_words=[["unhashable"]]), SearchTypeError),
        (lambda: Analyzer(stemmer="\ufeff"), SearchConfigurationError),  # PyStemmer raised UnicodeEncodeError
        (lambda: MemorySearch(SCHEMA, k1=10**400), SearchConfigurationError),
        (lambda: MemorySearch(SCHEMA, b=10**400), SearchConfigurationError),
        (lambda: CircuitBreaker(reset_timeout=10**400), SearchConfigurationError),
        (lambda: CircuitBreaker(clock=5), SearchTypeError),  # type: ignore[arg-type]
        (
            lambda: FallbackSearch(MemorySearch(SCHEMA), MemorySearch(SCHEMA), timeout=10**400),
            SearchConfigurationError,
        ),
        (lambda: PostgresSearch.connect(DEAD_DSN, SCHEMA, max_size=10**400), SearchConfigurationError),
        (
            lambda: PostgresSearch.connect(DEAD_DSN, SCHEMA, command_timeout=float("inf")),
            SearchConfigurationError,
        ),
        (lambda: PostgresSearch.connect(DEAD_DSN, SCHEMA, min_size=5, max_size=2), SearchConfigurationError),
        (lambda: Schema.from_dict({}), SearchConfigurationError),
        (lambda: ParsedQuery(terms=5), SearchTypeError),  # type: ignore[arg-type]
        (lambda: ParsedQuery(phrases=("a\x00",)), SearchConfigurationError),
        (lambda: Analyzer.from_dict({"stemmer": None}), SearchConfigurationError),
    ],
)
def test_numbers_and_options_out_of_range_are_typed_errors(
    build: Callable[[], object], error: type[Exception]
) -> None:
    """Huge, non-finite and out-of-range numbers are typed errors, never OverflowError or TypeError."""
    with pytest.raises(error):
        _made(build)


def _made(build: Callable[[], object]) -> object:
    """What ``build`` makes, awaited when it is a coroutine (``PostgresSearch.connect``)."""
    made = build()
    return asyncio.run(made) if inspect.iscoroutine(made) else made


def test_a_filter_tree_too_big_or_too_deep_is_refused() -> None:
    deep: Any = Exists("price")
    for _ in range(40):
        deep = Not(deep)
    with pytest.raises(SearchConfigurationError, match="deep"):
        SearchQuery(filter=deep)
    wide = And(*(Term("category", str(n)) for n in range(1_000)), And(*(Exists("tags") for _ in range(100))))
    with pytest.raises(SearchConfigurationError, match="1024"):
        SearchQuery(filter=wide)
    with pytest.raises(SearchConfigurationError):
        SCHEMA.check_filter(deep)
    very_deep: Any = Exists("price")
    for _ in range(100_000):
        very_deep = Not(very_deep)
    with pytest.raises(SearchConfigurationError):  # walked without recursion: no RecursionError
        SearchQuery(filter=very_deep)


# -- documents and ids: the same typed error on both providers, before the server -----------------

BAD_DOCUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("nul in text", {"id": "a", "title": "nul \x00 byte"}),
    ("surrogate in text", {"id": "a", "body": "lone \ud800"}),
    ("nul in a keyword", {"id": "a", "category": "x\x00"}),
    ("surrogate in a tag", {"id": "a", "tags": ["ok", "\udfff"]}),
    ("nul in an extra field", {"id": "a", "extra": {"deep": ["x", "\x00"]}}),
    ("nul in a key", {"id": "a", "extra": {"k\x00": 1}}),
    ("nul in a flat str field", {"id": "a", "note": "x\x00"}),
    ("nul in a flat key", {"id": "a", "k\x00": "v"}),
    ("surrogate in a flat str field", {"id": "a", "note": "\udfff"}),
    ("surrogate in a key", {"id": "a", "\ud800": 1}),
    ("an int key", {"id": "a", "extra": {1: "x"}}),
    ("nul in the id", {"id": "a\x00b", "title": "x"}),
    ("surrogate in the id", {"id": "\ud800", "title": "x"}),
    ("a long id", {"id": "x" * 513, "title": "x"}),
    ("an unsafe int price", {"id": "a", "price": 2**53}),
    ("a huge int price", {"id": "a", "price": 10**400}),
    ("an infinite price", {"id": "a", "price": float("inf")}),
    ("nan elsewhere", {"id": "a", "extra": [float("nan")]}),
    ("a set", {"id": "a", "extra": {1, 2}}),
    ("an object", {"id": "a", "extra": object()}),
    ("bytes", {"id": "a", "extra": b"raw"}),
    ("too deep", {"id": "a", "extra": json.loads("[" * 70 + "]" * 70)}),
    ("an int of 5000 digits", {"id": "a", "extra": 10**5000}),
]


@pytest.mark.parametrize(("name", "document"), BAD_DOCUMENTS, ids=[name for name, _ in BAD_DOCUMENTS])
async def test_a_bad_document_is_the_same_typed_error_on_both_providers(
    provider: Provider, name: str, document: dict[str, Any]
) -> None:
    with pytest.raises(InvalidDocumentError):
        await provider.index([{"id": "fine", "title": "kept out too"}, document])
    assert await provider.count() == 0


async def test_a_document_that_is_not_a_mapping_is_an_invalid_document(provider: Provider) -> None:
    with pytest.raises(InvalidDocumentError):
        await provider.index(["not a document"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("ids", "error"),
    [
        (["a\x00b"], SearchConfigurationError),
        (["\ud800"], SearchConfigurationError),
        (["x" * 513], SearchConfigurationError),
        ([""], SearchConfigurationError),
        ([5], SearchTypeError),
        ("abc", SearchTypeError),
        (None, SearchTypeError),
    ],
)
async def test_bad_delete_ids_are_the_same_typed_error_on_both_providers(
    provider: Provider, ids: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await provider.delete(ids)


async def test_bad_input_is_refused_before_an_unreachable_server(dead: PostgresSearch) -> None:
    """Checks happen before the backend: a dead server is never asked, so the error is the input's."""
    for document in (document for _, document in BAD_DOCUMENTS):
        with pytest.raises(InvalidDocumentError):
            await dead.index([document])
    with pytest.raises(SearchConfigurationError):
        await dead.delete(["a\x00b"])
    with pytest.raises(UnknownFieldError):
        await dead.search(SearchQuery(filter=Term("colour", "red")))
    with pytest.raises(SearchConfigurationError):
        await dead.search(SearchQuery("alpha", limit=2, cursor="bm90IGEgY3Vyc29y"))
    with pytest.raises(SearchUnavailableError):  # and a good request does reach it
        await dead.search(SearchQuery("alpha"))


async def test_the_largest_offset_is_served_by_both_providers(provider: Provider) -> None:
    await provider.index([{"id": "a", "title": "alpha"}])
    result = await provider.search(SearchQuery("alpha", offset=2**31 - 1))
    assert result.total == 1
    assert result.hits == ()


def forged(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def test_forged_cursors_are_the_same_typed_error_on_both_providers(provider: Provider) -> None:
    await provider.index([{"id": str(n), "title": "alpha", "price": n, "category": "x"} for n in range(5)])
    sorted_query = SearchQuery("alpha", sort=(Sort("price"), Sort("category")), limit=2)
    page = await provider.search(sorted_query)
    assert page.next_cursor is not None
    fingerprint, key = json.loads(base64.urlsafe_b64decode(page.next_cursor + "=="))
    bad_keys = [
        [1e999, "x", 0.0, "1"],  # an infinite price (JSON's 1e999)
        [10**400, "x", 0.0, "1"],
        [2**60, "x", 0.0, "1"],
        ["cheap", "x", 0.0, "1"],
        [1, 5, 0.0, "1"],
        [1, "x\x00", 0.0, "1"],
        [1, "\ud800", 0.0, "1"],
        [1, "x", "score", "1"],
        [1, "x", 0.0, "1\x00"],
        [1, "x", 0.0, "y" * 600],
        [1, "x", 0.0],
        [1, "x", True, "1"],
    ]
    assert len(key) == 4
    for bad in bad_keys:
        with pytest.raises(SearchConfigurationError, match="cursor"):
            await provider.search(
                SearchQuery("alpha", sort=sorted_query.sort, limit=2, cursor=forged([fingerprint, bad]))
            )
    for junk in [
        "!!!",
        "e30",
        forged("x"),
        forged([fingerprint]),
        forged([fingerprint, {}]),
        "W" * 5000,
        "[" * 3000,
    ]:
        with pytest.raises(SearchConfigurationError, match="cursor"):
            await provider.search(SearchQuery("alpha", sort=sorted_query.sort, limit=2, cursor=junk))
    nested = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    with pytest.raises(SearchConfigurationError, match="cursor"):
        await provider.search(SearchQuery("alpha", sort=sorted_query.sort, limit=2, cursor=nested))


async def test_a_sum_past_the_largest_float_is_infinite_on_both_providers(provider: Provider) -> None:
    await provider.index([{"id": str(n), "title": "big", "price": 1.5e308} for n in range(3)])
    stats = (await provider.search(SearchQuery(stats=("price",)))).stats["price"]
    assert (stats.count, stats.min, stats.max, stats.sum, stats.avg) == (
        3,
        1.5e308,
        1.5e308,
        float("inf"),
        1.5e308,
    )


# -- FallbackSearch: the caller's bad query never trips the breaker -------------------------------


async def test_bad_queries_never_open_the_breaker(
    make_postgres: Callable[..., Awaitable[PostgresSearch]],
) -> None:
    """Property of the breaker: it counts backend failures only, whatever clients send."""
    postgres = await make_postgres()
    await postgres.create_schema()
    await postgres.index([{"id": "a", "title": "alpha", "price": 3}])
    breaker = CircuitBreaker(failure_threshold=3)
    search = FallbackSearch(postgres, MemorySearch(SCHEMA), breaker=breaker)
    try:
        for _ in range(10):
            for build in (
                lambda: SearchQuery("nul \x00"),
                lambda: SearchQuery("lone \ud800"),
                lambda: SearchQuery(filter=Term("category", "\x00")),
                lambda: SearchQuery(offset=2**31),
                lambda: SearchQuery(filter=Range("price", lt=10**400)),
            ):
                with pytest.raises(SearchError):
                    await search.search(build())
            for query in (
                SearchQuery(filter=Term("colour", "red")),
                SearchQuery(stats=("category",)),
                SearchQuery("alpha", limit=1, cursor=forged(["x", [0.0, "a"]])),
            ):
                with pytest.raises(SearchConfigurationError):
                    await search.search(query)
            with pytest.raises(SearchTypeError):
                await search.search("alpha")  # type: ignore[arg-type]
        assert breaker.state is BreakerState.CLOSED
        assert breaker.failures == 0
        result = await search.search(SearchQuery("alpha"))
        assert (result.ids, result.degraded) == (["a"], False)
    finally:
        await postgres.drop_schema()
        await postgres.aclose()


async def test_bad_queries_neither_count_nor_reset_real_failures(dead: PostgresSearch) -> None:
    memory = MemorySearch(SCHEMA)
    await memory.index([{"id": "a", "title": "alpha"}])
    breaker = CircuitBreaker(failure_threshold=3)
    search = FallbackSearch(dead, memory, breaker=breaker)
    for _ in range(2):
        assert (await search.search(SearchQuery("alpha"))).degraded
    assert breaker.failures == 2
    for _ in range(5):
        with pytest.raises(UnknownFieldError):
            await search.search(SearchQuery(filter=Term("colour", "red")))
    assert (breaker.state, breaker.failures) == (BreakerState.CLOSED, 2)
    assert (await search.search(SearchQuery("alpha"))).degraded
    assert breaker.state is BreakerState.OPEN


async def test_an_error_postgresql_raises_on_a_stored_value_is_typed_and_quotes_nothing(
    make_postgres: Callable[..., Awaitable[PostgresSearch]], postgres_schema: PostgresSchema
) -> None:
    """A row written behind the provider's back (a price that is not a number) makes PostgreSQL
    refuse the cast: a typed error naming the SQLSTATE, without the stored value."""
    import asyncpg  # noqa: PLC0415

    search = await make_postgres()
    await search.create_schema()
    connection = await asyncpg.connect(postgres_schema.dsn)
    try:
        await connection.execute(
            f"INSERT INTO {search.table} (id, document, search) "  # noqa: S608 - the test's own table
            """VALUES ('x', '{"id": "x", "price": "secret-value"}', '')"""
        )
    finally:
        await connection.close()
    with pytest.raises(SearchConfigurationError, match="SQLSTATE") as info:
        await search.search(SearchQuery(filter=Range("price", gte=1)))
    assert "secret-value" not in str(info.value)
    await search.aclose()


async def test_a_bad_path_is_a_typed_error(tmp_path: Any) -> None:
    search = MemorySearch(SCHEMA)
    for path in (5, b"bytes", ""):
        with pytest.raises(SearchError):
            await search.save(path)  # type: ignore[arg-type]
        with pytest.raises(SearchError):
            await MemorySearch.load(path)  # type: ignore[arg-type]
    for path in ("nul\x00name", "\ud800name"):
        with pytest.raises(IndexFileError):
            await search.save(tmp_path / path)
        with pytest.raises(IndexFileError):
            await MemorySearch.load(tmp_path / path)
    await search.save(tmp_path / "index.bsi")
    with pytest.raises(SearchTypeError):
        await MemorySearch.load(tmp_path / "index.bsi", marks="<b>")  # type: ignore[arg-type]
