"""Every public entry point of buttress-federation, driven with hostile arguments: only typed errors come out.

Functions, constructors and methods go through buttress-testing's `check_hostile`; the request path
(``execute_with_limits`` and the ``_entities`` resolver) gets hostile operations, variables and
representations, and must answer each with an `ExecutionResult` whose errors are GraphQL errors
(graphql-core's own, or carrying a `ButtressError`), never a raised exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from graphql import ExecutionResult, GraphQLError, GraphQLSchema, graphql, parse, validate
from hypothesis import given, settings
from hypothesis import strategies as st

import buttress.federation as federation
from buttress.core import ButtressError
from buttress.federation import (
    BuiltSubgraph,
    CostLimitExceededError,
    CostLimits,
    CostReport,
    DataLoader,
    DataLoaderError,
    EntityKey,
    EntityResolutionError,
    FederationConfigurationError,
    FederationError,
    FederationTypeError,
    FederationValidationError,
    FieldSetError,
    RepresentationError,
    SubgraphError,
    analyze_cost,
    build_federated_schema,
    build_subgraph,
    check_subgraph,
    cost_limits_rule,
    enforce_cost_limits,
    entity_keys,
    execute_with_limits,
    federate,
    parse_field_set,
    validate_subgraph,
)
from buttress.federation.__main__ import main
from buttress.testing import HostileTarget, HostileTargets, acheck_hostile, check_hostile, hostile_values

SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@listSize", "@cost"])
type Query {
  me: User
  users(first: Int = 5): [User!]! @listSize(slicingArguments: ["first"])
}
type User @key(fields: "id") @key(fields: "org { id } email") {
  id: ID!
  email: String
  org: Org
  friends: [User!]!
}
type Org { id: ID! }
"""
QUERY = "query Q($n: Int) { users(first: $n) { id friends { email } } }"


async def users(representations: Sequence[Any], _info: Any) -> list[Any]:
    return [{"id": r.get("id"), "email": "e"} for r in representations]


SCHEMA = build_federated_schema(SDL, {"User": users})
BUILT = build_subgraph(SDL)
KEY = entity_keys(SCHEMA)["User"][0]
ERROR = SubgraphError("KEY_INVALID_FIELDS", "message", "User", 1, 2)

TARGETS = HostileTargets()
TARGETS.add(check_subgraph, SDL)
TARGETS.add(build_subgraph, SDL)
TARGETS.add(validate_subgraph, SDL)
TARGETS.add(parse_field_set, "id org { id }")
TARGETS.add(SubgraphError, "KEY_INVALID_FIELDS", "m", "User", 1, 2)
TARGETS.add(BuiltSubgraph, BUILT.schema, BUILT.spec, BUILT.document, BUILT.errors)
TARGETS.add(entity_keys, SCHEMA, key_directive="key")
TARGETS.add(federate, validate_subgraph(SDL), {"User": users}, sdl=SDL, key_directive="key")
TARGETS.add(build_federated_schema, SDL, {"User": users}, resolvers={"Query.me": lambda *_: None})
TARGETS.add(EntityKey, "id", parse_field_set("id"), True)
TARGETS.add(KEY.missing, {"__typename": "User", "id": "1"})
TARGETS.add(CostLimits, **{f: getattr(CostLimits(), f) for f in CostLimits.__dataclass_fields__})
TARGETS.add(CostReport, 1, 2, 3)
TARGETS.add(analyze_cost, SCHEMA, QUERY, variables={"n": 3}, operation_name="Q", limits=CostLimits())
TARGETS.add(enforce_cost_limits, SCHEMA, QUERY, CostLimits(), variables={"n": 3}, operation_name="Q")
TARGETS.add(cost_limits_rule, CostLimits())
TARGETS.add(
    execute_with_limits,
    SCHEMA,
    QUERY,
    CostLimits(),
    variable_values={"n": 3},
    operation_name="Q",
    context_value=None,
    root_value=None,
)
TARGETS.add(DataLoader, users, max_batch_size=10, cache=True, cache_key=repr)
TARGETS.add(FederationError, "message")
# show_value is buttress-core's ConfigurationError's own (NotImplemented there warns: reported).
TARGETS.add(FederationConfigurationError, "max_cost", -1, "must be positive", keep=("show_value",))
TARGETS.add(FederationTypeError, "sdl", "a str", 5)
TARGETS.add(FederationValidationError, [ERROR])
TARGETS.add(FieldSetError, "id {", "Syntax Error", 4)
TARGETS.add(RepresentationError, "message", index=0, typename="User", missing=("id",))
TARGETS.add(EntityResolutionError, "message", typename="User")
TARGETS.add(CostLimitExceededError, "cost", 51, 50)
TARGETS.add(DataLoaderError, "message")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a public function or constructor of buttress-federation raise untyped."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(federation)


