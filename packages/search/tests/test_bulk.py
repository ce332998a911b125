"""bulk_index: batches, progress, and per-document errors reported instead of swallowed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from buttress.search import (
    BulkProgress,
    Indexer,
    InvalidDocumentError,
    MemorySearch,
    PostgresSearch,
    Schema,
    SearchConfigurationError,
    SearchQuery,
    SearchTypeError,
    SearchUnavailableError,
    bulk_index,
)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Any


class ProductIndexer:
    def to_document(self, entity: Product) -> dict[str, Any]:
        if entity.name == "explode":
            raise RuntimeError("cannot describe this product")
        return {"id": entity.sku, "title": entity.name, "price": entity.price}


def products(count: int) -> list[Product]:
    items = [Product(f"p{n}", f"product {n}", n) for n in range(count)]
    items[7] = Product("p7", "explode", 7)
    items[12] = Product("p12", "bad price", "twelve")
    return items


@pytest.mark.parametrize("batch_size", [1, 5, 500])
async def test_errors_are_reported_per_document(search_schema: Schema, batch_size: int) -> None:
    search = MemorySearch(search_schema)
    seen: list[BulkProgress] = []
    indexer: Indexer[Product, dict[str, Any]] = ProductIndexer()
    report = await bulk_index(search, products(30), indexer, batch_size=batch_size, on_progress=seen.append)
    assert report.indexed == 28
    assert not report.ok
    assert [(f.position, f.document_id) for f in report.failures] == [(7, None), (12, "p12")]
    assert isinstance(report.failures[0].error, RuntimeError)
    assert isinstance(report.failures[1].error, InvalidDocumentError)
    assert await search.count() == 28
    assert seen[-1].processed == 30
    assert seen[-1].indexed == 28
    assert seen[-1].failed == 2
    assert [p.processed for p in seen] == sorted(p.processed for p in seen)


async def test_async_entities_and_async_progress(search_schema: Schema) -> None:
    async def stream() -> AsyncIterator[Product]:
        for n in range(10):
            yield Product(f"p{n}", "fine", n)

    calls: list[int] = []

    async def progress(update: BulkProgress) -> None:
        calls.append(update.indexed)

    search = MemorySearch(search_schema)
    report = await bulk_index(search, stream(), ProductIndexer(), batch_size=4, on_progress=progress)
    assert report.ok
    assert report.batches == 3
    assert calls == [4, 8, 10]


async def test_bulk_into_postgres(postgres: PostgresSearch) -> None:
    report = await bulk_index(postgres, products(40), ProductIndexer(), batch_size=16)
    assert report.indexed == 38
    assert {f.position for f in report.failures} == {7, 12}
    assert await postgres.count(SearchQuery("product")) == 38


async def test_a_dead_backend_propagates_with_a_note(search_schema: Schema) -> None:
    # min_size=0: the pool opens no connection until the first call, which finds the server gone.
    search = await PostgresSearch.connect(
        "postgresql://postgres:secret@127.0.0.1:1/none", search_schema, min_size=0
    )
    with pytest.raises(SearchUnavailableError) as info:
        await bulk_index(search, products(20)[:3], ProductIndexer())
    assert "secret" not in str(info.value)
    assert any("0 document(s) were indexed" in note for note in info.value.__notes__)
    await search.aclose()


async def test_bad_bulk_arguments(search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    with pytest.raises(SearchConfigurationError):
        await bulk_index(search, [], ProductIndexer(), batch_size=0)
    with pytest.raises(SearchTypeError):
        await bulk_index(search, [], ProductIndexer(), batch_size="5")  # type: ignore[arg-type]
    with pytest.raises(SearchTypeError):
        await bulk_index(search, [], object())  # type: ignore[arg-type]
    with pytest.raises(SearchTypeError):
        await bulk_index(search, 5, ProductIndexer())  # type: ignore[arg-type]
