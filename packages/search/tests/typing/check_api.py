"""assert_type checks of buttress.search's public API (run by mypy only)."""

from __future__ import annotations

from typing import Any, assert_type, cast

import asyncpg

from buttress.search import (
    Analyzer,
    BreakerState,
    BulkReport,
    CircuitBreaker,
    DatabaseFallback,
    FacetCount,
    FallbackSearch,
    Indexer,
    MemorySearch,
    NumericStats,
    ParsedQuery,
    PostgresSearch,
    Range,
    Schema,
    SearchHit,
    SearchProvider,
    SearchQuery,
    SearchResult,
    Sort,
    Term,
    bulk_index,
    parse_query,
)

schema = Schema(searchable={"title": 2.0}, fields={"price": "number"}, sortable={"price"})
memory = MemorySearch(schema, analyzer=Analyzer(stemmer="english"))
# This file is only type-checked: the pool is never a real one here.
postgres = PostgresSearch(pool=cast("asyncpg.Pool", None), schema=schema, table="products")
query = SearchQuery("red shoes", filter=Range("price", lte=100), sort=(Sort("price"),), facets=("price",))

assert_type(parse_query("a -b"), ParsedQuery)
assert_type(query.parsed.terms, tuple[str, ...])
assert_type(Term("price", 3).value, str | int | float | bool)

provider: SearchProvider[dict[str, Any]] = memory
provider = postgres


class Entity:
    name = "x"


class EntityIndexer:
    def to_document(self, entity: Entity) -> dict[str, Any]:
        return {"id": entity.name, "title": entity.name}


indexer: Indexer[Entity, dict[str, Any]] = EntityIndexer()


async def check() -> None:
    result = await memory.search(query)
    assert_type(result, SearchResult[dict[str, Any]])
    assert_type(result.hits[0], SearchHit[dict[str, Any]])
    assert_type(result.hits[0].highlights["title"], tuple[str, ...])
    assert_type(result.facets["price"][0], FacetCount)
    assert_type(result.stats["price"], NumericStats)
    assert_type(result.next_cursor, str | None)
    assert_type(await postgres.search(query), SearchResult[dict[str, Any]])
    assert_type(await memory.count(), int)
    assert_type(await memory.delete(["a"]), int)
    await memory.save("index.bsi")
    assert_type(await MemorySearch.load("index.bsi"), MemorySearch)

    fallback_source: DatabaseFallback[dict[str, Any]] = memory
    search = FallbackSearch(
        postgres, fallback_source, timeout=0.5, breaker=CircuitBreaker(failure_threshold=3)
    )
    assert_type(await search.search(query), SearchResult[dict[str, Any]])
    assert_type(search.breaker.state, BreakerState)
    assert_type(await bulk_index(memory, [Entity()], indexer, batch_size=100), BulkReport)


natural = SearchQuery("how do I brew espresso?", minimum_should_match="75%", syntax="plain")
assert_type(natural.required(4), int)
assert_type(parse_query("-dash", syntax="plain"), ParsedQuery)


async def connected() -> None:
    """`connect` (an owned pool) and the constructor around a borrowed pool."""
    same_tokens = await PostgresSearch.connect(
        "postgresql://localhost/db", schema, analyzer=Analyzer(), table="t", min_size=1, max_size=10
    )
    assert_type(same_tokens, PostgresSearch)
    assert_type(same_tokens.analyzer, Analyzer)
    pool: asyncpg.Pool = await asyncpg.create_pool("postgresql://localhost/db")
    async with PostgresSearch(pool=pool, schema=schema, table="t") as borrowed:
        assert_type(borrowed, PostgresSearch)
        assert_type(await borrowed.drop_schema(), None)
    assert_type(borrowed.closed, bool)
