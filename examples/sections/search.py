"""The tour's buttress-search section."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from buttress.search import (
    CircuitBreaker,
    FallbackSearch,
    MemorySearch,
    PostgresSearch,
    Range,
    Schema,
    SearchQuery,
    SearchUnavailableError,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = ("memory: ['p1', 'p2'], brands [('Peak', 1), ('Swift', 1)]",)
REAL: tuple[str, ...] = (
    "postgres: ['p1', 'p2'], the same facets: True",
    "primary down: degraded=True",
)


PRODUCTS = [
    {
        "id": "p1",
        "title": "Trail running shoes",
        "body": "Grippy soles for mud.",
        "brand": "Peak",
        "price": 120,
    },
    {"id": "p2", "title": "Road running shoes", "body": "Light on tarmac.", "brand": "Swift", "price": 95},
    {"id": "p3", "title": "Kids' running shoes", "body": "Velcro straps.", "brand": "Swift", "price": 45},
]
PRODUCT_SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0},
    fields={"brand": "keyword", "price": "number"},
    facetable={"brand", "price"},
    sortable={"price"},
)


async def run(tour: Tour) -> None:
    memory = MemorySearch(PRODUCT_SCHEMA)
    await memory.index(PRODUCTS)
    query = SearchQuery(
        '"running shoes" -kids', filter=Range("price", lte=150), facets=("brand",), highlight=True
    )
    result = await memory.search(query)
    tour.say(f"memory: {result.ids}, brands {[(f.value, f.count) for f in result.facets['brand']]}")
    tour.say(f"highlight: {result.hits[0].highlights['title'][0]}")
    with tempfile.TemporaryDirectory() as directory:
        await memory.save(Path(directory) / "products.bsi")
        reloaded = await MemorySearch.load(Path(directory) / "products.bsi")
    tour.say(f"reloaded from a file: {await reloaded.count()} documents")
    if tour.postgres_dsn is None:
        tour.say("PostgresSearch: set BUTTRESS_POSTGRES_DSN to run it")
        return
    try:
        postgres = await PostgresSearch.connect(
            tour.postgres_dsn, PRODUCT_SCHEMA, table=f"tour_products_{secrets.token_hex(3)}"
        )
    except SearchUnavailableError as exc:
        tour.say(f"postgres unavailable: {exc}")
        return
    try:
        await postgres.create_schema()
        await postgres.index(PRODUCTS)
        same = await postgres.search(query)
        tour.say(f"postgres: {sorted(same.ids)}, the same facets: {same.facets == result.facets}")
        # min_size=0 opens no connection yet: the first query finds the server gone.
        dead = await PostgresSearch.connect(
            "postgresql://nobody@127.0.0.1:1/none", PRODUCT_SCHEMA, min_size=0
        )
        fallback = FallbackSearch(dead, postgres, timeout=2, breaker=CircuitBreaker(failure_threshold=1))
        answer = await fallback.search(query)
        tour.say(f"primary down: degraded={answer.degraded}, {sorted(answer.ids)} from PostgreSQL")
        await dead.aclose()
        await postgres.drop_schema()
    except SearchUnavailableError as exc:
        tour.say(f"postgres unavailable: {exc}")
    finally:
        await postgres.aclose()
