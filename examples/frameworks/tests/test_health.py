"""buttress-health in every example: the probes over HTTP, and the shutdown wired to the lifespan."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from buttress.health import CONTENT_TYPE, ShutdownCoordinator
from frameworks.shop import HEALTH, Shop, health_checks
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import IN_PROCESS, TARGETS, Target, serve


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_the_probes_answer_in_health_json(target: Target, servers: Servers) -> None:
    """Liveness, readiness (the flags are loaded) and startup pass with 200; details stay hidden."""
    base = servers(target)
    with httpx.Client(base_url=f"{base}{HEALTH}", timeout=30) as client:
        probes = {probe: client.get(f"/{probe}") for probe in ("live", "ready", "startup")}
        head = client.head("/ready")
        unknown = client.get("/nothing-here")
        post = client.post("/live")
    for probe, answer in probes.items():
        assert answer.status_code == 200, probe
        assert answer.headers["content-type"] == CONTENT_TYPE
        assert answer.headers["cache-control"] == "no-store"
        assert answer.json() == {"status": "pass"}, "no check names or outputs for the public"
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == CONTENT_TYPE
    assert unknown.status_code == 404
    assert unknown.json()["status"] == "fail"
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"


SHUTDOWN = [t for t in IN_PROCESS if t.interface == "asgi" and t.framework != "django"]


def wait_for(what: str, predicate: object) -> None:
    deadline = time.monotonic() + 30
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("target", SHUTDOWN, ids=str)
def test_a_shutdown_fails_readiness_then_refuses_requests_then_closes_in_order(target: Target) -> None:
    """The coordinator in the app's middleware and lifespan: readiness fails first (liveness
    passes), new requests get 503 once the drain is over, the resources close last opened first."""
    shop = Shop()
    shop.shutdown = ShutdownCoordinator(shop.health, drain_delay=0.05, grace=5)
    with (
        serve(target, target.create_app(shop=shop)) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert client.get(f"{HEALTH}/ready").status_code == 200
        assert shop.loop is not None
        running = asyncio.run_coroutine_threadsafe(shop.shutdown.shutdown(), shop.loop)
        wait_for("readiness to fail", lambda: client.get(f"{HEALTH}/ready").status_code == 503)
        assert client.get(f"{HEALTH}/ready").json() == {"status": "fail"}
        assert client.get(f"{HEALTH}/live").status_code == 200
        wait_for("new requests to be refused", lambda: client.get("/").status_code == 503)
        refused = client.get("/products")
        report = running.result(timeout=30)
        closed = client.get(f"{HEALTH}/live")
    assert refused.status_code == 503
    # the probes are exempt from refusal: liveness answers from the registry, closed by now
    assert (closed.status_code, closed.headers["content-type"]) == (503, CONTENT_TYPE)
    assert refused.headers["retry-after"] == "1"
    assert report.clean
    assert report.closed == ("flags", "database", "idempotency", "cache", "health")
    assert shop.closed == report.closed, "the lifespan's shutdown got the same report"
    assert shop.lifespan == ["startup", "shutdown"]


def test_django_s_lifespan_answered_by_the_example_closes_the_probes_registry() -> None:
    """Django speaks no ASGI lifespan: the example answers it, and its shutdown runs the coordinator."""
    target = Target("django", "uvicorn")
    target.create_app()  # imports the ASGI module, which configures Django before the views
    from frameworks.django.views import shop  # noqa: PLC0415 - after Django is configured

    health = health_checks(shop.flags)
    with serve(target, target.create_app(health=health)) as base:
        ready = httpx.get(f"{base}{HEALTH}/ready", timeout=30)
        assert not health.closed
    assert ready.status_code == 200
    assert health.closed, "the lifespan's shutdown ran the coordinator, which closed the registry"
