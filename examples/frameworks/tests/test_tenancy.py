"""buttress-tenancy in every example: ``GET /tenant`` in the scope of the tenant ``X-Tenant-ID`` names.

The middleware guards that route alone: Starlette and FastAPI route it as an ASGI app wrapped in
``TenantMiddleware``, Litestar gives the route the middleware, and Quart, Flask and Django (ASGI and
WSGI) put ``TenantMiddleware``/``WSGITenantMiddleware`` around the framework for that path only.
A known active tenant gets 200 with its id, an unknown one 404, a suspended one 403, a request
naming none 400, a malformed id 404 (no tenant could have it), never 5xx, and the answers never
repeat what the client sent.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from frameworks.shop import TENANT_PATH
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target

HOSTILE = ("<script>alert(1)</script>", "../../etc/passwd", "acme;drop", "a" * 129, "\u00e9cole", "")


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_each_tenant_is_answered_by_its_status_and_other_routes_need_none(
    target: Target, servers: Servers
) -> None:
    with httpx.Client(base_url=servers(target), timeout=30) as client:
        known = client.get(TENANT_PATH, headers={"X-Tenant-ID": "acme"})
        unknown = client.get(TENANT_PATH, headers={"X-Tenant-ID": "umbrella"})
        suspended = client.get(TENANT_PATH, headers={"X-Tenant-ID": "initech"})
        missing = client.get(TENANT_PATH)
        hostile = [client.get(TENANT_PATH, headers={b"X-Tenant-ID": value.encode()}) for value in HOSTILE]
        elsewhere = client.get("/products/1")  # no tenant named, none needed
    assert (known.status_code, known.json()) == (200, {"tenant": "acme"})
    assert unknown.status_code == 404
    assert suspended.status_code == 403
    assert missing.status_code == 400
    for refused in (unknown, suspended, missing):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == refused.status_code
    for value, answer in zip(HOSTILE, hostile, strict=True):
        assert answer.status_code in (400, 404), (value, answer.status_code)
        assert not value or value.encode() not in answer.content, "the answer repeats no input"
    assert unknown.content.find(b"umbrella") == -1
    assert elsewhere.status_code == 200


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_concurrent_requests_for_different_tenants_each_see_their_own(
    target: Target, servers: Servers
) -> None:
    tenants = ["acme", "globex"] * 8
    with httpx.Client(base_url=servers(target), timeout=30) as client:

        def ask(tenant: str) -> tuple[int, object]:
            answer = client.get(TENANT_PATH, headers={"X-Tenant-ID": tenant})
            return answer.status_code, answer.json()

        with ThreadPoolExecutor(max_workers=len(tenants)) as pool:
            answers = list(pool.map(ask, tenants))
    assert answers == [(200, {"tenant": tenant}) for tenant in tenants]
