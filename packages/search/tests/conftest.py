"""Fixtures shared by the search tests: the contract's schema and providers on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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


@pytest.fixture
def make_postgres(postgres_schema: PostgresSchema) -> Callable[..., PostgresSearch]:
    """Build a `PostgresSearch` (its own pool) on a fresh table in the module's schema."""

    def make(schema: Schema = SCHEMA, **options: Any) -> PostgresSearch:
        options.setdefault("max_size", 4)
        table = f"{postgres_schema.name}.docs_{next(_tables)}"
        return PostgresSearch.from_dsn(postgres_schema.dsn, schema, table=table, **options)

    return make


@pytest.fixture
def memory() -> MemorySearch:
    """An empty `MemorySearch` on the contract's schema."""
    return MemorySearch(SCHEMA)


@pytest.fixture
async def postgres(make_postgres: Callable[..., PostgresSearch]) -> AsyncIterator[PostgresSearch]:
    """An empty `PostgresSearch` on a fresh table in the module's schema."""
    search = make_postgres()
    await search.create_schema()
    try:
        yield search
    finally:
        await search.aclose()
