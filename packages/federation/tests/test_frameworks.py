"""Federation served by strawberry and ariadne: their own execution paths, and over HTTP under uvicorn.

The recipes in the guide (docs/packages/federation, "Serving with strawberry or ariadne") are the
``# recipe`` blocks of this file.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ariadne
import ariadne.asgi
import httpx
import pytest
import strawberry
import strawberry.asgi
from graphql import GraphQLSchema, parse, validate
from strawberry.extensions import AddValidationRules

from buttress.federation import (
    CostLimits,
    FederationTypeError,
    build_federated_schema,
    cost_limits_rule,
    execute_with_limits,
    federate,
)
from buttress.testing import serve_asgi

NAMES = {"1": "lamp", "2": "desk", "3": "chair"}
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id name } } }"
REPRESENTATIONS = [
    {"__typename": "Product", "id": "3"},
    {"__typename": "Product", "id": "1"},
    {"__typename": "Product", "id": "999"},
    {"id": "2"},  # no __typename: its own error, the others resolve
]
EXPECTED = [{"id": "3", "name": "chair"}, {"id": "1", "name": "lamp"}, None, None]
BATCHES: list[int] = []


async def fetch_products(ids: list[str]) -> dict[str, str]:
    """The recipes' one database query per batch (``WHERE id = ANY($1)``)."""
    BATCHES.append(len(ids))
    return {i: NAMES[i] for i in ids if i in NAMES}


# The strawberry recipe of the guide starts here.
@strawberry.federation.type(keys=["id"])
class Product:
    id: strawberry.ID
    name: str


@strawberry.type
class Query:
    @strawberry.field
    def top_products(self, first: int = 5) -> list[Product]:
        return [Product(id=strawberry.ID(i), name=n) for i, n in list(NAMES.items())[:first]]


async def products_by_id(representations: Sequence[Any], info: Any) -> list[Product | None]:
    ids = [r["id"] for r in representations]
    names = await fetch_products(ids)  # one query for all of them
    return [Product(id=i, name=names[i]) if i in names else None for i in ids]


rule = cost_limits_rule(CostLimits(max_cost=100, max_aliases=10))
schema = strawberry.federation.Schema(query=Query, extensions=[lambda: AddValidationRules([rule])])
federate(schema._schema, {"Product": products_by_id})  # sets _entities on strawberry's own schema
app = strawberry.asgi.GraphQL(schema)
# The recipe ends here.


# The ariadne recipe of the guide starts here.
SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@listSize"])
type Query { topProducts(first: Int = 5): [Product!]! @listSize(slicingArguments: ["first"]) }
type Product @key(fields: "id") { id: ID! name: String! }
"""

query = ariadne.QueryType()


@query.field("topProducts")
def resolve_top_products(_: None, info: Any, first: int = 5) -> list[dict[str, str]]:
    return [{"id": i, "name": n} for i, n in list(NAMES.items())[:first]]


async def product_rows(representations: Sequence[Any], info: Any) -> list[dict[str, str] | None]:
    ids = [r["id"] for r in representations]
    names = await fetch_products(ids)  # one query for all of them
    return [{"id": i, "name": names[i]} if i in names else None for i in ids]


federated = build_federated_schema(SDL, {"Product": product_rows})  # validates the subgraph
query.bind_to_schema(federated)  # ariadne's bindables wire the schema's own fields
rules = [cost_limits_rule(CostLimits(max_cost=100, max_aliases=10))]
ariadne_app = ariadne.asgi.GraphQL(federated, validation_rules=rules)
# The recipe ends here.


def strawberry_schema() -> strawberry.federation.Schema:
    fresh = strawberry.federation.Schema(query=Query)
    federate(fresh._schema, {"Product": products_by_id})
    return fresh


def ariadne_schema() -> GraphQLSchema:
    fresh = build_federated_schema(SDL, {"Product": product_rows})
    query.bind_to_schema(fresh)
    return fresh


@pytest.fixture(autouse=True)
def _batches() -> Iterator[None]:
    BATCHES.clear()
    yield
    BATCHES.clear()


def _check_entities(data: Any, errors: Sequence[Any]) -> None:
    assert data == {"_entities": EXPECTED}
    assert len(errors) == 1
    assert 'representation 3 has no "__typename"' in errors[0]["message"]
    assert errors[0]["path"] == ["_entities", 3]
    assert BATCHES == [3]  # the three Product representations reached the resolver in one call


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (buttress-testing's serve_asgi); yields its URL."""
    with serve_asgi(app) as base:
        yield f"{base}/"


