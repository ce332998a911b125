"""Fixtures shared by the search tests: the contract's schema and providers on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import count
from typing import Any

import pytest

from buttress.search import MemorySearch, PostgresSearch, Schema
from buttress.testing import PostgresSchema

SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0},
    fields={"category": "keyword", "tags": "keyword", "price": "number", "in_stock": "boolean"},
    facetable={"category", "tags", "price", "in_stock"},
    sortable={"price", "category"},
)
"""The schema `buttress.testing.SearchProviderContract` documents."""

_tables = count()


@pytest.fixture
def search_schema() -> Schema:
    """The schema `buttress.testing.SearchProviderContract` documents."""
    return SCHEMA


DEAD_DSN = "postgresql://nobody@127.0.0.1:1/none"
"""A server that cannot be reached."""


@pytest.fixture
def make_postgres(postgres_schema: PostgresSchema) -> Callable[..., Awaitable[PostgresSearch]]:
    """Connect a `PostgresSearch` (its own pool) on a fresh table in the module's schema."""

    async def make(schema: Schema = SCHEMA, **options: Any) -> PostgresSearch:
        options.setdefault("max_size", 4)
        table = f"{postgres_schema.name}.docs_{next(_tables)}"
        return await PostgresSearch.connect(postgres_schema.dsn, schema, table=table, **options)

    return make


@pytest.fixture
def memory() -> MemorySearch:
    """An empty `MemorySearch` on the contract's schema."""
    return MemorySearch(SCHEMA)


@pytest.fixture
async def postgres(
    make_postgres: Callable[..., Awaitable[PostgresSearch]],
) -> AsyncIterator[PostgresSearch]:
    """An empty `PostgresSearch` on a fresh table in the module's schema."""
    search = await make_postgres()
    await search.create_schema()
    try:
        yield search
    finally:
        await search.drop_schema()
        await search.aclose()


@pytest.fixture(params=["memory", "postgres"])
async def provider(
    request: pytest.FixtureRequest, make_postgres: Callable[..., Awaitable[PostgresSearch]]
) -> AsyncIterator[MemorySearch | PostgresSearch]:
    """Each provider in turn, empty, on the contract's schema."""
    if request.param == "memory":
        yield MemorySearch(SCHEMA)
        return
    search = await make_postgres()
    await search.create_schema()
    try:
        yield search
    finally:
        await search.aclose()


@pytest.fixture
async def dead() -> AsyncIterator[PostgresSearch]:
    """A `PostgresSearch` whose server cannot be reached: any call that gets that far is unavailable.

    ``min_size=0`` opens no connection when connecting, so the pool exists and every call fails.
    """
    async with await PostgresSearch.connect(DEAD_DSN, SCHEMA, min_size=0) as search:
        yield search
