"""The probes over HTTP: HealthApp (ASGI, mounted and served for real) and WSGIHealthApp."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from buttress.health import (
    CheckResult,
    FunctionCheck,
    HealthApp,
    HealthRegistry,
    HealthTypeError,
    ServiceInfo,
    Status,
    WSGIHealthApp,
)
from buttress.testing import serve_asgi


def registry_with(status: Status, *, critical: bool = True) -> HealthRegistry:
    async def db() -> CheckResult:
        return CheckResult(status, output="db.internal:5432 refused the connection")

    registry = HealthRegistry()
    registry.add("postgresql:responseTime", FunctionCheck(db), critical=critical)
    return registry


async def get(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


@pytest.mark.parametrize(
    ("status", "critical", "code", "body_status"),
    [
        (Status.PASS, True, 200, "pass"),
        (Status.WARN, True, 200, "warn"),
        (Status.FAIL, False, 200, "warn"),
        (Status.FAIL, True, 503, "fail"),
    ],
)
async def test_readiness_answers_health_json(
    status: Status, critical: bool, code: int, body_status: str
) -> None:
    response = await get(HealthApp(registry_with(status, critical=critical)), "/ready")
    assert response.status_code == code
    assert response.headers["content-type"] == "application/health+json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"status": body_status}


async def test_details_are_hidden_unless_allowed() -> None:
    registry = registry_with(Status.FAIL)
    public = await get(HealthApp(registry), "/ready")
    assert "db.internal" not in public.text
    assert "postgresql" not in public.text

    def from_localhost(scope: Any) -> bool:
        return scope["client"][0] == "127.0.0.1"

    allowed = HealthApp(registry, details=from_localhost)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(allowed, client=("127.0.0.1", 1234)), base_url="http://t"
    ) as client:
        detailed = (await client.get("/ready")).json()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(allowed, client=("203.0.113.9", 1234)), base_url="http://t"
    ) as client:
        hidden = (await client.get("/ready")).json()
    assert detailed["checks"]["postgresql:responseTime"][0]["output"].startswith("db.internal")
    assert hidden == {"status": "fail"}


async def test_a_gate_that_raises_hides_details() -> None:
    def broken(scope: Any) -> bool:
        raise KeyError("client")

    response = await get(HealthApp(registry_with(Status.PASS), details=broken), "/ready")
    assert response.json() == {"status": "pass"}


async def test_liveness_does_not_run_the_readiness_checks() -> None:
    response = await get(HealthApp(registry_with(Status.FAIL)), "/live")
    assert response.status_code == 200
    assert response.json() == {"status": "pass"}
    assert (await get(HealthApp(registry_with(Status.FAIL)), "/startup")).status_code == 200


async def test_head_unknown_paths_and_methods() -> None:
    app = HealthApp(registry_with(Status.PASS), service=ServiceInfo(version="2"))
    head = await get(app, "/ready", "HEAD")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b'{"status":"pass","version":"2"}'))
    assert (await get(app, "/nope")).status_code == 404
    post = await get(app, "/ready", "POST")
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"


async def test_mounted_in_a_framework_and_served_for_real() -> None:
    registry = registry_with(Status.PASS)
    site = Starlette(routes=[Mount("/health", app=HealthApp(registry, service=ServiceInfo(release_id="7")))])
    with serve_asgi(site) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            for probe in ("live", "ready", "startup"):
                response = await client.get(f"/health/{probe}")
                assert response.status_code == 200, probe
                assert response.json() == {"status": "pass", "releaseId": "7"}
            assert (await client.get("/health/elsewhere")).status_code == 404


async def test_a_closed_registry_answers_fail() -> None:
    registry = registry_with(Status.PASS)
    await registry.aclose()
    response = await get(HealthApp(registry), "/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "fail"}


def test_the_app_checks_its_arguments() -> None:
    with pytest.raises(HealthTypeError):
        HealthApp(object())  # type: ignore[arg-type]
    with pytest.raises(HealthTypeError):
        HealthApp(HealthRegistry(), details="yes")  # type: ignore[arg-type]


def wsgi_get(app: WSGIHealthApp, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> Callable[[bytes], None]:
        seen["status"], seen["headers"] = status, dict(headers)
        return lambda _: None

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_the_wsgi_twin_answers_the_same() -> None:
    app = WSGIHealthApp(registry_with(Status.FAIL), details=True)
    try:
        status, headers, body = wsgi_get(app, "/health/ready")
        assert status == "503 Service Unavailable"
        assert headers["Content-Type"] == "application/health+json"
        document = json.loads(body)
        assert document["status"] == "fail"
        assert document["checks"]["postgresql:responseTime"][0]["status"] == "fail"
        assert wsgi_get(app, "/health/live")[0] == "200 OK"
        assert wsgi_get(app, "/health/live", "HEAD")[2] == b""
        assert wsgi_get(app, "/health/x")[0] == "404 Not Found"
        assert wsgi_get(app, "/health/ready", "DELETE")[0] == "405 Method Not Allowed"
    finally:
        app.close()


def test_the_wsgi_twin_builds_loop_bound_checks_on_its_loop() -> None:
    registry = HealthRegistry()
    app = WSGIHealthApp(registry)

    async def make() -> FunctionCheck:
        loop = asyncio.get_running_loop()

        async def same_loop() -> bool:
            return asyncio.get_running_loop() is loop

        return FunctionCheck(same_loop)

    try:
        registry.add("loop", app.call(make))
        assert wsgi_get(app, "/ready")[0] == "200 OK"
    finally:
        app.close()