async def _post(url: str, query_text: str, variables: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, json={"query": query_text, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


# strawberry


def test_strawberry_entities_are_found_in_strawberrys_definitions() -> None:
    schema = strawberry.federation.Schema(query=Query)
    assert federate(schema._schema, {"Product": products_by_id}) is schema._schema


async def test_strawberry_executes_entities_in_one_batch() -> None:
    result = await strawberry_schema().execute(ENTITIES, variable_values={"r": REPRESENTATIONS})
    _check_entities(result.data, [error.formatted for error in result.errors or []])


async def test_strawberry_keeps_its_own_service_sdl() -> None:
    result = await strawberry_schema().execute("{ _service { sdl } }")
    assert result.errors is None
    assert result.data is not None
    assert 'type Product @key(fields: "id")' in result.data["_service"]["sdl"]


async def test_strawberry_cost_limits() -> None:
    schema = strawberry_schema()
    limits = CostLimits(max_depth=1)
    rejected = await execute_with_limits(schema._schema, "{ topProducts { name } }", limits)
    assert rejected.data is None
    assert rejected.errors is not None
    assert rejected.errors[0].extensions is not None
    assert rejected.errors[0].extensions["code"] == "COST_LIMIT_EXCEEDED"
    allowed = await execute_with_limits(
        schema._schema, "{ topProducts(first: 2) { name } }", CostLimits(max_depth=2)
    )
    assert allowed.errors is None
    assert allowed.data == {"topProducts": [{"name": "lamp"}, {"name": "desk"}]}


ALIASED = "{ " + " ".join(f"p{i}: topProducts {{ id }}" for i in range(11)) + " }"
REFUSED = {"code": "COST_LIMIT_EXCEEDED", "measure": "aliases", "value": 11, "limit": 10}


async def _post_raw(url: str, query_text: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, json={"query": query_text})


async def test_strawberry_over_http() -> None:
    with serving(app) as url:  # the recipe's app
        body = await _post(url, ENTITIES, {"r": REPRESENTATIONS})
        service = await _post(url, "{ _service { sdl } }")
        refused = await _post_raw(url, ALIASED)
    _check_entities(body["data"], body["errors"])
    assert "@key" in service["data"]["_service"]["sdl"]
    assert refused.status_code == 200  # strawberry answers a validation error 200
    assert refused.json()["data"] is None
    assert [error["extensions"] for error in refused.json()["errors"]] == [REFUSED]


async def test_plain_strawberry_schema_keys_from_the_sdl() -> None:
    """A strawberry schema without federation, federated from the SDL that names its keys."""
    plain = strawberry.Schema(query=ItemQuery)
    sdl = str(plain) + '\nextend type Item @key(fields: "id")\n'
    with pytest.raises(Exception, match="is not an entity type"):
        federate(plain._schema, {"Item": items})
    schema = federate(plain._schema, {"Item": items}, sdl=sdl)
    result = await execute_with_limits(
        schema,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Item { name } } item { id } }",
        CostLimits(max_depth=3),
        variable_values={"r": [{"__typename": "Item", "id": "2"}]},
    )
    assert result.errors is None
    assert result.data == {"_entities": [{"name": "desk"}], "item": {"id": "1"}}


@strawberry.type
class Item:
    id: strawberry.ID
    name: str


@strawberry.type
class ItemQuery:
    @strawberry.field
    def item(self) -> Item:
        return Item(id=strawberry.ID("1"), name="lamp")


async def items(representations: Sequence[Any], info: Any) -> list[Item]:
    return [Item(id=r["id"], name=NAMES[r["id"]]) for r in representations]


# ariadne


async def test_ariadne_executes_entities_in_one_batch() -> None:
    success, result = await ariadne.graphql(
        ariadne_schema(), {"query": ENTITIES, "variables": {"r": REPRESENTATIONS}}
    )
    assert success
    _check_entities(result["data"], result["errors"])


