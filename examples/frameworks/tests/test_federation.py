"""buttress-federation in every example: a subgraph whose entities resolve in one batch."""

from __future__ import annotations

import httpx
import pytest

from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id name } } }"""


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_product_entities_resolve_through_the_framework_s_graphql_server(
    target: Target, servers: Servers
) -> None:
    base = servers(target)
    representations = [{"__typename": "Product", "id": i} for i in ("2", "1", "404")]
    with httpx.Client(base_url=base, timeout=30) as client:
        entities = client.post("/graphql", json={"query": ENTITIES, "variables": {"r": representations}})
        sdl = client.post("/graphql", json={"query": "{ _service { sdl } }"})
        aliases = " ".join(f"a{n}: products {{ id }}" for n in range(11))
        too_costly = client.post("/graphql", json={"query": f"{{ {aliases} }}"})
    assert entities.status_code == 200
    assert entities.json()["data"]["_entities"] == [
        {"id": "2", "name": "kettle"},
        {"id": "1", "name": "teapot"},
        None,
    ]
    assert '@key(fields: "id")' in sdl.json()["data"]["_service"]["sdl"]
    (error,) = too_costly.json()["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
