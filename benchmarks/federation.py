"""buttress-federation against strawberry's federation and graphql-core, side by side in one run.

Run with ``nox -s bench -- federation`` (or ``python benchmarks/federation.py [--quick]``); about a
minute on two cores. Three workloads:

1. ``_entities`` with 1,000 ``User`` representations backed by a real PostgreSQL table: buttress
   (one `BatchEntityResolver` call, one ``WHERE id = ANY($1)`` query) against strawberry's
   federation on the same schema (``resolve_reference`` once per representation, one query each).
   Both use the same asyncpg pool; statements are counted with asyncpg's query logger.
2. Validation of a 600-type subgraph (`check_subgraph`) against graphql-core's ``build_schema`` of the
   same SDL (given the federation definitions it needs to build). Target: at most 2x.
3. Cost analysis of a query that amplifies through 25 levels of nested fragments (each spreading the
   next twice): the computed cost, and the time to reject it. Target: under 10 ms.

The PostgreSQL table lives in a schema with a random name, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib.metadata
import os
import platform
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import strawberry
import strawberry.federation
from _harness import Dist, print_table, ratio
from graphql import build_schema, graphql
from strawberry.types import Info

from buttress.federation import (
    CostLimitExceededError,
    CostLimits,
    Representation,
    analyze_cost,
    build_federated_schema,
    check_subgraph,
    enforce_cost_limits,
)
from buttress.federation._spec import definitions_sdl  # the same definitions, so build_schema can build it
from buttress.federation._validate import build_subgraph

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ROWS = 1000
SELECT_MANY = "SELECT id::text AS id, name FROM users WHERE id = ANY($1::int[])"
SELECT_ONE = "SELECT id::text AS id, name FROM users WHERE id = $1"
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }"
SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { me: User }
type User @key(fields: "id") { id: ID! name: String! }
"""


def check(got: object, expected: object) -> None:
    if got != expected:
        raise RuntimeError(f"benchmark setup is wrong: got {got!r:.300}, expected {expected!r:.300}")


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    await call()  # warm-up
    samples = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def timed_sync(call: Callable[[], object], runs: int) -> list[float]:
    call()
    samples = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


# --- 1. _entities against PostgreSQL -----------------------------------------------------------------


@strawberry.federation.type(keys=["id"])
class User:
    """strawberry's entity: ``resolve_reference`` runs once per representation."""

    id: strawberry.ID
    name: str

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> User:
        row = await info.context["pool"].fetchrow(SELECT_ONE, int(id))
        return cls(id=strawberry.ID(row["id"]), name=row["name"])


@strawberry.type
class Query:
    @strawberry.field
    def me(self) -> User | None:
        return None


def strawberry_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(query=Query)


async def bench_entities(dsn: str, runs: int) -> None:
    schema_name = f"bench_federation_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{schema_name}"')
    statements: list[str] = []

    async def init(conn: asyncpg.Connection) -> None:
        # Only the statements that read the table: the pool's own reset on release is not the resolver's.
        conn.add_query_logger(
            lambda record: statements.append(record.query) if "users" in record.query else None
        )

    try:
        await admin.execute(f'CREATE TABLE "{schema_name}".users (id int PRIMARY KEY, name text NOT NULL)')
        # schema_name is our own random token, never input.
        await admin.execute(
            f"""INSERT INTO "{schema_name}".users SELECT g, 'user ' || g """  # noqa: S608
            "FROM generate_series(1, $1::int) g",
            ROWS,
        )
        pool = await asyncpg.create_pool(
            dsn, min_size=10, max_size=10, init=init, server_settings={"search_path": schema_name}
        )
        try:
            for conn_query in (SELECT_MANY, SELECT_ONE):  # warm every connection's type cache
                await asyncio.gather(
                    *(pool.fetch(conn_query, [1] if "ANY" in conn_query else 1) for _ in range(20))
                )

            async def users(representations: Sequence[Representation], info: Any) -> list[Any]:
                ids = [int(r["id"]) for r in representations]
                rows = await pool.fetch(SELECT_MANY, ids)
                by_id = {int(r["id"]): r for r in rows}
                return [by_id.get(i) for i in ids]

            ours = build_federated_schema(SDL, {"User": users})
            theirs = strawberry_schema()
            reps = [{"__typename": "User", "id": str(i)} for i in range(1, ROWS + 1)]

            # Fresh representation dicts per run: strawberry pops "__typename" out of the ones it gets.
            async def run_ours() -> object:
                result = await graphql(ours, ENTITIES, variable_values={"r": [dict(r) for r in reps]})
                check(result.errors, None)
                check(len(result.data["_entities"]), ROWS)  # type: ignore[index]
                return result

            async def run_theirs() -> object:
                result = await theirs.execute(
                    ENTITIES, variable_values={"r": [dict(r) for r in reps]}, context_value={"pool": pool}
                )
                check(result.errors, None)
                check(len(result.data["_entities"]), ROWS)  # type: ignore[index]
                return result

            counts = {}
            for name, call in (("buttress", run_ours), ("strawberry", run_theirs)):
                statements.clear()
                await call()
                counts[name] = len(statements)
            ours_ms = Dist.of(await timed(run_ours, runs))
            theirs_ms = Dist.of(await timed(run_theirs, runs))
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
        await admin.close()
    print_table(
        f"_entities, {ROWS:,} representations of one type, PostgreSQL (ms, median (p10-p90), {runs} runs)",
        ["measure", "buttress-federation", "strawberry federation", "buttress / strawberry"],
        [
            ["wall time (ms)", ours_ms.cell(2), theirs_ms.cell(2), ratio(ours_ms.p50, theirs_ms.p50)],
            [
                "SQL statements",
                str(counts["buttress"]),
                str(counts["strawberry"]),
                ratio(counts["buttress"], counts["strawberry"]),
            ],
            ["resolver calls", "1", f"{ROWS:,}", ratio(1, ROWS)],
        ],
        [
            "",
            "Same asyncpg pool (10 connections) and table; strawberry's resolve_reference runs "
            "once per representation. "
            "SQL statements: those reading the table (the pool's reset on release is not counted).",
        ],
    )


