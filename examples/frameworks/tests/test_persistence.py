"""buttress-persistence in every example: ``GET /products`` parsed by a `QuerySchema`, and a bad
query answered as RFC 9457 problem+json (400), never a 5xx.

The ASGI apps run the query as SQL on SQLite (`SqlAlchemyRepository.fetch`); Flask and Django run the
same specification in Python (`SyncShop.list_products`): the same expected answers hold for both.
"""

from __future__ import annotations

import json

import httpx
import pytest

from buttress.persistence import PROBLEM_JSON
from frameworks.shop import PRICES, PRODUCTS
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_products_are_filtered_sorted_and_paged_as_asked(target: Target, servers: Servers) -> None:
    base = servers(target)
    with httpx.Client(base_url=base, timeout=30) as client:
        cheap = client.get(
            "/products", params={"filter": json.dumps({"price": {"lt": 40}}), "sort": "-price"}
        )
        named = client.get("/products", params={"filter": json.dumps({"name": {"in": ["mug", "kettle"]}})})
        everything = client.get("/products")
        second = client.get("/products", params={"sort": "price", "page": "2", "per_page": "2"})
    assert cheap.status_code == 200
    expected = sorted((p for p in PRODUCTS if PRICES[p] < 40), key=PRICES.__getitem__, reverse=True)
    assert [item["id"] for item in cheap.json()["items"]] == expected
    assert [item["name"] for item in named.json()["items"]] == ["kettle", "mug"]  # the default sort: name
    assert [item["name"] for item in everything.json()["items"]] == sorted(PRODUCTS.values())
    assert second.json() == {"items": [{"id": "2", "name": "kettle", "price": 45}], "page": 2}


BAD_QUERIES: dict[str, dict[str, str] | tuple[tuple[str, str], ...]] = {
    "a field outside the allow-list": {"filter": json.dumps({"password_hash": {"like": "a%"}})},
    "not JSON": {"filter": "{price: 1"},
    "an operator the type does not take": {"filter": json.dumps({"price": {"like": "1%"}})},
    "a value of the wrong type": {"filter": json.dumps({"price": "cheap"})},
    "an unknown operator": {"filter": json.dumps({"name": {"regex": ".*"}})},
    "a sort outside the allow-list": {"sort": "-cost"},
    "page zero": {"page": "0"},
    "a page that is no number": {"page": "1e9"},
    "a filter past its size limit": {"filter": json.dumps({"name": {"in": ["x" * 100] * 50}})},
    "a repeated parameter": (("sort", "name"), ("sort", "price")),
}


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_a_bad_query_is_problem_json_400_never_5xx(target: Target, servers: Servers) -> None:
    base = servers(target)
    with httpx.Client(base_url=base, timeout=30) as client:
        answers = {what: client.get("/products", params=params) for what, params in BAD_QUERIES.items()}
    for what, answer in answers.items():
        assert answer.status_code == 400, what
        assert answer.headers["content-type"] == PROBLEM_JSON, what
        problem = answer.json()
        assert (problem["status"], problem["title"], problem["type"]) == (400, "Bad Request", "about:blank")
        assert problem["parameter"] in {"filter", "sort", "page"}, what
    hidden = answers["a field outside the allow-list"].json()
    assert "password_hash" in hidden["detail"], "it names what the client sent"
    assert "price" not in hidden["detail"], "and never the fields it may use"
