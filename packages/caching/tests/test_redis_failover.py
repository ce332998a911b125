"""RedisCache on a Redis Cluster whose primary is killed mid-run: a replica takes over.

Redis replicates asynchronously: an entry the primary acknowledged but had not yet sent to its
replica dies with it (a cache can lose entries; it recomputes them). `through_failover` first waits
until the replica holds everything written so far, so those entries must all be there afterwards.
"""

from __future__ import annotations

import asyncio

import pytest

from buttress.caching import CachingUnavailableError, RedisCache, TieredCache
from buttress.testing import RedisClusterServer, through_failover

PREFIX = "failover:"


@pytest.mark.redis
async def test_entries_and_tags_survive_the_failover_of_their_primary(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    # strict: an outage is an error the test sees, not a miss the cache hides.
    cache = RedisCache[str].from_url(redis_failover_cluster.url, prefix=PREFIX, cluster=True, strict=True)
    try:
        await cache.set("{user-1}:name", "Ann", ttl=60, tags=["users"])
        await cache.set("{user-1}:mail", "ann@example.com", ttl=60)
        failover = await through_failover(
            redis_failover_cluster,
            f"{PREFIX}{{user-1}}:name",
            lambda: cache.get("{user-1}:name"),
            unavailable=CachingUnavailableError,
        )
        assert failover.value == "Ann"
        assert await cache.get("{user-1}:mail") == "ann@example.com"
        assert await cache.invalidate_tags("users") == 1  # the tag's set came through too
        await cache.set("{user-1}:name", "Bea", ttl=60)  # the new primary takes writes
        assert await cache.get("{user-1}:name") == "Bea"
    finally:
        await cache.clear()
        await cache.aclose()


@pytest.mark.redis
async def test_tiered_invalidations_flow_again_after_the_failover_of_the_channel_s_primary(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    """The subscription dies with its node; L1 is off meanwhile, then it subscribes where the slot went."""
    cluster = redis_failover_cluster
    a, b = (TieredCache[str].from_url(cluster.url, prefix=PREFIX, cluster=True, l1_ttl=30) for _ in range(2))
    try:
        assert await a.wait_until_subscribed()
        assert await b.wait_until_subscribed()
        await a.set("k", "old")
        cluster.wait_for_replicas()
        cluster.primary_for(b.channel).kill()
        cluster.wait_for_failover()
        for _ in range(200):  # b notices the dead subscription, then resubscribes on the new primary
            if await b.wait_until_subscribed(within=0.5) and b.l1_active:
                break
        else:
            pytest.fail("b never subscribed again")
        assert await b.get("k") == "old"  # the entry survived on the replica
        for attempt in range(200):
            await a.set("k", f"new-{attempt}")  # a write a and b both see through L2 and the channel
            if await b.get("k") == f"new-{attempt}":
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("b kept serving its L1 copy after the failover")
    finally:
        await a.clear()
        for cache in (a, b):
            await cache.aclose()
