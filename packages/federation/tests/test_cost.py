"""Static cost analysis: fragments expanded, aliases counted, @cost / @listSize, limits before execution."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FieldNode, FragmentSpreadNode, GraphQLSchema, InlineFragmentNode, build_schema, parse
from hypothesis import given
from hypothesis import strategies as st

from buttress.federation import (
    CostLimitExceededError,
    CostLimits,
    FederationConfigurationError,
    analyze_cost,
    build_federated_schema,
    enforce_cost_limits,
    execute_with_limits,
)

SCHEMA = build_schema(
    """
    directive @cost(weight: Int!) on FIELD_DEFINITION | OBJECT | ARGUMENT_DEFINITION | SCALAR | ENUM
    directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!],
      requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
    type Query {
      me: User
      users(first: Int, last: Int): [User!]! @listSize(slicingArguments: ["first", "last"])
      top(limit: Int = 4): [User!]! @listSize(slicingArguments: ["limit"])
      feed(first: Int): Connection @listSize(slicingArguments: ["first"], sizedFields: ["edges"])
      search(term: String @cost(weight: 20)): [User] @listSize(assumedSize: 3)
      all: [User]
      report: Report
    }
    type Mutation { rename(name: String): User }
    type Connection { edges: [User] total: Int }
    type Report @cost(weight: 50) { rows: Int }
    type User {
      id: ID!
      name: String
      score: Int @cost(weight: 5)
      friends: [User!]! @listSize(assumedSize: 2)
    }
    """
)


def cost(query: str, **kwargs: Any) -> int:
    return analyze_cost(SCHEMA, query, **kwargs).cost


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ me { id name } }", 1),
        ("{ me { score } }", 6),
        ("{ users(first: 4) { score } }", 1 + 4 * 5),
        ("{ users(first: 4, last: 7) { score } }", 1 + 7 * 5),
        ("{ users { score } }", 1 + 10 * 5),  # no slicing argument given: the default list size
        ("{ top { score } }", 1 + 4 * 5),  # the argument's default value
        ("{ all { id } }", 1),
        ("{ all { score } }", 1 + 10 * 5),
        ('{ search(term: "x") { score } }', 1 + 20 + 3 * 5),
        ("{ search { score } }", 1 + 3 * 5),
        ("{ feed(first: 6) { total edges { score } } }", 1 + (1 + 6 * 5)),
        ("{ report { rows } }", 50),
        ("{ me { friends { friends { score } } } }", 1 + (1 + 2 * (1 + 2 * 5))),
        ('mutation { rename(name: "x") { score } }', 10 + 5),
        ("{ __typename me { __typename } }", 1),
    ],
)
def test_costs(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_slicing_argument_from_variables() -> None:
    query = "query($n: Int) { users(first: $n) { score } }"
    assert cost(query, variables={"n": 100}) == 1 + 100 * 5
    assert cost(query) == 1 + 10 * 5


def test_custom_weights() -> None:
    limits = CostLimits(object_cost=2, scalar_cost=1, default_list_size=3)
    assert analyze_cost(SCHEMA, "{ all { id name } }", limits=limits).cost == 2 + 3 * 2


def test_fragments_count_where_spread_and_aliases_are_counted_through_them() -> None:
    """No bypass: aliases inside a fragment count once per spread (PYSEC-2026-2284's shape)."""
    query = """
    { me { ...F ...F a: friends { ...F } } }
    fragment F on User { x1: score x2: score x3: score }
    """
    report = analyze_cost(SCHEMA, query)
    assert report.aliases == 10
    assert report.cost == 1 + 15 + 15 + (1 + 2 * 15)
    with pytest.raises(CostLimitExceededError, match="alias count 10 exceeds the limit of 5") as raised:
        enforce_cost_limits(SCHEMA, query, CostLimits(max_aliases=5))
    assert (raised.value.measure, raised.value.value, raised.value.limit) == ("aliases", 10, 5)


def test_inline_fragments_and_depth() -> None:
    report = analyze_cost(SCHEMA, "{ me { ... on User { friends { ... { friends { id } } } } } }")
    assert report.depth == 4  # me, friends, friends, id: fragments add no depth
    assert report.cost == 1 + (1 + 2 * 1)
    with pytest.raises(CostLimitExceededError, match="depth 3 exceeds the limit of 2"):
        enforce_cost_limits(SCHEMA, "{ me { friends { id } } }", CostLimits(max_depth=2))


def test_cyclic_fragments_terminate() -> None:
    query = "{ me { ...A } } fragment A on User { friends { ...B } } fragment B on User { score ...A }"
    report = analyze_cost(SCHEMA, query)
    assert report.cost > 0


def test_amplification_through_nested_fragments_is_counted_exactly() -> None:
    levels = 30
    fragments = "".join(
        f"fragment F{i} on User {{ a: friends {{ ...F{i + 1} }} b: friends {{ ...F{i + 1} }} }}\n"
        for i in range(levels)
    )
    query = "{ me { ...F0 } }\n" + fragments + f"fragment F{levels} on User {{ score }}"
    report = analyze_cost(SCHEMA, query)
    # level i costs c_i = 2 * (1 + 2 * c_{i+1}), c_levels = 5
    expected = 5
    for _ in range(levels):
        expected = 2 * (1 + 2 * expected)
    assert report.cost == 1 + expected
    assert report.aliases == 2 ** (levels + 1) - 2
    assert report.depth == levels + 2  # me, 30 levels of friends, score
    with pytest.raises(CostLimitExceededError) as raised:
        enforce_cost_limits(SCHEMA, query, CostLimits(max_depth=None, max_aliases=None))
    assert raised.value.value == 1 + expected
    assert f"operation cost {1 + expected} exceeds the limit of 1000" == str(raised.value)


def _naive(selection_set: Any, parent: Any, fragments: dict[str, Any], schema: GraphQLSchema) -> int:
    """Reference: expand every fragment textually (no memo) and sum; for the property test only."""
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            total += _naive(fragments[selection.name.value].selection_set, parent, fragments, schema)
        elif isinstance(selection, InlineFragmentNode):
            total += _naive(selection.selection_set, parent, fragments, schema)
        elif isinstance(selection, FieldNode):
            field = parent.fields[selection.name.value]
            named = field.type
            while hasattr(named, "of_type"):
                named = named.of_type
            is_list = "[" in str(field.type)
            base = 5 if selection.name.value == "score" else (1 if hasattr(named, "fields") else 0)
            child = (
                _naive(selection.selection_set, named, fragments, schema) if selection.selection_set else 0
            )
            total += base + (2 if is_list else 1) * child
    return total


@st.composite
def fragment_documents(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 5))
    bodies = []
    for i in range(count):
        parts = draw(
            st.lists(st.sampled_from(["id", "score", "friends"]) | st.integers(i + 1, count), max_size=4)
        )
        body = []
        for part in parts:
            if part == "friends":
                body.append("friends { id score }")
            elif isinstance(part, int):
                body.append(f"...F{part}" if part < count else "id")
            else:
                body.append(str(part))
        bodies.append(f"fragment F{i} on User {{ id {' '.join(body)} }}")
    spreads = " ".join(f"...F{draw(st.integers(0, count - 1))}" for _ in range(draw(st.integers(1, 3))))
    return "{ me { " + spreads + " } }\n" + "\n".join(bodies)


