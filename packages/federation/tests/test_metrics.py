"""The package's OpenTelemetry instruments, read back through buttress-testing's ``metric_reader``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import GraphQLResolveInfo, build_schema, graphql

from buttress.federation import (
    CostLimits,
    DataLoader,
    Representation,
    build_federated_schema,
    check_subgraph,
    execute_with_limits,
)
from buttress.testing import RecordedMetrics

SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { me: User }
type User @key(fields: "id") { id: ID! name: String }
"""
BROKEN = SDL.replace("me: User", "me: Nope")
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }"
SCHEMA = build_schema("type Query { items(first: Int): [Item] } type Item { id: ID name: String }")


async def users(representations: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
    return [{"id": r["id"], "name": f"user {r['id']}"} for r in representations]


def test_subgraph_validations_are_counted_by_outcome(metric_reader: RecordedMetrics) -> None:
    assert check_subgraph(SDL) == []
    assert check_subgraph(BROKEN) != []
    name = "buttress.federation.subgraph.validations"
    assert metric_reader.value(name, {"federation.outcome": "valid"}) == 1
    assert metric_reader.value(name, {"federation.outcome": "invalid"}) == 1


async def test_operations_cost_and_rejections_are_recorded(metric_reader: RecordedMetrics) -> None:
    limits = CostLimits(max_aliases=1)
    assert (await execute_with_limits(SCHEMA, "{ items(first: 3) { id } }", limits)).errors is None
    rejected = await execute_with_limits(
        SCHEMA, "{ a: items { id } b: items { id } c: items { id } }", limits
    )
    assert rejected.errors
    assert (await execute_with_limits(SCHEMA, "{ items(", limits)).errors
    name = "buttress.federation.operations"
    assert metric_reader.value(name, {"federation.outcome": "executed"}) == 1
    assert metric_reader.value(name, {"federation.outcome": "rejected"}) == 1
    assert metric_reader.value(name, {"federation.outcome": "invalid"}) == 1
    assert (
        metric_reader.value("buttress.federation.cost_limit.rejections", {"federation.limit": "aliases"}) == 1
    )
    assert metric_reader.count("buttress.federation.operation.cost") == 2


async def test_entities_and_resolver_calls_are_counted(metric_reader: RecordedMetrics) -> None:
    schema = build_federated_schema(SDL, {"User": users})
    representations = [
        {"__typename": "User", "id": "1"},
        {"__typename": "User", "id": "2"},
        {"__typename": "Nope"},
    ]
    result = await graphql(schema, ENTITIES, variable_values={"r": representations})
    assert result.errors
    assert metric_reader.value("buttress.federation.entities", {"federation.outcome": "resolved"}) == 2
    assert metric_reader.value("buttress.federation.entities", {"federation.outcome": "error"}) == 1
    assert metric_reader.value("buttress.federation.entity_resolver.calls") == 1


async def test_dataloader_batches_and_their_sizes_are_recorded(metric_reader: RecordedMetrics) -> None:
    async def load(keys: Sequence[int]) -> list[int]:
        return [key * 2 for key in keys]

    loader = DataLoader(load)
    assert await loader.load_many([1, 2, 3]) == [2, 4, 6]
    assert metric_reader.value("buttress.federation.dataloader.batches") == 1
    assert metric_reader.count("buttress.federation.dataloader.batch.size") == 1
    assert metric_reader.value("buttress.federation.dataloader.batch.size") == 3
