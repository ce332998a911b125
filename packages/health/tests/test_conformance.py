"""buttress-testing's HealthCheckContract over every check this package ships."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import create_async_engine

from buttress.health import (
    BacklogCheck,
    BreakerCheck,
    CheckResult,
    DiskSpaceCheck,
    FunctionCheck,
    HealthApp,
    HealthRegistry,
    HTTPCheck,
    PoolCheck,
    PostgresCheck,
    RedisCheck,
    SQLAlchemyCheck,
    Status,
)
from buttress.pooling import Pool
from buttress.testing import HealthCheckContract, PostgresService, RedisService, free_port, serve_asgi
from buttress.webhooks import MemoryOutbox

from .test_local import ChannelFactory


@pytest.mark.postgres
class TestPostgresCheck(HealthCheckContract):
    @pytest.fixture(autouse=True)
    def _service(self, postgres_service: PostgresService) -> None:
        self.dsn = postgres_service.dsn

    async def make_check(self) -> Any:
        return await PostgresCheck.connect(self.dsn)

    async def make_failing_check(self) -> Any:
        check = await PostgresCheck.connect(self.dsn, min_size=0)
        check._address = "postgresql://127.0.0.1/unreachable"
        await check.pool.close()
        return check


class DisposingCheck(SQLAlchemyCheck):
    """The engine is the application's; here the test is the application, and disposes of it."""

    async def aclose(self) -> None:
        await self.engine.dispose()


@pytest.mark.postgres
class TestSQLAlchemyCheck(HealthCheckContract):
    @pytest.fixture(autouse=True)
    def _service(self, postgres_service: PostgresService) -> None:
        self.url = postgres_service.dsn.replace("postgresql://", "postgresql+asyncpg://")

    async def make_check(self) -> Any:
        return DisposingCheck(create_async_engine(self.url))

    async def make_failing_check(self) -> Any:
        return DisposingCheck(create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"))


@pytest.mark.redis
class TestRedisCheck(HealthCheckContract):
    @pytest.fixture(autouse=True)
    def _service(self, redis_service: RedisService) -> None:
        self.url = redis_service.url

    async def make_check(self) -> Any:
        return RedisCheck.from_url(self.url)

    async def make_failing_check(self) -> Any:
        return RedisCheck.from_url(f"redis://127.0.0.1:{free_port()}/0")


@pytest.mark.redis
class TestRedisCheckOnACluster(HealthCheckContract):
    """The same contract on the 3-primary Redis Cluster: PING to every primary."""

    @pytest.fixture(autouse=True)
    def _cluster(self, redis_cluster_url: str) -> None:
        self.url = redis_cluster_url

    async def make_check(self) -> Any:
        return RedisCheck.from_url(self.url, cluster=True)

    async def make_failing_check(self) -> Any:
        return RedisCheck.from_url(f"redis://127.0.0.1:{free_port()}/0", cluster=True)


class TestHTTPCheck(HealthCheckContract):
    @pytest_asyncio.fixture(autouse=True)
    async def _server(self) -> AsyncIterator[None]:
        with serve_asgi(HealthApp(HealthRegistry())) as base:
            self.base = base
            yield

    async def make_check(self) -> Any:
        return HTTPCheck(f"{self.base}/ready")

    async def make_failing_check(self) -> Any:
        return HTTPCheck(f"http://127.0.0.1:{free_port()}/ready", timeout=2)


class TestDiskSpaceCheck(HealthCheckContract):
    @pytest.fixture(autouse=True)
    def _path(self, tmp_path: Path) -> None:
        self.path = tmp_path

    async def make_check(self) -> Any:
        return DiskSpaceCheck(self.path, warn_below=0.0, fail_below=0.0)

    async def make_failing_check(self) -> Any:
        return DiskSpaceCheck(self.path, warn_below=1.0, fail_below=1.0)


class TestPoolCheck(HealthCheckContract):
    async def make_check(self) -> Any:
        return PoolCheck(Pool(ChannelFactory(), min_size=0, max_size=4))

    async def make_failing_check(self) -> Any:
        pool = Pool(ChannelFactory(), min_size=0, max_size=1)
        await pool.acquire()
        return PoolCheck(pool, fail_at=1.0)


class Breaker(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"


class Guarded:
    def __init__(self, state: Breaker) -> None:
        self.breaker_state = state


class TestBreakerCheck(HealthCheckContract):
    async def make_check(self) -> Any:
        return BreakerCheck(Guarded(Breaker.CLOSED))

    async def make_failing_check(self) -> Any:
        return BreakerCheck(Guarded(Breaker.OPEN))


class TestBacklogCheck(HealthCheckContract):
    async def make_check(self) -> Any:
        return BacklogCheck(MemoryOutbox(), warn_above=10)


class TestFunctionCheck(HealthCheckContract):
    healthy: ClassVar[frozenset[str]] = frozenset({"pass", "warn"})

    async def make_check(self) -> Any:
        async def measured() -> CheckResult:
            return CheckResult(Status.PASS, observed_value=1.5, observed_unit="s")

        return FunctionCheck(measured)

    async def make_failing_check(self) -> Any:
        async def down() -> bool:
            return False

        return FunctionCheck(down)
