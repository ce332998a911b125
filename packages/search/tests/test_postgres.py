"""PostgresSearch: schema creation and migration, parameterised SQL, ranking classes, highlights."""

# ruff: noqa: S608 - the tests build SQL from the module's own schema name

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from buttress.search import (
    Analyzer,
    InvalidDocumentError,
    MemorySearch,
    Or,
    PostgresSearch,
    Schema,
    SearchConfigurationError,
    SearchQuery,
    SearchTypeError,
    SearchUnavailableError,
    Term,
    Terms,
)
from buttress.testing import PostgresSchema

HOSTILE = ["'; DROP TABLE x; --", 'quote " and \\ backslash', "$1", "%s", "ünï’code"]  # noqa: RUF001 - a typographic quote on purpose


async def test_create_schema_is_idempotent_and_concurrent(
    make_postgres: Callable[..., Awaitable[PostgresSearch]],
) -> None:
    import asyncio  # noqa: PLC0415

    search = await make_postgres()
    try:
        await asyncio.gather(*(search.create_schema() for _ in range(4)))
        await search.create_schema()
        await search.index([{"id": "a", "title": "alpha"}])
        await search.create_schema()
        assert await search.count() == 1
    finally:
        await search.drop_schema()
        await search.aclose()


async def test_create_schema_migrates_the_vectors(
    make_postgres: Callable[..., Awaitable[PostgresSearch]], postgres_schema: PostgresSchema
) -> None:
    first = await make_postgres(Schema(searchable={"title": 1.0}))
    await first.create_schema()
    await first.index([{"id": "a", "title": "alpha", "body": "bravo"}])
    assert await first.count(SearchQuery("bravo")) == 0
    second = await PostgresSearch.connect(
        postgres_schema.dsn, Schema(searchable={"title": 2.0, "body": 1.0}), table=first.table
    )
    await second.create_schema()
    assert (await second.search(SearchQuery("bravo"))).ids == ["a"]
    await first.aclose()
    await second.aclose()


async def test_values_never_reach_the_sql_text(postgres: PostgresSearch) -> None:
    documents = [
        {"id": value, "title": f"alpha {value}", "category": value, "tags": [value, "x"]} for value in HOSTILE
    ]
    await postgres.index(documents)
    for value in HOSTILE:
        result = await postgres.search(SearchQuery(filter=Term("category", value)))
        assert result.ids == [value]
        assert (await postgres.search(SearchQuery(filter=Terms("tags", (value,))))).ids == [value]
    result = await postgres.search(SearchQuery("alpha", filter=Or(*(Term("category", v) for v in HOSTILE))))
    assert result.total == len(HOSTILE)
    assert await postgres.delete(HOSTILE) == len(HOSTILE)
    assert await postgres.count() == 0


async def test_query_text_is_a_parameter_too(postgres: PostgresSearch) -> None:
    await postgres.index([{"id": "a", "title": "alpha or bravo"}, {"id": "b", "title": "bravo"}])
    assert (await postgres.search(SearchQuery("alpha or"))).ids == ["a"]  # "or" is a word here
    for text in ["'", "&|!", "alpha:*", "(bravo", "<->", "\\"]:
        await postgres.search(SearchQuery(text))


async def test_weight_classes_rank_the_title_first(postgres: PostgresSearch) -> None:
    await postgres.index(
        [
            {"id": "body", "title": "other", "body": "kilo"},
            {"id": "title", "title": "kilo", "body": "other"},
        ]
    )
    result = await postgres.search(SearchQuery("kilo"))
    assert result.ids == ["title", "body"]
    assert result.hits[0].score > result.hits[1].score > 0


