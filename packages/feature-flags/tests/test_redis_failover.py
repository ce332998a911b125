"""The Redis backends on a Redis Cluster whose primary is killed mid-run: a replica takes over.

Redis replicates asynchronously: a write the primary acknowledged but had not yet sent to its replica
dies with it. `through_failover` first waits until the replica holds everything written so far, so
every flag and assignment written before must be there after the failover.
"""

from __future__ import annotations

import pytest

from buttress.feature_flags import (
    FeatureFlagsUnavailableError,
    FlagDefinition,
    RedisFlagSource,
    RedisStickyStore,
)
from buttress.testing import RedisClusterServer, through_failover

PREFIX = "failover:"


@pytest.mark.redis
async def test_flags_survive_the_failover_and_changes_reach_watchers_again(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    url = redis_failover_cluster.url
    source = RedisFlagSource.from_url(url, prefix=PREFIX, cluster=True)
    watcher = RedisFlagSource.from_url(url, prefix=PREFIX, cluster=True)
    try:
        await source.put(FlagDefinition("checkout"))
        assert await watcher.wait_for_change(0.01) is False  # subscribed on the primary that dies
        failover = await through_failover(
            redis_failover_cluster, source.channel, source.load, unavailable=FeatureFlagsUnavailableError
        )
        assert set(failover.value.flags) == {"checkout"}
        # The watcher's subscription died with its primary: it says so, then subscribes again.
        for attempt in range(100):
            try:
                await source.put(FlagDefinition(f"after-{attempt}"))
                if await watcher.wait_for_change(0.5):
                    break
            except FeatureFlagsUnavailableError:
                continue
        else:
            pytest.fail("no change reached the watcher after the failover")
        assert "checkout" in (await watcher.load()).flags
    finally:
        await source.aclose()
        await watcher.aclose()


@pytest.mark.redis
async def test_sticky_assignments_survive_the_failover_of_their_primary(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    url = redis_failover_cluster.url
    writer = RedisStickyStore.from_url(url, prefix=PREFIX, cluster=True)
    reader = RedisStickyStore.from_url(url, prefix=PREFIX, cluster=True)
    try:
        writer.set("checkout", "u1", "blue")
        writer.set("search", "u1", "v2")
        await writer.flush()
        await through_failover(
            redis_failover_cluster,
            f"{PREFIX}u1",
            lambda: reader.prefetch("u1"),
            unavailable=FeatureFlagsUnavailableError,
        )
        assert (reader.get("checkout", "u1"), reader.get("search", "u1")) == ("blue", "v2")
        reader.set("checkout", "u1", "green")  # a later guess loses to the kept first assignment
        await reader.flush()
        await reader.prefetch("u1")
        assert reader.get("checkout", "u1") == "blue"
    finally:
        await writer.aclose()
        await reader.aclose()
