"""Every backend passes buttress-testing's CacheProviderContract; the Redis ones against real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from buttress.caching import MemoryCache, RedisCache, TieredCache
from buttress.testing import CacheProviderContract


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
        cache = TieredCache[Any](RedisCache[Any].from_url(self.url, prefix=self.prefix), l1_max_size=500)
        assert await cache.wait_until_subscribed()
        return cache
