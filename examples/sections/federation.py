"""The tour's buttress-federation section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from graphql import GraphQLResolveInfo, graphql

from buttress.federation import (
    CostLimitExceededError,
    CostLimits,
    FederationValidationError,
    Representation,
    build_federated_schema,
    enforce_cost_limits,
    validate_subgraph,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "validation: ['EXTERNAL_UNUSED'] (User.name)",
    "_entities: 100 users in 1 resolver call",
)
REAL: tuple[str, ...] = ("PostgreSQL: 1000 entities from one SELECT",)


FEDERATION_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9",
                    import: ["@key", "@external", "@listSize"])
type Query { users(first: Int): [User!]! @listSize(slicingArguments: ["first"]) }
type User @key(fields: "id") { id: ID! name: String friends: [User!]! }
"""
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }"


async def run(tour: Tour) -> None:
    try:
        validate_subgraph(FEDERATION_SDL.replace("name: String", "name: String @external"))
    except FederationValidationError as exc:
        tour.say(f"validation: {[e.code for e in exc.errors]} ({exc.errors[0].coordinate})")
    calls: list[int] = []

    async def users_in_memory(reps: Sequence[Representation], info: GraphQLResolveInfo[Any]) -> list[Any]:
        calls.append(len(reps))
        return [{"id": r["id"], "name": f"user {r['id']}"} for r in reps]

    schema = build_federated_schema(FEDERATION_SDL, {"User": users_in_memory})
    reps: list[dict[str, str]] = [{"__typename": "User", "id": str(i)} for i in range(100)]
    result = await graphql(schema, ENTITIES, variable_values={"r": [*reps, {"id": "x"}]})
    errors = result.errors or []
    tour.say(f"_entities: 100 users in {len(calls)} resolver call; a bad one: {errors[0].message}")
    query = "{ users(first: 100) { ...F } } fragment F on User { a: friends { id } b: friends { id } }"
    try:
        enforce_cost_limits(schema, query, CostLimits(max_cost=100))
    except CostLimitExceededError as exc:
        tour.say(f"cost limit, fragments expanded: {exc}")
    if tour.postgres_dsn is None:
        tour.say("PostgreSQL entities: set BUTTRESS_POSTGRES_DSN to resolve them from a table")
        return
    conn = await asyncpg.connect(tour.postgres_dsn)
    try:
        await conn.execute(
            "CREATE TEMP TABLE tour_users AS"
            " SELECT g AS id, 'user ' || g AS name FROM generate_series(1, 1000) g"
        )

        async def users_in_postgres(
            reps: Sequence[Representation], info: GraphQLResolveInfo[Any]
        ) -> list[Any]:
            ids = [int(r["id"]) for r in reps]
            sql = "SELECT id::text AS id, name FROM tour_users WHERE id = ANY($1::int[])"
            rows = await conn.fetch(sql, ids)
            by_id = {int(r["id"]): r for r in rows}
            return [by_id.get(i) for i in ids]

        pg_schema = build_federated_schema(FEDERATION_SDL, {"User": users_in_postgres})
        reps = [{"__typename": "User", "id": str(i)} for i in range(1, 1001)]
        result = await graphql(pg_schema, ENTITIES, variable_values={"r": reps})
        found = len((result.data or {}).get("_entities", []))
        tour.say(f"PostgreSQL: {found} entities from one SELECT ... = ANY($1)")
    finally:
        await conn.close()
