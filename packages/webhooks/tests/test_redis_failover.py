"""RedisReplayGuard on a Redis Cluster whose primary is killed mid-run: no delivery is let in twice.

Redis replicates asynchronously: an id the primary acknowledged but had not yet sent to its replica
dies with it, and its delivery could be processed again. `through_failover` first waits until the
replica holds everything written so far, so every id marked before must still be refused after.
"""

from __future__ import annotations

import pytest

from buttress.testing import RedisClusterServer, through_failover
from buttress.webhooks import RedisReplayGuard, ReplayStatus, WebhooksUnavailableError

PREFIX = "failover:"


@pytest.mark.redis
async def test_seen_and_in_flight_ids_survive_the_failover_of_their_primary(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    guard = RedisReplayGuard.from_url(redis_failover_cluster.url, prefix=PREFIX, cluster=True)
    try:
        done = await guard.claim("{evt-1}:done", 30)
        assert done.status is ReplayStatus.CLAIMED
        await guard.complete("{evt-1}:done", 3600)
        held = await guard.claim("{evt-1}:held", 30)
        assert held.status is ReplayStatus.CLAIMED
        failover = await through_failover(
            redis_failover_cluster,
            f"{PREFIX}{{evt-1}}:done",
            lambda: guard.claim("{evt-1}:done", 30),
            unavailable=WebhooksUnavailableError,
        )
        assert failover.value.status is ReplayStatus.DONE  # the replay is still refused
        assert (await guard.claim("{evt-1}:held", 30)).status is ReplayStatus.IN_FLIGHT
        await guard.release("{evt-1}:held", held.token)  # its holder can still let it go
        assert (await guard.claim("{evt-1}:held", 30)).status is ReplayStatus.CLAIMED
    finally:
        await guard.aclose()
