"""RedisRateLimiter on a Redis Cluster whose primary is killed mid-run: the count is kept.

Redis replicates asynchronously: a take the primary acknowledged but had not yet sent to its replica
dies with it (the bucket then allows one more send than it should). `through_failover` first waits
until the replica holds everything written so far, so every token taken before is still gone after.
"""

from __future__ import annotations

import pytest

from buttress.notifications import NotificationsUnavailableError, Rate, RedisRateLimiter
from buttress.testing import RedisClusterServer, through_failover

PREFIX = "failover:"


@pytest.mark.redis
async def test_a_bucket_s_count_survives_the_failover_of_its_primary(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    limiter = RedisRateLimiter.from_url(redis_failover_cluster.url, prefix=PREFIX, cluster=True)
    rate = Rate(3, 3600)  # three sends an hour: no token comes back during the test
    try:
        assert [await limiter.acquire("recipient:u1", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
        failover = await through_failover(
            redis_failover_cluster,
            f"{PREFIX}recipient:u1",
            lambda: limiter.acquire("recipient:u1", rate),
            unavailable=NotificationsUnavailableError,
        )
        assert failover.value > 0  # the fourth send waits: the three taken were kept
        assert await limiter.acquire("recipient:u2", rate) == 0.0  # other buckets are served
    finally:
        await limiter.aclose()