async def test_dataloader_methods_raise_only_typed_errors() -> None:
    """Property: DataLoader's methods answer hostile keys with typed errors."""
    loader: DataLoader[object, object] = DataLoader(users)

    async def keys(batch: Sequence[object]) -> list[object]:
        return [("loaded", index) for index, _ in enumerate(batch)]

    plain: DataLoader[object, object] = DataLoader(keys)
    for method, args, kwargs in [
        (plain.load, ("k",), {}),
        (plain.load_many, (["a", "b"],), {"return_exceptions": True}),
        (plain.prime, ("k", "v"), {}),
        (plain.clear, ("k",), {}),
    ]:
        await acheck_hostile(method, *args, **kwargs)
    await acheck_hostile(DataLoader(keys, cache=False).load, "k")
    loader.clear_all()


def test_prime_works_outside_an_event_loop() -> None:
    loader: DataLoader[str, str] = DataLoader(users)  # type: ignore[arg-type]
    loader.prime("k", "v")  # found by the hostile check: prime needed a running loop


def _relative(value: object) -> bool:
    """Paths stay under the test's working directory."""
    return not (isinstance(value, str) and (value.startswith(("/", "~")) or ".." in value))


def test_cli_raises_only_typed_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Property: the command line answers any argument list with an exit status, or a typed error."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.graphql").write_text(SDL, encoding="utf-8")
    check_hostile(main, ["validate", "s.graphql"], values=hostile_values().filter(_relative))
    arguments = st.lists(hostile_values().filter(lambda v: isinstance(v, str) and _relative(v)), max_size=4)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.sampled_from(["validate", "--json", "s.graphql", "-h"]), max_size=4), arguments)
    def run(words: list[str], extra: list[object]) -> None:
        status = main([*words, *extra])  # type: ignore[list-item]
        assert status in {0, 1, 2}

    run()


# --- the request path --------------------------------------------------------------------------------


def _cause(error: BaseException | None) -> BaseException | None:
    """The exception under graphql-core's wrapping (a GraphQLError's own ``original_error``)."""
    while isinstance(error, GraphQLError) and error.original_error is not None:
        error = error.original_error
    return None if isinstance(error, GraphQLError) else error


def _untyped(result: ExecutionResult) -> list[str]:
    """Errors that carry an exception that is neither graphql-core's own nor a ButtressError."""
    causes = [(_cause(e), e.message) for e in result.errors or ()]
    return [
        f"{type(cause).__name__}: {message}"
        for cause, message in causes
        if cause is not None and not isinstance(cause, ButtressError)
    ]


@settings(max_examples=150, deadline=None)
@given(hostile_values())
async def test_hostile_representations_are_graphql_errors(representation: object) -> None:
    """Property: whatever a client sends as a representation, _entities answers with GraphQL errors."""
    result = await graphql(
        SCHEMA,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { email } } }",
        variable_values={"r": [representation, {"__typename": "User", "id": "1"}]},
    )
    assert _untyped(result) == []
    assert result.data is None or result.data["_entities"][1] == {"email": "e"}


