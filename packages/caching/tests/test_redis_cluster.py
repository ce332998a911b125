"""RedisCache on a real 3-master Redis Cluster: the contract, and multi-key work across hash slots."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from buttress.caching import RedisCache, TieredCache
from buttress.core import MISSING
from buttress.testing import CacheProviderContract


class TestRedisClusterCache(CacheProviderContract):
    @pytest.fixture(autouse=True)
    def _cluster(self, redis_cluster_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_cluster_url, redis_prefix

    async def make_cache(self) -> Any:
        return RedisCache[Any].from_url(self.url, prefix=self.prefix, cluster=True)


@pytest.fixture
async def cluster_cache(redis_cluster_url: str, redis_prefix: str) -> Any:
    cache = RedisCache[Any].from_url(redis_cluster_url, prefix=redis_prefix, cluster=True)
    yield cache
    await cache.clear()
    await cache.aclose()


async def test_bulk_operations_span_slots(cluster_cache: RedisCache[Any]) -> None:
    items = {f"key-{i}": i for i in range(300)}  # spread over every master
    await cluster_cache.set_many(items, ttl=60)
    found = await cluster_cache.get_many([*items, "absent"])
    assert found == items


async def test_tags_and_patterns_span_slots(cluster_cache: RedisCache[Any]) -> None:
    for i in range(50):
        await cluster_cache.set(f"user:{i}", i, tags=["users"])
        await cluster_cache.set(f"team:{i}", i)
    assert await cluster_cache.invalidate_tags("users") == 50
    assert await cluster_cache.get("user:7") is MISSING
    assert await cluster_cache.delete_pattern("team:*") == 50
    assert await cluster_cache.get_many([f"team:{i}" for i in range(50)]) == {}


async def test_one_computation_across_two_cluster_clients(redis_cluster_url: str, redis_prefix: str) -> None:
    first = RedisCache[int].from_url(redis_cluster_url, prefix=redis_prefix, cluster=True)
    second = RedisCache[int].from_url(redis_cluster_url, prefix=redis_prefix, cluster=True)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return 99

    try:
        results = await asyncio.gather(
            *(cache.get_or_compute("shared", load, ttl=30) for cache in (first, second) for _ in range(20))
        )
        assert set(results) == {99}
        assert calls == 1
    finally:
        await first.clear()
        await first.aclose()
        await second.aclose()


async def _eventually(check: Any, within: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_tiered_caches_on_a_cluster_evict_each_other_s_l1_copies(
    redis_cluster_url: str, redis_prefix: str
) -> None:
    """TieredCache's invalidations (PUBLISH, which a cluster sends to every node) reach every process."""
    caches = [
        TieredCache[str].from_url(redis_cluster_url, prefix=redis_prefix, cluster=True, l1_ttl=30)
        for _ in range(2)
    ]
    a, b = caches
    try:
        for cache in caches:
            assert await cache.wait_until_subscribed()
        await a.set("k", "old", tags=["t"])

        async def served_from_l1() -> bool:
            # a's notice of its own write crosses the cluster bus, so it may evict b's first copy.
            hits = b.l1_stats.hits
            return await b.get("k") == "old" and b.l1_stats.hits == hits + 1

        assert await _eventually(served_from_l1)  # b holds an L1 copy
        await a.set("k", "new")
        assert await _eventually(lambda: _reads(b, "k", "new")), "b kept serving its L1 copy"
        await a.invalidate_tags("t")  # the tag's members, on whichever primaries they live
        assert await _eventually(lambda: _reads(b, "k", MISSING)), "b kept a copy of a tagged entry"
    finally:
        await a.clear()
        for cache in caches:
            await cache.aclose()


async def _reads(cache: TieredCache[str], key: str, expected: object) -> bool:
    return await cache.get(key) == expected
