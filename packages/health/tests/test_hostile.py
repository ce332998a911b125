"""Hostile input: every public entry point raises only typed errors; the probes never answer 5xx to it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import buttress.health as package
from buttress.health import (
    BacklogCheck,
    BreakerCheck,
    CheckReport,
    CheckResult,
    DiskSpaceCheck,
    FunctionCheck,
    HealthApp,
    HealthConfigurationError,
    HealthError,
    HealthRegistry,
    HealthReport,
    HealthResponseError,
    HealthTypeError,
    HealthUnavailableError,
    HTTPCheck,
    InFlightMiddleware,
    MissingExtraError,
    PoolCheck,
    PostgresCheck,
    RedisCheck,
    ServiceInfo,
    ShutdownCoordinator,
    ShutdownReport,
    ShutdownState,
    SQLAlchemyCheck,
    Status,
    StatusChange,
    WSGIHealthApp,
    aggregate,
    parse_status,
    render_health,
)
from buttress.testing import (
    HostileTargets,
    acheck_hostile,
    check_hostile,
    check_hostile_asgi,
    check_hostile_wsgi,
)
from buttress.webhooks import MemoryOutbox

TARGETS = HostileTargets()


async def ok() -> bool:
    return True


def healthy_registry() -> HealthRegistry:
    registry = HealthRegistry()
    registry.add("db", FunctionCheck(ok))
    registry.add("cache", FunctionCheck(ok), critical=False, groups=("ready", "live"))
    return registry


async def benign(scope: Any, receive: Any, send: Any) -> None:
    if scope.get("type") != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Stats:
    in_use, max_size, waiting = 1, 4, 0


class Pooled:
    def stats(self) -> Stats:
        return Stats()


class Guarded:
    breaker_state = "closed"


@TARGETS.drives(
    "HealthRegistry",
    "CheckResult",
    "CheckReport",
    "ServiceInfo",
    "FunctionCheck",
    "DiskSpaceCheck",
    "PoolCheck",
    "BreakerCheck",
    "BacklogCheck",
    "HealthApp",
    "WSGIHealthApp",
    "ShutdownCoordinator",
    "InFlightMiddleware",
    "HTTPCheck",
    "RedisCheck",
    "SQLAlchemyCheck",
)
def test_the_constructors_type_their_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    check_hostile(HealthRegistry, timeout=5.0, cache_ttl=0.0)
    check_hostile(
        CheckResult, Status.PASS, observed_value=1.0, observed_unit="s", output="x", component_type="system"
    )
    check_hostile(CheckReport, "db", CheckResult(Status.PASS), True, now, 0.1)
    check_hostile(ServiceInfo, version="1", release_id="2", service_id="s", description="d")
    check_hostile(FunctionCheck, ok, downstream=False)
    check_hostile(DiskSpaceCheck, ".", warn_below=0.1, fail_below=0.05)
    check_hostile(PoolCheck, Pooled(), warn_at=0.9, fail_at=None, warn_when_waiting=True)
    check_hostile(BreakerCheck, Guarded())
    check_hostile(BacklogCheck, MemoryOutbox(), warn_above=10, fail_above=None, states=("pending",))
    check_hostile(HealthApp, healthy_registry(), details=False, service=None)
    # The app's own timeout goes through kwargs: a bare timeout= is the helper's option.
    check_hostile(WSGIHealthApp, healthy_registry(), details=False, service=None, kwargs={"timeout": None})
    check_hostile(ShutdownCoordinator, HealthRegistry(), drain_delay=1.0, grace=1.0, close_timeout=1.0)
    check_hostile(InFlightMiddleware, benign, ShutdownCoordinator(), exempt=("/health",))
    check_hostile(HTTPCheck, "http://127.0.0.1:9/health", client=None, timeout=1.0)
    check_hostile(RedisCheck.from_url, "redis://127.0.0.1:9/0", socket_timeout=1.0, cluster=False)
    check_hostile(RedisCheck, client=Redis())
    check_hostile(SQLAlchemyCheck, object(), query="SELECT 1")


@TARGETS.drives(
    "HealthReport",
    "ShutdownReport",
    "ShutdownState",
    "StatusChange",
    "HealthError",
    "HealthConfigurationError",
    "HealthTypeError",
    "HealthUnavailableError",
    "HealthResponseError",
    "MissingExtraError",
)
def test_the_records_and_errors_type_their_errors() -> None:
    report = CheckReport("db", CheckResult(Status.PASS), True, datetime(2026, 1, 1, tzinfo=UTC), 0.1)
    check_hostile(HealthReport, "ready", Status.PASS, (report,), output=None)
    check_hostile(ShutdownReport, True, 0, ("pool",), (("cache", "timed out"),), 1.0)
    check_hostile(ShutdownState, "running")
    check_hostile(StatusChange, "db", None, Status.PASS, report)
    check_hostile(HealthError, "message")
    check_hostile(HealthConfigurationError, "timeout", 5, "must be positive", show_value=True)
    check_hostile(HealthTypeError, "timeout", "a float", "5")
    check_hostile(HealthUnavailableError, "redis", "redis://:secret@cache:6379/0", "refused")
    check_hostile(HealthResponseError, "not JSON")
    check_hostile(MissingExtraError, "RedisCheck", "redis")


@TARGETS.drives("render_health", "parse_status", "aggregate", "Status")
def test_the_functions_type_their_errors() -> None:
    report = HealthReport("ready", Status.PASS)
    check_hostile(render_health, report, details=True, service=None)
    check_hostile(parse_status, b'{"status": "pass"}')
    check_hostile(aggregate, [(Status.PASS, True)])
    check_hostile(Status, "pass")


@TARGETS.drives(
    "HealthRegistry.add",
    "HealthRegistry.remove",
    "HealthRegistry.run",
    "HealthRegistry.subscribe",
    "HealthRegistry.drain",
)
async def test_the_registrys_methods_type_their_errors() -> None:
    registry = healthy_registry()
    await acheck_hostile(
        registry.add, "extra", FunctionCheck(ok), timeout=1.0, critical=True, groups=("ready",), cache_ttl=0.0
    )
    await acheck_hostile(registry.remove, "nothing")
    await acheck_hostile(registry.run, "ready")
    await acheck_hostile(registry.subscribe, print)
    await acheck_hostile(HealthRegistry().drain, "shutting down")


@TARGETS.drives(
    "ShutdownCoordinator.register",
    "ShutdownCoordinator.install_signal_handlers",
    "ShutdownCoordinator.shutdown",
)
async def test_the_coordinators_methods_type_their_errors() -> None:
    coordinator = ShutdownCoordinator(drain_delay=0)

    async def close() -> None:
        return None

    await acheck_hostile(coordinator.register, close, name="x")
    await acheck_hostile(coordinator.install_signal_handlers, (15,), max_examples=20)
    coordinator.remove_signal_handlers()
    await acheck_hostile(ShutdownCoordinator(drain_delay=0).shutdown, drain=True)


@pytest.mark.postgres
@TARGETS.drives("PostgresCheck")
async def test_postgres_entry_points_type_their_errors(postgres_pool: Any, postgres_dsn: str) -> None:
    await acheck_hostile(PostgresCheck, postgres_pool, query="SELECT 1")
    await acheck_hostile(
        PostgresCheck.connect, postgres_dsn, query="SELECT 1", min_size=0, max_size=1, max_examples=40
    )


async def test_the_probes_never_answer_5xx_to_a_client() -> None:
    await check_hostile_asgi(HealthApp(healthy_registry(), details=True, service=ServiceInfo(version="1")))


async def test_the_middleware_never_answers_5xx_to_a_client() -> None:
    await check_hostile_asgi(InFlightMiddleware(benign, ShutdownCoordinator(), exempt=("/health",)))


def test_the_wsgi_probes_never_answer_5xx_to_a_client() -> None:
    app = WSGIHealthApp(healthy_registry(), details=True)
    try:
        check_hostile_wsgi(app)
    finally:
        app.close()


async def test_a_probe_survives_checks_that_misbehave() -> None:
    class Evil:
        async def check(self) -> CheckResult:
            raise type("Weird", (Exception,), {"__str__": lambda self: 1 / 0})()

    async def forever() -> None:
        await asyncio.sleep(3600)

    registry = HealthRegistry()
    registry.add("evil", Evil())
    registry.add("slow", FunctionCheck(forever), timeout=0.01)
    report = await registry.ready()
    assert [c.status for c in report.checks] == [Status.FAIL, Status.FAIL]
    assert report.checks[0].result.output == "Weird"


def test_every_public_name_is_driven() -> None:
    TARGETS.assert_covers(
        package,
    )
