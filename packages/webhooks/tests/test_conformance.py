"""buttress-testing's suites for every Protocol users may implement, on each of this package's backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from buttress.testing import (
    EndpointStoreContract,
    FakeClock,
    OutboxContract,
    PostgresSchema,
    ReplayGuardContract,
)
from buttress.webhooks import (
    Endpoint,
    EndpointStore,
    MemoryEndpointStore,
    MemoryOutbox,
    MemoryReplayGuard,
    PostgresEndpointStore,
    PostgresOutbox,
    RedisReplayGuard,
    RetrySchedule,
)


class TestMemoryEndpointStore(EndpointStoreContract):
    async def make_store(self) -> MemoryEndpointStore:
        return MemoryEndpointStore()

    def make_endpoint(self, **fields: Any) -> Endpoint:
        return Endpoint(**fields)


@pytest.mark.postgres
class TestPostgresEndpointStore(EndpointStoreContract):
    @pytest.fixture(autouse=True)
    def _schema(self, postgres_schema: PostgresSchema, postgres_table: str) -> None:
        self.schema = postgres_schema
        self.table = postgres_table

    async def make_store(self) -> PostgresEndpointStore:
        store = await PostgresEndpointStore.connect(
            self.schema.dsn, table=self.table, max_size=2, server_settings=self.schema.server_settings
        )
        await store.create_schema()
        return store

    def make_endpoint(self, **fields: Any) -> Endpoint:
        return Endpoint(**fields)


class TestMemoryOutbox(OutboxContract):
    async def make_outbox(
        self, endpoints: EndpointStore, *, schedule: RetrySchedule, clock: FakeClock
    ) -> MemoryOutbox:
        return MemoryOutbox(endpoints, schedule=schedule, clock=clock)


@pytest.mark.postgres
class TestPostgresOutbox(OutboxContract):
    @pytest.fixture(autouse=True)
    def _pool(self, postgres_pool: asyncpg.Pool[Any], postgres_table: str) -> None:
        self.pool = postgres_pool
        self.table = postgres_table

    async def make_outbox(
        self, endpoints: EndpointStore, *, schedule: RetrySchedule, clock: FakeClock
    ) -> PostgresOutbox:
        outbox = PostgresOutbox(self.pool, endpoints, table=self.table, schedule=schedule, clock=clock)
        await outbox.create_schema()
        return outbox


class TestMemoryReplayGuard(ReplayGuardContract):
    @pytest.fixture(autouse=True)
    def _clock(self) -> None:
        self.clock = FakeClock()

    async def make_guard(self) -> MemoryReplayGuard:
        return MemoryReplayGuard(clock=self.clock)

    async def wait(self, guard: Any, seconds: float) -> None:
        self.clock.advance(seconds)


@pytest.mark.redis
class TestRedisReplayGuard(ReplayGuardContract):
    @pytest.fixture(autouse=True)
    async def _client(self, redis_url: str, redis_prefix: str) -> AsyncIterator[None]:
        self.client: Redis = Redis.from_url(redis_url)
        self.prefix = redis_prefix
        yield
        await self.client.aclose()

    async def make_guard(self) -> RedisReplayGuard:
        return RedisReplayGuard(self.client, prefix=self.prefix)
