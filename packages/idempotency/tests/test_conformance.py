"""Every store passes buttress-testing's IdempotencyStoreContract; Redis and PostgreSQL on real servers."""

from __future__ import annotations

from typing import Any

import pytest

from buttress.idempotency import MemoryStore, PostgresStore, RedisStore
from buttress.testing import FakeClock, IdempotencyStoreContract, PostgresSchema


class TestMemoryStore(IdempotencyStoreContract):
    async def make_store(self) -> Any:
        return MemoryStore()


class TestMemoryStoreOnAFakeClock(IdempotencyStoreContract):
    """Leases and retention follow the injected clock, not the wall."""

    async def make_store(self) -> Any:
        self.clock = FakeClock()
        return MemoryStore(clock=self.clock)

    async def pass_time(self, seconds: float) -> None:
        self.clock.advance(seconds)


class TestRedisStore(IdempotencyStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_url, redis_prefix

    async def make_store(self) -> Any:
        return RedisStore.from_url(self.url, prefix=self.prefix)


class TestPostgresStore(IdempotencyStoreContract):
    @pytest.fixture(autouse=True)
    def _postgres(self, postgres_schema: PostgresSchema) -> None:
        self.schema = postgres_schema

    async def make_store(self) -> Any:
        store = await PostgresStore.connect(
            self.schema.dsn, table=f"{self.schema.name}.contract", max_size=self.concurrency
        )
        await store.create_schema()
        await store.reap()
        await store._call("truncate", "execute", f"TRUNCATE {self.schema.name}.contract")
        return store


class TestRedisStoreWithoutBatching(TestRedisStore):
    """Each operation its own EVALSHA: the same contract holds."""

    async def make_store(self) -> Any:
        return RedisStore.from_url(self.url, prefix=self.prefix, batching=False)


class TestRedisStoreOnACluster(IdempotencyStoreContract):
    """The same contract on a real 3-primary Redis Cluster: batches split per hash slot."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis_cluster_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_cluster_url, redis_prefix

    async def make_store(self) -> Any:
        return RedisStore.from_url(self.url, prefix=self.prefix, cluster=True)


class TestRedisStoreOnAClusterWithoutBatching(TestRedisStoreOnACluster):
    async def make_store(self) -> Any:
        return RedisStore.from_url(self.url, prefix=self.prefix, cluster=True, batching=False)
