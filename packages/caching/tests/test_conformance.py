"""Every cache passes buttress-testing's CacheProviderContract, and every storage its CacheStorageContract.

The Redis and tiered ones run against real Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
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
    StoredItem,
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


class TestTieredCacheWithTracking(TestTieredCache):
    async def make_cache(self) -> Any:
        cache = TieredCache[Any].from_url(
            self.url, prefix=self.prefix, l1_max_size=500, invalidation="tracking"
        )
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


class TestTieredStorageWithTracking(TestTieredStorage):
    async def make_storage(self) -> Any:
        storage = TieredStorage.from_url(
            self.url, prefix=self.prefix, l1_max_size=500, invalidation="tracking"
        )
        assert await storage.wait_until_subscribed()
        return storage


# --- the storage suite catches a broken storage --------------------------------------------------


class KeepsForever(MemoryStorage[bytes]):
    """Ignores keep_for."""

    async def write(self, items: Sequence[StoredItem[bytes]], tags: Sequence[str] = ()) -> None:
        await super().write([(key, entry, None) for key, entry, _ in items], tags)


class RemovesEveryTag(MemoryStorage[bytes]):
    """Removes every key on any tag."""

    async def remove_tags(self, tags: Sequence[str]) -> list[str]:
        return [key for key in list(self._items) if await self.remove(key)]


class SharesItsLock(MemoryStorage[bytes]):
    """Hands the lock to everyone who asks."""

    async def lock(self, key: str, token: str, ttl: float) -> bool | None:
        return True


class ForgetsOrder(MemoryStorage[bytes]):
    """Answers read_many in sorted order instead of the order asked."""

    async def read_many(self, keys: Sequence[str]) -> list[Entry[bytes] | None]:
        return await super().read_many(sorted(keys))


@pytest.mark.parametrize(
    ("broken", "check"),
    [
        (KeepsForever, "test_an_entry_goes_after_its_keep_for"),
        (RemovesEveryTag, "test_remove_tags_removes_exactly_the_tagged_keys"),
        (SharesItsLock, "test_a_lock_has_one_holder_at_a_time"),
        (SharesItsLock, "test_concurrent_lockers_get_one_lock"),
        (ForgetsOrder, "test_a_batch_write_is_read_back_in_order"),
    ],
)
async def test_the_storage_suite_fails_a_storage_that_breaks_the_protocol(
    broken: type[MemoryStorage[bytes]], check: str
) -> None:
    """The suite a user runs on their own storage notices each of these flaws."""

    class Suite(StorageContract):
        short_keep = 0.05
        expiry_wait = 0.3

        async def make_storage(self) -> Any:
            return broken()

    suite = Suite()
    storage = await suite.make_storage()
    with pytest.raises(AssertionError):
        await getattr(suite, check)(storage)
    if "lock" not in check:  # a memory storage has no lock to check
        await getattr(suite, check)(MemoryStorage[bytes]())  # the check passes on a correct storage
