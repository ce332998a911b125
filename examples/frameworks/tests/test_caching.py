"""buttress-caching in every example: a view under ``@cached`` runs once per key."""

from __future__ import annotations

import uuid

import httpx
import pytest

from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_a_cached_view_is_loaded_once(target: Target, servers: Servers) -> None:
    base = servers(target)
    product, other = str(uuid.uuid4()), str(uuid.uuid4())
    with httpx.Client(base_url=base, timeout=30) as client:
        first = client.get(f"/products/{product}")
        hit = client.get(f"/products/{product}")
        miss = client.get(f"/products/{other}")
    assert (first.status_code, hit.status_code, miss.status_code) == (200, 200, 200)
    assert first.json()["id"] == product
    assert hit.json() == first.json()  # the same load: the view did not run again
    assert miss.json()["load"] > first.json()["load"]
