"""Static checks of buttress-health's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from typing import assert_type

import asyncpg
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy.ext.asyncio import AsyncEngine

from buttress.health import (
    BacklogCheck,
    BreakerCheck,
    CheckReport,
    CheckResult,
    DiskSpaceCheck,
    FunctionCheck,
    HealthApp,
    HealthCheck,
    HealthRegistry,
    HealthReport,
    HTTPCheck,
    InFlightMiddleware,
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


async def registry_types(pool: asyncpg.Pool, client: Redis, engine: AsyncEngine) -> None:
    registry = HealthRegistry(timeout=2.0, cache_ttl=1.0)
    postgres = await PostgresCheck.connect("postgresql://localhost/app")
    assert_type(postgres, PostgresCheck)
    assert_type(PostgresCheck(pool), PostgresCheck)
    assert_type(RedisCheck.from_url("redis://localhost"), RedisCheck)
    assert_type(RedisCheck(client=client), RedisCheck)
    assert_type(RedisCheck.from_url("redis://node-1:7000", cluster=True), RedisCheck)
    assert_type(RedisCheck(client=RedisCluster.from_url("redis://node-1:7000")), RedisCheck)
    assert_type(await SQLAlchemyCheck(engine).check(), CheckResult)
    assert_type(await HTTPCheck("http://billing/health").check(), CheckResult)
    checks: list[HealthCheck] = [
        postgres,
        DiskSpaceCheck("/"),
        FunctionCheck(ok),
        BacklogCheck(Outbox()),
        BreakerCheck(Breaker()),
        PoolCheck(Pooled()),
    ]
    registry.add("postgresql:responseTime", checks[0], critical=True, groups=("ready",))
    report = await registry.ready()
    assert_type(report, HealthReport)
    assert_type(report.status, Status)
    assert_type(report.checks, tuple[CheckReport, ...])
    assert_type(report.http_status, int)
    assert_type(aggregate([(Status.PASS, True)]), Status)
    assert_type(render_health(report, details=True, service=ServiceInfo(version="1")), bytes)
    assert_type(parse_status(b"{}"), Status)

    def on_change(change: StatusChange) -> None:
        assert_type(change.current, Status)

    unsubscribe = registry.subscribe(on_change)
    assert_type(unsubscribe(), None)


async def ok() -> bool:
    return True


class Outbox:
    async def counts(self) -> dict[object, int]:
        return {}


class Breaker:
    breaker_state = "closed"


class _Stats:
    in_use = 0
    max_size = 1
    waiting = 0


class Pooled:
    def stats(self) -> _Stats:
        return _Stats()


async def shutdown_types(app: HealthApp) -> None:
    coordinator = ShutdownCoordinator(HealthRegistry(), drain_delay=5, grace=20)
    assert_type(coordinator.register(app.registry), HealthRegistry)
    wrapped = InFlightMiddleware(app, coordinator, exempt=("/health",))
    assert_type(wrapped, InFlightMiddleware)
    report = await coordinator.shutdown()
    assert_type(report, ShutdownReport)
    assert_type(report.failed, tuple[tuple[str, str], ...])
    assert_type(coordinator.state, ShutdownState)
    wsgi = WSGIHealthApp(HealthRegistry())
    assert_type(wsgi.call(PostgresCheck.connect, "postgresql://localhost/app"), PostgresCheck)
