"""Every cache passes buttress-testing's CacheProviderContract, and every storage its CacheStorageContract.

The Redis and tiered ones run against real Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from buttress.caching import (
    Cache,
    Entry,
    MemoryCache,
    MemoryStorage,
    RedisCache,
    RedisStorage,
    TieredCache,
    TieredStorage,
)
from buttress.testing import CacheProviderContract, CacheStorageContract

# --- the caches ----------------------------------------------------------------------------------


class TestMemoryCache(CacheProviderContract):
    async def make_cache(self) -> Any:
        return MemoryCache[Any](max_size=1_000)


class TestRedisCache(CacheProviderContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_url, redis_prefix

    async def make_cache(self) -> Any:
        return RedisCache[Any].from_url(self.url, prefix=self.prefix)


class TestRedisCacheWithStaleServing(TestRedisCache):
    """Keeping values past their TTL for stale-while-revalidate must not make them visible to get()."""

    async def make_cache(self) -> Any:
        return RedisCache[Any].from_url(self.url, prefix=self.prefix, stale_ttl=30)


class TestTieredCache(CacheProviderContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_url, redis_prefix

    async def make_cache(self) -> Any:
        cache = TieredCache[Any].from_url(self.url, prefix=self.prefix, l1_max_size=500)
        assert await cache.wait_until_subscribed()
        return cache


class TestCacheOverATieredStorageOfTwoMemoryStorages(CacheProviderContract):
    """The front works over any storage: here a tiered storage whose tiers are both in memory."""

    @pytest.fixture(autouse=True)
    async def _redis(self, redis_url: str, redis_prefix: str) -> AsyncIterator[None]:
        self.client, self.prefix = Redis.from_url(redis_url), redis_prefix
        yield
        await self.client.aclose()

    async def make_cache(self) -> Any:
        storage = TieredStorage[Any](
            MemoryStorage(), MemoryStorage(), client=self.client, channel=f"{self.prefix}inv"
        )
        assert await storage.wait_until_subscribed()
        return Cache[Any](storage, max_concurrency=20)  # within the client's pool


# --- the storages --------------------------------------------------------------------------------


class StorageContract(CacheStorageContract):
    def make_entry(
        self,
        value: bytes,
        expires_at: float | None = None,
        stale_until: float | None = None,
        delta: float = 0.0,
    ) -> Entry[bytes]:
        return Entry(value, expires_at, stale_until, delta)


class TestMemoryStorage(StorageContract):
    async def make_storage(self) -> Any:
        return MemoryStorage[bytes](max_size=1_000)


class TestRedisStorage(StorageContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_url, redis_prefix

    async def make_storage(self) -> Any:
        return RedisStorage.from_url(self.url, prefix=self.prefix)


class TestTieredStorage(StorageContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_url, redis_prefix

    async def make_storage(self) -> Any:
        storage = TieredStorage.from_url(self.url, prefix=self.prefix, l1_max_size=500)
        assert await storage.wait_until_subscribed()
        return storage
