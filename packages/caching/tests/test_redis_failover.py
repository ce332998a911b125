"""RedisCache on a Redis Cluster whose primary is killed mid-run: a replica takes over.

Redis replicates asynchronously: an entry the primary acknowledged but had not yet sent to its
replica dies with it (a cache can lose entries; it recomputes them). `through_failover` first waits
until the replica holds everything written so far, so those entries must all be there afterwards.
"""

from __future__ import annotations

import pytest

from buttress.caching import CachingUnavailableError, RedisCache
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