async def test_highlights_are_memory_search_s(
    make_postgres: Callable[..., Awaitable[PostgresSearch]],
) -> None:
    """Highlights are made from the page's documents with the same Analyzer: the same fragments."""
    search = await make_postgres(marks=("[[", "]]"), fragment_size=30)
    await search.create_schema()
    memory = MemorySearch(search.schema, marks=("[[", "]]"), fragment_size=30)
    documents = [
        {
            "id": "a",
            "title": "Red running shoes",
            "body": "Shoes, for running, on roads. ＳＨＯＥＳ <b>ﬁne</b>",  # noqa: RUF001 - full-width
        },
        {"id": "b", "title": "Straße", "body": f"{'x ' * 40}strasse {'y ' * 40} STRASSE"},
    ]
    await search.index(documents)
    await memory.index(documents)
    for text in ["shoes", '"running shoes" fine', "strasse"]:
        query = SearchQuery(text, highlight=True)
        ours = {hit.id: hit.highlights for hit in memory.search_now(query).hits}
        theirs = {hit.id: hit.highlights for hit in (await search.search(query)).hits}
        assert ours == theirs, text
    hit = (await search.search(SearchQuery("shoes", highlight=True))).hits[0]
    assert hit.highlights["title"] == ("Red running [[shoes]]",)
    wide = "[[ＳＨＯＥＳ]]"  # noqa: RUF001 - full-width on purpose
    assert any(wide in fragment for fragment in hit.highlights["body"])
    await search.aclose()


async def test_a_table_of_the_older_layout_is_re_analysed(
    make_postgres: Callable[..., Awaitable[PostgresSearch]], postgres_schema: PostgresSchema
) -> None:
    """A table written by 0.1.0's layout (tsvectors from to_tsvector, no token text) is migrated by
    create_schema(): every row is re-analysed with the provider's Analyzer, phrases work."""
    search = await make_postgres(Schema(searchable={"title": 1.0}))
    meta = f"{search.table}_meta"
    connection = await asyncpg.connect(postgres_schema.dsn)
    try:
        await connection.execute(
            f'CREATE TABLE {search.table} (id text COLLATE "C" PRIMARY KEY, document jsonb NOT NULL, '
            f"search tsvector NOT NULL); CREATE TABLE {meta} (key text PRIMARY KEY, value text NOT NULL)"
        )
        await connection.execute(
            f"INSERT INTO {meta} VALUES ('settings', $1)",
            json.dumps({"config": "simple", "classes": {"title": "A"}}),
        )
        await connection.executemany(
            f"INSERT INTO {search.table} VALUES ($1, $2::jsonb, to_tsvector('simple', $3))",
            [
                (f"r{n}", json.dumps({"id": f"r{n}", "title": f"Straße u.s.a. row {n}"}), "x")
                for n in range(1200)
            ],
        )
    finally:
        await connection.close()
    with pytest.raises(SearchConfigurationError, match="create_schema"):
        await search.search(SearchQuery('"u s a"'))  # no token text yet: the old layout
    await search.create_schema()
    assert (await search.search(SearchQuery('"strasse u s a row 7"'))).ids == ["r7"]
    assert await search.count(SearchQuery("usa")) == 0
    assert await search.count(SearchQuery('"u s a"')) == 1200
    await search.create_schema()  # nothing left to do
    await search.drop_schema()
    await search.aclose()


async def test_a_stemming_analyzer_stems_both_providers_alike(
    make_postgres: Callable[..., Awaitable[PostgresSearch]],
) -> None:
    schema = Schema(searchable={"title": 1.0})
    analyzer = Analyzer(stemmer="english", stop_words=frozenset({"the", "and"}))
    search = await make_postgres(schema, analyzer=analyzer)
    await search.create_schema()
    memory = MemorySearch(schema, analyzer=analyzer)
    documents = [
        {"id": "a", "title": "The runners were running"},
        {"id": "b", "title": "Quiet walks and talks"},
    ]
    await search.index(documents)
    await memory.index(documents)
    for text in ["run", "walking", "talk -quiet"]:
        assert set((await search.search(SearchQuery(text))).ids) == set(
            (await memory.search(SearchQuery(text))).ids
        )
    await search.aclose()


async def test_bad_documents_are_refused_before_the_server(postgres: PostgresSearch) -> None:
    for document in [
        {"id": "a", "title": "nul \x00 byte"},
        {"id": "b", "extra": object()},
        {"title": "no id"},
    ]:
        with pytest.raises(InvalidDocumentError):
            await postgres.index([{"id": "ok", "title": "fine"}, document])
    assert await postgres.count() == 0


async def test_a_missing_table_says_to_create_it(
    make_postgres: Callable[..., Awaitable[PostgresSearch]],
) -> None:
    search = await make_postgres()
    with pytest.raises(SearchConfigurationError, match="create_schema"):
        await search.search(SearchQuery("alpha"))
    await search.aclose()


