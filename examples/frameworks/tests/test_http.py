"""What every example must keep doing with the middlewares in place: HEAD, OPTIONS, lifespan, root paths."""

from __future__ import annotations

import uuid

import httpx
import pytest

from frameworks.shop import Shop, policy
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import IN_PROCESS, TARGETS, UNDER_A_ROOT_PATH, Target, serve


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_head_answers_the_page_s_headers_without_a_body(target: Target, servers: Servers) -> None:
    base = servers(target)
    head = httpx.head(f"{base}/", timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"].startswith("text/html")
    assert "'nonce-" in head.headers["content-security-policy"]


OPTIONS = {"starlette": 405, "fastapi": 405, "litestar": 204, "quart": 200, "django": 405, "flask": 200}


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_options_is_the_framework_s_answer_with_the_policy_on_it(target: Target, servers: Servers) -> None:
    base = servers(target)
    options = httpx.options(f"{base}/orders", timeout=30)
    assert options.status_code == OPTIONS[target.framework]
    assert "POST" in options.headers["allow"]
    assert "'nonce-" in options.headers["content-security-policy"]


LIFESPAN = [t for t in IN_PROCESS if t.interface == "asgi" and t.framework != "django"]


@pytest.mark.parametrize("target", LIFESPAN, ids=str)
def test_startup_and_shutdown_run_once(target: Target) -> None:
    shop = Shop()
    with serve(target, target.create_app(shop=shop)) as base:
        assert httpx.get(f"{base}/", timeout=30).status_code == 200
        assert shop.lifespan == ["startup"]
    assert shop.lifespan == ["startup", "shutdown"]


@pytest.mark.parametrize("target", UNDER_A_ROOT_PATH, ids=str)
def test_an_app_under_a_root_path(target: Target) -> None:
    """Under ``/shop``: routes, middlewares and the policy's report URL hold.

    uvicorn is told the prefix a proxy strips (``--root-path``); a WSGI app is mounted under it by
    werkzeug's dispatcher, which sets ``SCRIPT_NAME``.
    """
    with serve(target, root_path="/shop") as base, httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/", params={"user_id": "alice"})
        key = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
        orders = [client.post("/orders", json={"item": "mug"}, headers=key) for _ in range(2)]
        product = client.get(f"/products/{uuid.uuid4()}")
    assert page.status_code == 200
    assert 'id="beta"' in page.text
    assert page.headers["reporting-endpoints"] == 'csp="/shop/csp-reports"'
    assert [o.status_code for o in orders] == [201, 201]
    assert orders[1].headers["idempotent-replayed"] == "true"
    assert product.status_code == 200
    assert policy("/shop").reporting_endpoints == (("csp", "/shop/csp-reports"),)
