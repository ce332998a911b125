"""``_service`` and ``_entities``: representation checks, batching, resolver contract, schemas "
"from elsewhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import GraphQLResolveInfo, build_schema, graphql
from hypothesis import given
from hypothesis import strategies as st

from buttress.federation import (
    EntityResolutionError,
    FederationConfigurationError,
    FederationTypeError,
    FederationValidationError,
    Representation,
    RepresentationError,
    build_federated_schema,
    entity_keys,
    federate,
)

SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { me: User }
type User @key(fields: "id") @key(fields: "org { id } email") { id: ID! email: String org: Org name: String }
type Org { id: ID! }
type Product @key(fields: "upc") { upc: ID! price: Int }
type Review @key(fields: "id", resolvable: false) { id: ID! }
"""

ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) "
    "{ __typename ... on User { id name } ... on Product { upc price } } }"
)


class Recorder:
    """A batch resolver that records each call."""

    def __init__(self) -> None:
        self.calls: list[list[Representation]] = []

    async def __call__(
        self, representations: Sequence[Representation], info: GraphQLResolveInfo
    ) -> list[Any]:
        self.calls.append(list(representations))
        return [{"id": r.get("id", "by-email"), "name": f"user {r.get('id')}"} for r in representations]


async def run(schema: Any, representations: list[Any]) -> Any:
    return await graphql(schema, ENTITIES, variable_values={"r": representations})


async def test_service_sdl() -> None:
    schema = build_federated_schema(SDL, {})
    result = await graphql(schema, "{ _service { sdl } }")
    assert result.errors is None
    assert result.data == {"_service": {"sdl": SDL}}


async def test_entity_union_and_any_scalar() -> None:
    schema = build_federated_schema(SDL, {})
    entity = schema.get_type("_Entity")
    assert sorted(t.name for t in schema.get_possible_types(entity)) == ["Product", "Review", "User"]  # type: ignore[arg-type]
    assert schema.get_type("_Any") is not None


