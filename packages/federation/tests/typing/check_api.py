"""assert_type checks of buttress.federation's public API (run by mypy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, assert_type

from graphql import GraphQLResolveInfo, GraphQLSchema, SelectionSetNode, ValidationRule

from buttress.federation import (
    BatchEntityResolver,
    BuiltSubgraph,
    CostLimitExceededError,
    CostLimits,
    CostReport,
    DataLoader,
    EntityKey,
    FederationValidationError,
    FieldSetError,
    Representation,
    SubgraphError,
    analyze_cost,
    build_federated_schema,
    build_subgraph,
    check_subgraph,
    cost_limits_rule,
    enforce_cost_limits,
    entity_keys,
    federate,
    parse_field_set,
    validate_subgraph,
)

SDL = "type Query { a: Int }"

assert_type(validate_subgraph(SDL), GraphQLSchema)
assert_type(check_subgraph(SDL), list[SubgraphError])
assert_type(build_subgraph(SDL), BuiltSubgraph)
assert_type(build_subgraph(SDL).errors, tuple[SubgraphError, ...])
assert_type(parse_field_set("id"), SelectionSetNode)
assert_type(FederationValidationError([]).errors, tuple[SubgraphError, ...])


class Users:
    async def __call__(
        self, representations: Sequence[Representation], info: GraphQLResolveInfo[Any]
    ) -> Sequence[dict[str, Any] | BaseException | None]:
        return [dict(r) for r in representations]


resolver: BatchEntityResolver[dict[str, Any]] = Users()
schema = build_federated_schema(SDL, {"User": resolver})
assert_type(schema, GraphQLSchema)
assert_type(federate(schema, {"User": resolver}), GraphQLSchema)
assert_type(entity_keys(schema), dict[str, tuple[EntityKey, ...]])


async def load_lengths(keys: Sequence[str]) -> list[int | BaseException]:
    return [len(k) for k in keys]


async def loaders() -> None:
    loader = DataLoader(load_lengths, max_batch_size=10)
    assert_type(loader, DataLoader[str, int])
    assert_type(await loader.load("a"), int)
    assert_type(await loader.load_many(["a"]), list[int])
    assert_type(await loader.load_many(["a"], return_exceptions=True), list[int | BaseException])


limits = CostLimits(max_cost=100)
assert_type(analyze_cost(schema, "{ a }"), CostReport)
assert_type(enforce_cost_limits(schema, "{ a }", limits).cost, int)
assert_type(cost_limits_rule(limits), type[ValidationRule])
assert_type(CostLimitExceededError("cost", 2, 1).limit, int)
assert_type(CostLimits().max_tokens, int | None)
assert_type(FieldSetError("id {", "Syntax Error").column, int | None)
assert_type(FieldSetError("id {", "Syntax Error").fields, str)