DEEP_FRAGMENTS = (
    "query { ...F0 }\n"
    + "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(1000))
    + "\nfragment F1000 on Query { me { id } }"
)


@pytest.mark.parametrize(
    "source",
    [
        "{" * 10_000,
        "{ me { " * 300 + "id" + " } }" * 300,
        "query { " + " ".join(f"a{i}: me {{ id }}" for i in range(20_000)) + " }",
        DEEP_FRAGMENTS,
        "query($n: Int) { users(first: $n) { id } }",
        "query { users(first: 99999999999999999999999999) { id } }",
        "\x00",
        "\ud800",
        "",
    ],
    ids=["braces", "deep", "huge", "fragment-chain", "variable", "huge-int", "nul", "surrogate", "empty"],
)
async def test_hostile_operations_are_graphql_errors(source: str) -> None:
    result = await execute_with_limits(SCHEMA, source, CostLimits(), variable_values={"n": 10**400})
    assert isinstance(result, ExecutionResult)
    assert _untyped(result) == []


@pytest.mark.parametrize(
    "source",
    [
        "query { users { " + "friends { " * 140 + "id" + " }" * 141 + " }",
        "query { " + " ".join(f"a{i}: me {{ id }}" for i in range(20_000)) + " }",
        DEEP_FRAGMENTS,
        "query($n: Int) { users(first: $n) { id } }",
        "query { users(first: 99999999999999999999999999) { id } }",
        "query A { me { id } } query A { me { id } } { me { id } }",
    ],
    ids=["deep", "huge", "fragment-chain", "variable", "huge-int", "several-operations"],
)
def test_the_cost_rule_answers_hostile_operations_with_graphql_errors(source: str) -> None:
    """Property: the validation rule reports; it never raises, whatever the operation."""
    errors = validate(SCHEMA, parse(source, max_tokens=None), [cost_limits_rule(CostLimits())])
    assert all(isinstance(error, GraphQLError) for error in errors)
    assert [
        e
        for e in errors
        if e.original_error is not None and not isinstance(e.original_error, FederationError)
    ] == []


@pytest.mark.parametrize("bad", [5, None, b"{ me { id } }", ["{ me { id } }"]])
async def test_a_source_that_is_not_text_is_a_graphql_error(bad: object) -> None:
    result = await execute_with_limits(SCHEMA, bad, CostLimits())  # type: ignore[arg-type]
    assert result.data is None
    assert result.errors is not None
    assert isinstance(result.errors[0].original_error, FederationTypeError)


@pytest.mark.parametrize("bad", [[1], "x", 5])
async def test_variables_that_are_not_a_mapping_are_a_graphql_error(bad: object) -> None:
    result = await execute_with_limits(SCHEMA, QUERY, CostLimits(), variable_values=bad)  # type: ignore[arg-type]
    assert result.errors is not None
    assert isinstance(result.errors[0].original_error, FederationTypeError)


def test_fragment_chain_is_refused_with_a_typed_error() -> None:
    """A 1000-deep chain of fragment spreads overflowed the recursion limit before."""
    with pytest.raises(FederationConfigurationError, match="128 levels"):
        analyze_cost(SCHEMA, DEEP_FRAGMENTS)


def test_huge_costs_saturate_and_print() -> None:
    first = "9" * 5000  # int() refuses a literal this long; 20 nested lists of it would be 10**100000
    query = "query { " + f"users(first: {first}) {{ friends {{ " * 20 + "id" + " } }" * 20 + " }"
    with pytest.raises(CostLimitExceededError) as raised:
        enforce_cost_limits(SCHEMA, query, CostLimits(max_depth=None, max_tokens=None))
    assert raised.value.value == 10**100
    assert "exceeds the limit of 1000" in str(raised.value)


def test_schema_is_checked() -> None:
    with pytest.raises(FederationTypeError, match="schema"):
        analyze_cost("type Query { a: Int }", "{ a }")  # type: ignore[arg-type]
    assert isinstance(SCHEMA, GraphQLSchema)