async def test_one_call_per_type_in_request_order() -> None:
    users, products = Recorder(), Recorder()

    async def resolve_products(reps: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        products.calls.append(list(reps))
        return [{"upc": r["upc"], "price": 5} for r in reps]

    schema = build_federated_schema(SDL, {"User": users, "Product": resolve_products})
    reps = [
        {"__typename": "User", "id": "1"},
        {"__typename": "Product", "upc": "p1"},
        {"__typename": "User", "id": "2"},
        {"__typename": "User", "email": "e", "org": {"id": "o"}},
    ]
    result = await run(schema, reps)
    assert result.errors is None
    assert [e["__typename"] for e in result.data["_entities"]] == ["User", "Product", "User", "User"]
    assert result.data["_entities"][2] == {"__typename": "User", "id": "2", "name": "user 2"}
    assert len(users.calls) == 1
    assert [r.get("id") for r in users.calls[0]] == ["1", "2", None]
    assert len(products.calls) == 1


@pytest.mark.parametrize(
    ("representation", "fragment"),
    [
        ({"id": "1"}, 'has no "__typename"'),
        ({"__typename": 7, "id": "1"}, 'has no "__typename"'),
        ({"__typename": "Ghost", "id": "1"}, '"Ghost", which is not an entity type'),
        ({"__typename": "Org", "id": "1"}, '"Org", which is not an entity type'),
        ({"__typename": "User"}, 'of type "User" is missing key field(s) id'),
        ({"__typename": "User", "email": "e", "org": {}}, 'of type "User" is missing key field(s) id'),
        ({"__typename": "Review", "id": "1"}, "resolvable: false"),
        ("User:1", "must be an object"),
    ],
)
async def test_property_29_bad_representation_is_a_graphql_error(representation: Any, fragment: str) -> None:
    """Property 29: a malformed representation gives an error naming type and what is missing; "
    "others resolve."""
    users = Recorder()
    schema = build_federated_schema(SDL, {"User": users})
    result = await run(schema, [representation, {"__typename": "User", "id": "ok"}])
    assert result.data["_entities"][0] is None
    assert result.data["_entities"][1]["id"] == "ok"
    (error,) = result.errors
    assert fragment in error.message
    assert error.path == ["_entities", 0]
    assert isinstance(error.original_error, RepresentationError)
    assert error.original_error.index == 0


async def test_missing_nested_key_field_is_named() -> None:
    schema = build_federated_schema(SDL, {"User": Recorder()})
    result = await run(schema, [{"__typename": "User", "email": "e", "org": {"name": "x"}}])
    (error,) = result.errors
    assert error.original_error.missing == ("id",)  # the closest key is the one-field one
    result = await run(schema, [{"__typename": "Product"}])
    assert 'missing key field(s) upc of @key(fields: "upc")' in result.errors[0].message


async def test_property_30_type_without_resolver() -> None:
    """Property 30: an entity type with no resolver gives an error naming the type."""
    schema = build_federated_schema(SDL, {"User": Recorder()})
    result = await run(schema, [{"__typename": "Product", "upc": "1"}, {"__typename": "Product", "upc": "2"}])
    assert result.data == {"_entities": [None, None]}
    assert len(result.errors) == 2
    assert all('no entity resolver is registered for type "Product"' in e.message for e in result.errors)
    assert isinstance(result.errors[0].original_error, EntityResolutionError)


async def test_resolver_returning_wrong_count() -> None:
    async def short(reps: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        return []

    schema = build_federated_schema(SDL, {"User": short})
    result = await run(schema, [{"__typename": "User", "id": "1"}])
    assert "returned 0 results for 1 representations" in result.errors[0].message


async def test_resolver_errors_stay_with_their_entities() -> None:
    async def partial(reps: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        return [
            None if r["id"] == "gone" else ValueError(f"bad {r['id']}") if r["id"] == "x" else {"id": r["id"]}
            for r in reps
        ]

    async def broken(reps: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        raise RuntimeError("database down")

    schema = build_federated_schema(SDL, {"User": partial, "Product": broken})
    result = await run(
        schema,
        [
            {"__typename": "User", "id": "gone"},
            {"__typename": "User", "id": "x"},
            {"__typename": "User", "id": "1"},
            {"__typename": "Product", "upc": "1"},
        ],
    )
    assert result.data["_entities"] == [None, None, {"__typename": "User", "id": "1", "name": None}, None]
    assert sorted(e.message for e in result.errors) == ["bad x", "database down"]


async def test_objects_are_typed_whatever_their_class() -> None:
    @dataclass
    class User:
        id: str
        name: str

    class Row:  # named unlike its type: _entities remembers what it resolved it as
        def __init__(self, upc: str) -> None:
            self.upc = upc
            self.price = 3

    async def users(reps: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        return [User(r["id"], "n") for r in reps]

    async def products(reps: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        return [Row(r["upc"]) for r in reps]

    schema = build_federated_schema(SDL, {"User": users, "Product": products})
    result = await run(schema, [{"__typename": "User", "id": "1"}, {"__typename": "Product", "upc": "u"}])
    assert result.errors is None
    assert result.data["_entities"][0] == {"__typename": "User", "id": "1", "name": "n"}
    assert result.data["_entities"][1]["price"] == 3


async def test_sync_resolver_is_accepted() -> None:
    def users(reps: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
        return [{"id": r["id"]} for r in reps]

    schema = build_federated_schema(SDL, {"User": users})  # type: ignore[dict-item]
    result = await run(schema, [{"__typename": "User", "id": "1"}])
    assert result.data["_entities"][0]["id"] == "1"


async def test_federate_keeps_existing_resolvers() -> None:
    """Plain graphql-core (as ariadne builds it): wire resolvers, then federate the schema."""
    schema = build_schema(
        """
        directive @key(fields: String!) repeatable on OBJECT
        type Query { me: User }
        type User @key(fields: "id") { id: ID! name: String }
        """
    )
    schema.query_type.fields["me"].resolve = lambda _root, _info: {"id": "me", "name": "Me"}  # type: ignore[union-attr]
    federated = federate(schema, {"User": Recorder()}, sdl="type User")
    result = await graphql(federated, "{ me { name } _service { sdl } }")
    assert result.data == {"me": {"name": "Me"}, "_service": {"sdl": "type User"}}
    assert schema.get_type("_Entity") is None  # the original schema is untouched


async def test_field_resolvers_by_coordinate() -> None:
    async def me(_root: object, _info: GraphQLResolveInfo) -> Mapping[str, Any]:
        return {"id": "1", "name": "Ada"}

    schema = build_federated_schema(SDL, {}, resolvers={"Query.me": me})
    result = await graphql(schema, "{ me { name } }")
    assert result.data == {"me": {"name": "Ada"}}


def test_configuration_errors() -> None:
    with pytest.raises(FederationConfigurationError, match="Org: is not an entity type"):
        build_federated_schema(SDL, {"Org": Recorder()})
    with pytest.raises(FederationConfigurationError, match=r"Query\.nope"):
        build_federated_schema(SDL, {}, resolvers={"Query.nope": lambda *_: None})
    with pytest.raises(FederationConfigurationError, match="not callable"):
        build_federated_schema(SDL, {"User": "resolver"})  # type: ignore[dict-item]
    with pytest.raises(FederationTypeError, match="GraphQLSchema"):
        federate("type Query { a: Int }")  # type: ignore[arg-type]
    with pytest.raises(FederationValidationError):
        build_federated_schema(SDL.replace('"upc"', '"sku"'))


def test_entity_keys() -> None:
    built = build_federated_schema(SDL, {})
    keys = entity_keys(built)
    assert [k.fields for k in keys["User"]] == ["id", "org { id } email"]
    assert keys["Review"][0].resolvable is False
    assert keys["User"][1].missing({"org": {"id": 1}}) == ["email"]


@given(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"__typename": st.just("User"), "id": st.text(max_size=3)}),
            st.fixed_dictionaries({"__typename": st.just("Product"), "upc": st.text(max_size=3)}),
            st.fixed_dictionaries({"__typename": st.sampled_from(["User", "Product", "Nope"])}),
        ),
        max_size=12,
    )
)
async def test_property_batching_one_call_per_type_and_order_kept(reps: list[dict[str, Any]]) -> None:
    """Each type's resolver is called at most once per request; results come back in request order."""
    calls: dict[str, int] = {"User": 0, "Product": 0}

    def resolver(typename: str, key: str) -> Any:
        async def resolve(batch: Sequence[Representation], info: GraphQLResolveInfo) -> list[Any]:
            calls[typename] += 1
            return [{key: r[key]} for r in batch]

        return resolve

    schema = build_federated_schema(
        SDL, {"User": resolver("User", "id"), "Product": resolver("Product", "upc")}
    )
    result = await run(schema, reps)
    assert calls["User"] <= 1
    assert calls["Product"] <= 1
    for rep, got in zip(reps, result.data["_entities"], strict=True):
        key = "id" if rep["__typename"] == "User" else "upc"
        if key in rep:
            assert got[key] == rep[key]
        else:
            assert got is None
    assert len(result.errors or []) == sum(1 for r in reps if len(r) == 1)


async def test_sdl_printed_with_federation_fields_already() -> None:
    """A Federation 1 SDL that defines its own directives and already prints _service/_entities."""
    sdl = """
    scalar _FieldSet
    scalar _Any
    directive @key(fields: _FieldSet!) on OBJECT | INTERFACE
    directive @external on FIELD_DEFINITION
    type _Service { sdl: String }
    union _Entity = User
    type Query { me: User _service: _Service! _entities(representations: [_Any!]!): [_Entity]! }
    type User @key(fields: "id") { id: ID! }
    """
    schema = build_federated_schema(sdl, {"User": Recorder()})
    result = await graphql(
        schema,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } } }",
        variable_values={"r": [{"__typename": "User", "id": "7"}]},
    )
    assert result.errors is None
    assert result.data == {"_entities": [{"id": "7"}]}