# --- 2. validation of a large subgraph ---------------------------------------------------------------


def large_sdl(types: int) -> str:
    parts = [
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key", "@requires", "@provides", "@external", "@shareable"])',
        "type Query { " + " ".join(f"t{i}: T{i}" for i in range(types)) + " }",
    ]
    for i in range(types):
        nxt = (i + 1) % types
        parts.append(
            f'type T{i} @key(fields: "id") @key(fields: "sku ref {{ id }}") '
            f"{{ id: ID! sku: String! ref: R{i}! "
            f'weight: Int @external shipping: Int @requires(fields: "weight") '
            f'next: T{nxt} @provides(fields: "name") name: String @external label: String @shareable }}'
        )
        parts.append(f"type R{i} {{ id: ID! note: String }}")
    return "\n".join(parts)


def bench_validation(runs: int) -> None:
    sdl = large_sdl(300)  # 300 entity types + 300 key types + Query = 601 types
    built = build_subgraph(sdl)
    check(built.errors, ())
    type_count = sum(1 for name in built.schema.type_map if not name.startswith("__"))  # type: ignore[union-attr]
    with_definitions = sdl + "\n" + definitions_sdl(built.spec, set())
    build_schema(with_definitions)
    ours = Dist.of(timed_sync(lambda: check_subgraph(sdl), runs))
    theirs = Dist.of(timed_sync(lambda: build_schema(with_definitions), runs))
    print_table(
        f"Validation of a {type_count}-type subgraph (ms, median (p10-p90), {runs} runs)",
        ["operation", "buttress check_subgraph", "graphql-core build_schema", "ratio (target <= 2x)"],
        [["parse + build + validate", ours.cell(1), theirs.cell(1), ratio(ours.p50, theirs.p50)]],
        [
            "",
            "check_subgraph parses, injects the federation definitions, builds with "
            "graphql-core, runs graphql-core's "
            "schema validation and every federation rule; build_schema gets the same SDL with "
            "the definitions appended.",
        ],
    )


# --- 3. cost analysis of an amplifying query ---------------------------------------------------------


def bench_cost(runs: int) -> None:
    schema = build_schema(
        """
        directive @listSize(assumedSize: Int) on FIELD_DEFINITION
        type Query { me: User }
        type User { id: ID! name: String friends: [User!]! @listSize(assumedSize: 2) }
        """
    )
    levels = 25
    fragments = "".join(
        f"fragment F{i} on User {{ a: friends {{ ...F{i + 1} }} b: friends {{ ...F{i + 1} }} }}\n"
        for i in range(levels)
    )
    query = "{ me { ...F0 } }\n" + fragments + f"fragment F{levels} on User {{ id name }}"
    report = analyze_cost(schema, query)
    expected = 0
    for _ in range(levels):
        expected = 2 * (1 + 2 * expected)
    check(report.cost, 1 + expected)
    limits = CostLimits(max_cost=1000, max_depth=None, max_aliases=None)

    def reject() -> None:
        try:
            enforce_cost_limits(schema, query, limits)
        except CostLimitExceededError:
            return
        raise RuntimeError("the amplifying query was not rejected")

    took = Dist.of(timed_sync(reject, runs))
    print_table(
        f"Cost analysis of a {levels}-level nested-fragment amplification ({len(query):,} bytes of query)",
        ["measure", "buttress", "target"],
        [
            ["computed cost", f"{report.cost:,}", f"exact ({1 + expected:,})"],
            ["aliases counted", f"{report.aliases:,}", f"{2 ** (levels + 1) - 2:,} (every spread)"],
            ["reject time (ms, median (p10-p90))", took.cell(3), "< 10 ms"],
        ],
        [
            "",
            "Parse + analysis + rejection; fragments are measured once each and reused, so time "
            "is linear in the text.",
        ],
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--dsn", default=os.environ.get("BUTTRESS_POSTGRES_DSN", DEFAULT_DSN))
    args = parser.parse_args()
    runs = 5 if args.quick else 15
    print(
        f"# buttress-federation benchmark — {datetime.date.today()} — {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, graphql-core {importlib.metadata.version('graphql-core')}, "
        f"strawberry-graphql {importlib.metadata.version('strawberry-graphql')}"
    )
    await bench_entities(args.dsn, runs)
    bench_validation(runs * 2)
    bench_cost(runs * 4)


if __name__ == "__main__":
    asyncio.run(main())