@given(fragment_documents())
def test_property_fragment_expansion_matches_naive_count(query: str) -> None:
    """Memoized fragment counting equals counting the textually expanded operation."""
    document = parse(query)
    fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
    operation = document.definitions[0]
    me = SCHEMA.query_type.fields["me"]  # type: ignore[union-attr]
    user = SCHEMA.get_type("User")
    expected = 1 + _naive(operation.selection_set.selections[0].selection_set, user, fragments, SCHEMA)  # type: ignore[attr-defined]
    assert me is not None
    assert analyze_cost(SCHEMA, document).cost == expected


async def test_rejected_before_execution() -> None:
    calls: list[str] = []
    sdl = """
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9",
      import: ["@key", "@cost", "@listSize"])
    type Query { users(first: Int): [User!]! @listSize(slicingArguments: ["first"]) }
    type User @key(fields: "id") { id: ID! heavy: Int @cost(weight: 100) }
    """

    def users(_root: object, _info: object, first: int = 0) -> list[dict[str, Any]]:
        calls.append("users")
        return [{"id": str(i), "heavy": i} for i in range(first)]

    schema = build_federated_schema(sdl, {}, resolvers={"Query.users": users})
    limits = CostLimits(max_cost=500)
    result = await execute_with_limits(schema, "{ users(first: 50) { heavy } }", limits)
    assert result.data is None
    (error,) = result.errors
    assert error.message == "operation cost 5001 exceeds the limit of 500"
    assert error.extensions == {"code": "COST_LIMIT_EXCEEDED", "measure": "cost", "value": 5001, "limit": 500}
    assert calls == []
    ok = await execute_with_limits(schema, "{ users(first: 2) { heavy } }", limits)
    assert ok.errors is None
    assert ok.data == {"users": [{"heavy": 0}, {"heavy": 1}]}
    assert calls == ["users"]


async def test_execute_with_limits_reports_syntax_and_validation_errors() -> None:
    schema = build_federated_schema("type Query { a: Int }", {})
    assert (await execute_with_limits(schema, "{ a", CostLimits())).errors
    assert (await execute_with_limits(schema, "{ b }", CostLimits())).errors


def test_operation_selection_and_bad_input() -> None:
    two = "query A { me { id } } query B { me { score } }"
    assert cost(two, operation_name="B") == 6
    with pytest.raises(FederationConfigurationError, match="2 operations"):
        cost(two)
    with pytest.raises(FederationConfigurationError, match="no such operation"):
        cost(two, operation_name="C")
    with pytest.raises(FederationConfigurationError, match="does not parse"):
        cost("{ me {")
    with pytest.raises(FederationConfigurationError, match="subscription"):
        cost("subscription { me { id } }")


@pytest.mark.parametrize(
    "kwargs", [{"max_cost": -1}, {"max_depth": 1.5}, {"max_aliases": True}, {"default_list_size": -2}]
)
def test_bad_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(FederationConfigurationError):
        CostLimits(**kwargs)