async def test_an_unreachable_server_is_a_typed_error_without_the_password(search_schema: Schema) -> None:
    dsn = "postgresql://postgres:secret@127.0.0.1:1/none"
    with pytest.raises(SearchUnavailableError) as refused:
        await PostgresSearch.connect(dsn, search_schema)
    assert "secret" not in str(refused.value)
    assert isinstance(refused.value, ConnectionError)
    async with await PostgresSearch.connect(dsn, search_schema, min_size=0) as search:
        with pytest.raises(SearchUnavailableError) as info:
            await search.search(SearchQuery("alpha"))
    assert "secret" not in str(info.value)


async def test_a_dsn_the_server_refuses_is_a_configuration_error(
    postgres_schema: PostgresSchema, search_schema: Schema
) -> None:
    """Bad input is never reported as an outage: an unknown database is the caller's error."""
    dsn = postgres_schema.dsn.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(SearchConfigurationError, match="dsn"):
        await PostgresSearch.connect(dsn, search_schema)


async def test_an_owned_pool_is_closed_by_async_with(
    postgres_schema: PostgresSchema, search_schema: Schema
) -> None:
    async with await PostgresSearch.connect(
        postgres_schema.dsn, search_schema, table=f"{postgres_schema.name}.owned"
    ) as search:
        await search.create_schema()
        await search.drop_schema()
        pool = search.pool
    assert pool.is_closing()
    await search.aclose()  # idempotent
    assert search.closed


async def test_a_given_pool_is_used_and_not_closed(
    postgres_schema: PostgresSchema, search_schema: Schema
) -> None:
    pool = await asyncpg.create_pool(postgres_schema.dsn, min_size=1, max_size=2)
    try:
        search = PostgresSearch(pool=pool, schema=search_schema, table=f"{postgres_schema.name}.given_pool")
        await search.create_schema()
        await search.index([{"id": "a", "title": "alpha"}])
        await search.aclose()
        assert await pool.fetchval(f"SELECT count(*) FROM {postgres_schema.name}.given_pool") == 1
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"table": "bad name"}, SearchConfigurationError),
        ({"table": "a.b.c"}, SearchConfigurationError),
        ({"analyzer": "english"}, SearchTypeError),
        ({"table": "nul\x00"}, SearchConfigurationError),
        ({"marks": "<b>"}, SearchTypeError),
        ({"max_fragments": 0}, SearchConfigurationError),
    ],
)
async def test_bad_postgres_arguments(
    search_schema: Schema, options: dict[str, Any], error: type[Exception], postgres_pool: asyncpg.Pool
) -> None:
    with pytest.raises(error):
        PostgresSearch(postgres_pool, search_schema, **options)
    with pytest.raises(error):  # checked before a pool is opened: the server is never asked
        await PostgresSearch.connect("postgresql://nobody@127.0.0.1:1/none", search_schema, **options)


async def test_more_than_four_weights_do_not_fit_the_classes(postgres_pool: asyncpg.Pool) -> None:
    schema = Schema(searchable={name: float(n + 1) for n, name in enumerate("abcde")})
    with pytest.raises(SearchConfigurationError, match="four"):
        PostgresSearch(postgres_pool, schema)
    with pytest.raises(SearchTypeError):
        PostgresSearch("postgresql://x", schema)  # type: ignore[arg-type]
    with pytest.raises(SearchConfigurationError):
        await PostgresSearch.connect("not a dsn", Schema(searchable={"a": 1.0}))


async def test_a_cut_connection_is_a_typed_error_then_recovers(
    make_postgres: Callable[..., Awaitable[PostgresSearch]], postgres_schema: PostgresSchema
) -> None:
    name = f"search-cut-{postgres_schema.name}"  # its own: the server is shared
    search = await make_postgres(
        server_settings={**postgres_schema.server_settings, "application_name": name}
    )
    await search.create_schema()
    await search.index([{"id": "a", "title": "alpha"}])
    assert (await search.search(SearchQuery("alpha"))).ids == ["a"]
    admin = await asyncpg.connect(postgres_schema.dsn)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name
        )
        assert killed >= 1
    finally:
        await admin.close()
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append((await search.search(SearchQuery("alpha"))).ids)
        except SearchUnavailableError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes[-1] == ["a"]
    assert all(outcome in (["a"], "SearchUnavailableError") for outcome in outcomes)
    await search.aclose()
