"""Subgraphs as they are written: no ``Query`` of their own, Federation 1 files, renamed links, custom roots.

Every case's codes are Apollo's own (test_apollo checks that against Apollo); these tests run without
node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from corpus import Case
from corpus_realworld import FED2_INVENTORY, REAL_WORLD_AND_EDGES
from graphql import GraphQLObjectType, build_schema, graphql

from buttress.federation import (
    FederationConfigurationError,
    build_federated_schema,
    build_subgraph,
    check_subgraph,
    federate,
    validate_subgraph,
)


@pytest.mark.parametrize("case", REAL_WORLD_AND_EDGES, ids=[c.name for c in REAL_WORLD_AND_EDGES])
def test_real_world_case(case: Case) -> None:
    assert tuple(sorted(e.code for e in check_subgraph(case.sdl))) == case.codes


@pytest.mark.parametrize(
    "sdl",
    [
        'type User @key(fields: "email") { email: ID! }',
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", import: ["@key"])\n'
        'type User @key(fields: "email") { email: ID! }',
        'extend type Product @key(fields: "upc") { upc: String! @external reviews: [String] }',
        "type Money { amount: Int! currency: String! }",
    ],
    ids=["fed1", "fed2", "fed1-extension", "value-types"],
)
def test_a_subgraph_without_query_is_valid(sdl: str) -> None:
    """The issue's case: Apollo adds Query { _service _entities } before the root type checks."""
    assert check_subgraph(sdl) == []
    schema = validate_subgraph(sdl)
    assert schema.query_type is not None
    assert schema.query_type.name == "Query"
    assert "_service" in schema.query_type.fields


def test_entities_are_added_where_there_are_entities() -> None:
    schema = validate_subgraph('type User @key(fields: "id") { id: ID! }\ntype Money { amount: Int }')
    assert schema.query_type is not None
    assert set(schema.query_type.fields) == {"_service", "_entities"}
    entity = schema.get_type("_Entity")
    assert entity is not None
    assert [t.name for t in entity.types] == ["User"]  # type: ignore[attr-defined]
    no_entities = validate_subgraph("type Money { amount: Int }")
    assert no_entities.query_type is not None
    assert set(no_entities.query_type.fields) == {"_service"}
    assert no_entities.get_type("_Entity") is None


def test_custom_query_root_gets_the_federation_fields() -> None:
    schema = validate_subgraph(
        'schema { query: RootQuery }\ntype RootQuery { me: User }\ntype User @key(fields: "id") { id: ID! }'
    )
    root = schema.query_type
    assert isinstance(root, GraphQLObjectType)
    assert root.name == "RootQuery"
    assert {"me", "_service", "_entities"} <= set(root.fields)
    assert schema.get_type("Query") is None


def test_schema_definition_without_query_root_gets_one() -> None:
    schema = validate_subgraph("schema { mutation: Commands }\ntype Commands { ping: Boolean }")
    assert schema.query_type is not None
    assert schema.query_type.name == "Query"
    assert schema.mutation_type is not None
    assert schema.mutation_type.name == "Commands"


def test_printed_federation_operations_are_kept() -> None:
    built = build_subgraph(
        "scalar _Any\ntype _Service { sdl: String }\nunion _Entity = User\n"
        "type Query { _entities(representations: [_Any!]!): [_Entity]! _service: _Service! }\n"
        'type User @key(fields: "id") { id: ID! }'
    )
    assert built.errors == ()


async def test_an_entity_only_subgraph_serves_entities() -> None:
    calls: list[int] = []

    async def products(representations: Sequence[dict[str, Any]], _info: Any) -> list[dict[str, Any]]:
        calls.append(len(representations))
        return [{"id": r["id"], "delivery": {"estimatedDelivery": "soon"}} for r in representations]

    schema = build_federated_schema(FED2_INVENTORY, {"Product": products})
    result = await graphql(
        schema,
        "query($r: [_Any!]!) { _entities(representations: $r) "
        '{ ... on Product { delivery(zip: "1") { estimatedDelivery } } } _service { sdl } }',
        variable_values={
            "r": [{"__typename": "Product", "id": "1", "dimensions": {"size": "1", "weight": 1}}] * 2
        },
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    assert result.data["_entities"] == [{"delivery": {"estimatedDelivery": "soon"}}] * 2
    assert result.data["_service"]["sdl"] == FED2_INVENTORY
    assert calls == [2]


async def test_federate_gives_a_schema_without_query_one() -> None:
    """A graphql-core schema of entities only (no query type) gets Query { _service _entities }."""
    sdl = 'directive @key(fields: String!) repeatable on OBJECT\ntype User @key(fields: "id") { id: ID! }'
    schema = build_schema(sdl, assume_valid=True)
    assert schema.query_type is None

    async def by_id(representations: Sequence[Any], _info: Any) -> list[dict[str, Any]]:
        return [{"id": r["id"]} for r in representations]

    federated = federate(schema, {"User": by_id}, sdl=sdl)
    result = await graphql(
        federated,
        '{ _service { sdl } _entities(representations: [{__typename: "User", id: "7"}]) '
        "{ ... on User { id } } }",
    )
    assert result.errors is None
    assert result.data == {"_service": {"sdl": sdl}, "_entities": [{"id": "7"}]}
    with pytest.raises(FederationConfigurationError, match='"Query" is not one'):
        federate(build_schema("scalar Query\ntype T { a: Int }", assume_valid=True))