async def test_ariadne_field_resolvers_and_service() -> None:
    success, result = await ariadne.graphql(
        ariadne_schema(), {"query": "{ topProducts(first: 1) { name } _service { sdl } }"}
    )
    assert success
    assert result["data"]["topProducts"] == [{"name": "lamp"}]
    assert result["data"]["_service"]["sdl"] == SDL


async def test_ariadne_cost_limits() -> None:
    schema = ariadne_schema()
    limits = CostLimits(max_cost=1)
    rejected = await execute_with_limits(schema, "{ a: topProducts { id } b: topProducts { id } }", limits)
    assert rejected.data is None
    assert rejected.errors is not None
    assert rejected.errors[0].extensions == {
        "code": "COST_LIMIT_EXCEEDED",
        "measure": "cost",
        "value": 2,
        "limit": 1,
    }
    allowed = await execute_with_limits(schema, "{ topProducts(first: 2) { name } }", limits)
    assert allowed.errors is None
    assert allowed.data == {"topProducts": [{"name": "lamp"}, {"name": "desk"}]}


async def test_ariadne_over_http() -> None:
    with serving(ariadne_app) as url:  # the recipe's app
        body = await _post(url, ENTITIES, {"r": REPRESENTATIONS})
        top = await _post(url, "{ topProducts(first: 2) { id } }")
        refused = await _post_raw(url, ALIASED)
    _check_entities(body["data"], body["errors"])
    assert top == {"data": {"topProducts": [{"id": "1"}, {"id": "2"}]}}
    assert refused.status_code == 400  # ariadne answers a validation error 400
    assert [error["extensions"] for error in refused.json()["errors"]] == [REFUSED]


async def test_strawberry_and_ariadne_requests_run_concurrently() -> None:
    """Two servers, each request batched on its own."""
    with (
        serving(strawberry.asgi.GraphQL(strawberry_schema())) as one,
        serving(ariadne.asgi.GraphQL(ariadne_schema())) as two,
    ):
        bodies = await asyncio.gather(
            _post(one, ENTITIES, {"r": REPRESENTATIONS}), _post(two, ENTITIES, {"r": REPRESENTATIONS})
        )
    assert [body["data"] for body in bodies] == [{"_entities": EXPECTED}] * 2
    assert BATCHES == [3, 3]


def _recipes() -> list[str]:
    text = Path(__file__).read_text(encoding="utf-8")
    starts = [m.end() for m in re.finditer(r"# The \w+ recipe of the guide starts here\.\n", text)]
    return [text[start : text.index("# The recipe ends here.", start)] for start in starts]


GUIDE = Path(__file__).parents[3] / "docs" / "packages" / "federation" / "index.md"


@pytest.mark.skipif(not GUIDE.exists(), reason="the guide is not beside the tests (an sdist)")
def test_the_guide_shows_these_recipes() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    recipes = _recipes()
    assert len(recipes) == 2
    for recipe in recipes:
        assert recipe.strip() in guide


def test_cost_limits_rule_in_graphql_cores_validate() -> None:
    """One error per operation over a limit; the operation within the limits passes; no variables."""
    schema = ariadne_schema()
    rule = cost_limits_rule(CostLimits(max_cost=100, max_aliases=10, max_depth=2))
    document = parse(
        ALIASED.replace("{ ", "query Wide { ", 1)
        + " query Narrow { topProducts { id } }"
        + " query Deep($n: Int) { topProducts(first: $n) { id } }"
    )
    errors = validate(schema, document, [rule])
    assert [(error.extensions or {}).get("measure") for error in errors] == ["aliases"]
    assert errors[0].locations is not None
    assert validate(schema, parse("{ topProducts { id name } }"), [rule]) == []
    deep = validate(schema, parse("{ topProducts { id } }"), [cost_limits_rule(CostLimits(max_depth=1))])
    assert [(error.extensions or {}).get("measure") for error in deep] == ["depth"]
    with pytest.raises(FederationTypeError):
        cost_limits_rule(object())  # type: ignore[arg-type]
