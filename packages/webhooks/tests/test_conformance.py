"""buttress-testing's suites for every Protocol users may implement, on each of this package's backends.

The suites are duck-typed: the hooks here build this package's records for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
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
    Attempt,
    Claim,
    DeliveryStatus,
    Endpoint,
    EndpointStore,
    MemoryEndpointStore,
    MemoryOutbox,
    MemoryReplayGuard,
    Outbox,
    Outcome,
    PostgresEndpointStore,
    PostgresOutbox,
    RedisReplayGuard,
    ReplayGuard,
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


class WebhooksOutboxContract(OutboxContract):
    """`OutboxContract` over this package's records, and the Protocol's own isinstance check."""

    def make_endpoint(self, **fields: Any) -> Endpoint:
        return Endpoint(**fields)

    async def make_endpoint_store(self, endpoints: Sequence[Endpoint]) -> MemoryEndpointStore:
        return MemoryEndpointStore(endpoints)

    def make_schedule(self, delays: tuple[float, ...]) -> RetrySchedule:
        return RetrySchedule(delays, jitter=0)

    def make_outcome(
        self,
        claim: Claim,
        status: str,
        *,
        next_attempt_at: datetime | None,
        attempted_at: datetime,
        status_code: int | None,
        error: str | None,
    ) -> Outcome:
        logged = "delivered" if status == "delivered" else "retry"
        attempt = Attempt(
            claim.delivery_id,
            claim.message_id,
            claim.endpoint_id,
            claim.attempt,
            attempted_at,
            status_code,
            0.0,
            "",
            error,
            logged,
        )
        return Outcome(claim, DeliveryStatus(status), next_attempt_at, attempt)

    async def test_it_is_the_protocol(self, outbox: Any) -> None:
        assert isinstance(outbox, Outbox)


class TestMemoryOutbox(WebhooksOutboxContract):
    async def make_outbox(
        self, endpoints: EndpointStore, *, schedule: RetrySchedule, clock: FakeClock
    ) -> MemoryOutbox:
        return MemoryOutbox(endpoints, schedule=schedule, clock=clock)


@pytest.mark.postgres
class TestPostgresOutbox(WebhooksOutboxContract):
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


class WebhooksReplayGuardContract(ReplayGuardContract):
    """`ReplayGuardContract`, and the Protocol's own isinstance check."""

    async def test_it_is_the_protocol(self, guard: Any) -> None:
        assert isinstance(guard, ReplayGuard)


class TestMemoryReplayGuard(WebhooksReplayGuardContract):
    @pytest.fixture(autouse=True)
    def _clock(self) -> None:
        self.clock = FakeClock()

    async def make_guard(self) -> MemoryReplayGuard:
        return MemoryReplayGuard(clock=self.clock)

    async def wait(self, guard: Any, seconds: float) -> None:
        self.clock.advance(seconds)


@pytest.mark.redis
class TestRedisReplayGuard(WebhooksReplayGuardContract):
    @pytest.fixture(autouse=True)
    async def _client(self, redis_url: str, redis_prefix: str) -> AsyncIterator[None]:
        self.client: Redis = Redis.from_url(redis_url)
        self.prefix = redis_prefix
        yield
        await self.client.aclose()

    async def make_guard(self) -> RedisReplayGuard:
        return RedisReplayGuard(self.client, prefix=self.prefix)


@pytest.mark.redis
class TestRedisReplayGuardOnACluster(WebhooksReplayGuardContract):
    """The same contract on a real 3-primary Redis Cluster: each id is one key, in its own slot."""

    @pytest.fixture(autouse=True)
    def _cluster(self, redis_cluster_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_cluster_url, redis_prefix

    async def make_guard(self) -> RedisReplayGuard:
        return RedisReplayGuard.from_url(self.url, prefix=self.prefix, cluster=True)
