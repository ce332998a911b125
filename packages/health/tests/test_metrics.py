"""The OpenTelemetry instruments, read back through buttress-testing's metric_reader."""

from __future__ import annotations

import asyncio
from typing import Any

from buttress.health import (
    CheckResult,
    FunctionCheck,
    HealthRegistry,
    InFlightMiddleware,
    ShutdownCoordinator,
    Status,
)
from buttress.testing import RecordedMetrics, check_bound_when_made


async def test_check_durations_statuses_and_changes_are_recorded(metric_reader: RecordedMetrics) -> None:
    state = {"status": Status.PASS}

    async def db() -> CheckResult:
        return CheckResult(state["status"])

    registry = HealthRegistry()
    registry.add("metrics-db", FunctionCheck(db))
    await registry.ready()
    state["status"] = Status.FAIL
    await registry.ready()
    await registry.ready()
    assert metric_reader.count("buttress.health.check.duration", {"health.check": "metrics-db"}) == 3
    assert metric_reader.count("buttress.health.check.duration", {"health.status": "fail"}) >= 2
    changes = metric_reader.value("buttress.health.status.changes", {"health.check": "metrics-db"})
    assert changes == 2  # unknown -> pass, pass -> fail
    gauge = {
        point.attributes["health.status"]: point.value
        for point in metric_reader.points("buttress.health.check.status", {"health.check": "metrics-db"})
    }
    assert gauge == {"pass": 0.0, "warn": 0.0, "fail": 1.0}


async def test_in_flight_requests_and_shutdowns_are_recorded(metric_reader: RecordedMetrics) -> None:
    coordinator = ShutdownCoordinator(drain_delay=0)
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()

    app = InFlightMiddleware(slow, coordinator)

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        return None

    requests = [asyncio.ensure_future(app({"type": "http", "path": "/"}, nothing, ignore)) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert metric_reader.value("buttress.health.requests.in_flight") >= 2
    release.set()
    await asyncio.gather(*requests)
    await coordinator.shutdown()
    assert metric_reader.count("buttress.health.shutdown.duration", {"health.shutdown.outcome": "clean"}) == 1
    assert "buttress.health.shutdown.duration" in metric_reader.names()


def test_making_the_redis_check_binds_the_package_s_instruments() -> None:
    make = "from buttress.health import RedisCheck; RedisCheck.from_url('redis://localhost')"
    assert "buttress.health.check.duration" in check_bound_when_made(
        "buttress.health._metrics:TELEMETRY", make
    )
