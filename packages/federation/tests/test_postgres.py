"""``_entities`` against a real PostgreSQL table: 1,000 representations, one SQL query."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest
from graphql import GraphQLResolveInfo, graphql

from buttress.federation import DataLoader, Representation, build_federated_schema
from buttress.testing import PostgresSchema

pytestmark = pytest.mark.postgres

SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { user(id: ID!): User }
type User @key(fields: "id") { id: ID! name: String! }
"""
SELECT = "SELECT id::text AS id, name FROM users WHERE id = ANY($1::int[])"
QUERY = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }"


class Counted:
    """The statements a connection ran (asyncpg's query logger)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.statements: list[str] = []
        connection.add_query_logger(lambda record: self.statements.append(record.query))


@pytest.fixture
async def connection(postgres_schema: PostgresSchema) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres_schema.dsn, server_settings=postgres_schema.server_settings)
    await conn.execute(
        "DROP TABLE IF EXISTS users; CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)"
    )
    await conn.execute("INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 1000) g")
    # Warm asyncpg's type cache (its int[] introspection), so counted statements are the test's own.
    await conn.fetch(SELECT, [0])
    try:
        yield conn
    finally:
        await conn.close()


def users_by_id(conn: asyncpg.Connection) -> Any:
    async def resolve(representations: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        ids = [int(r["id"]) for r in representations]
        rows = await conn.fetch(SELECT, ids)
        by_id = {int(row["id"]): row for row in rows}
        return [by_id.get(i) for i in ids]

    return resolve


async def test_thousand_representations_one_query(connection: asyncpg.Connection) -> None:
    schema = build_federated_schema(SDL, {"User": users_by_id(connection)})
    counted = Counted(connection)
    reps = [{"__typename": "User", "id": str(i)} for i in range(1000, 0, -1)]
    result = await graphql(schema, QUERY, variable_values={"r": reps})
    assert result.errors is None
    entities = result.data["_entities"]
    assert len(entities) == 1000
    assert entities[0] == {"id": "1000", "name": "user 1000"}
    assert entities[-1] == {"id": "1", "name": "user 1"}
    assert len(counted.statements) == 1


async def test_absent_rows_are_null(connection: asyncpg.Connection) -> None:
    schema = build_federated_schema(SDL, {"User": users_by_id(connection)})
    result = await graphql(schema, QUERY, variable_values={"r": [{"__typename": "User", "id": "5000"}]})
    assert result.data == {"_entities": [None]}
    assert result.errors is None


async def test_connection_killed_mid_request(
    connection: asyncpg.Connection, postgres_schema: PostgresSchema
) -> None:
    """The backend is terminated: every entity of the batch gets the error; nothing else breaks."""
    schema = build_federated_schema(SDL, {"User": users_by_id(connection)})
    admin = await asyncpg.connect(postgres_schema.dsn)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", connection.get_server_pid())
    finally:
        await admin.close()
    reps = [{"__typename": "User", "id": str(i)} for i in range(1, 4)]
    result = await graphql(schema, QUERY, variable_values={"r": reps})
    assert result.data == {"_entities": [None, None, None]}
    assert len(result.errors) == 3
    assert all(e.path[0] == "_entities" for e in result.errors)


async def test_dataloader_field_resolver_batches_into_one_query(connection: asyncpg.Connection) -> None:
    """A field resolver that uses a per-request DataLoader: 50 lookups, one query."""

    async def load(ids: Sequence[int]) -> list[Any]:
        rows = await connection.fetch(SELECT, list(ids))
        by_id = {int(r["id"]): dict(r) for r in rows}
        return [by_id.get(i) for i in ids]

    async def user(_root: object, info: GraphQLResolveInfo, id: str) -> Any:
        return await info.context["users"].load(int(id))

    schema = build_federated_schema(SDL, {}, resolvers={"Query.user": user})
    query = "{ " + " ".join(f'u{i}: user(id: "{i}") {{ name }}' for i in range(1, 51)) + " }"
    counted = Counted(connection)
    result = await graphql(schema, query, context_value={"users": DataLoader(load)})
    assert result.errors is None
    assert result.data["u7"] == {"name": "user 7"}
    assert len(counted.statements) == 1
