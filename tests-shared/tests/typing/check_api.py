"""Static checks of buttress-testing's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_type

from buttress.core import CacheProvider, Clock
from buttress.testing import (
    CacheProviderContract,
    FakeClock,
    PostgresServer,
    PostgresService,
    RedisServer,
    RedisService,
    ServiceUnavailable,
    check_bound_when_made,
    discover_postgres,
    discover_redis,
    eventually,
    free_port,
    open_connections,
)


def fake_clock_is_a_clock() -> Clock:
    clock = FakeClock()
    assert_type(clock.now(), datetime)
    assert_type(clock.monotonic(), float)
    clock.advance(1.5)
    return clock


def discovery_results() -> None:
    assert_type(discover_redis({}), RedisService | ServiceUnavailable)
    assert_type(discover_postgres({}), PostgresService | ServiceUnavailable)
    assert_type(free_port(), int)
    assert_type(check_bound_when_made("buttress.auth._metrics:TELEMETRY", "pass"), list[str])
    assert_type(open_connections(6379), int)


def servers() -> None:
    with RedisServer() as redis:
        assert_type(redis.url, str)
    with PostgresServer() as postgres:
        assert_type(postgres.dsn, str)


class MyContract(CacheProviderContract):
    async def make_cache(self) -> CacheProvider[Any]:
        raise NotImplementedError


async def eventually_returns_what_the_check_returns() -> None:
    async def report() -> dict[str, int] | None:
        return {"hits": 1}

    assert_type(await eventually(report), dict[str, int] | None)
    assert_type(await eventually(lambda: 1 + 1 == 2, timeout=2, interval=0.05, what="sums"), bool)
