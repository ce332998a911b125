"""RedisStore on a Redis Cluster whose primary is killed mid-run: a replica takes over, nothing is lost.

Redis replicates asynchronously: a write the primary acknowledged but had not yet sent to its replica
dies with it. `through_failover` first waits until the replica holds everything written so far, then
kills the primary; what the test wrote before must all be there after the failover.
"""

from __future__ import annotations

import pytest

from buttress.idempotency import IdempotencyUnavailableError, RedisStore, StoredResponse
from buttress.testing import RedisClusterServer, through_failover

PREFIX = "failover:"


@pytest.mark.redis
async def test_claims_and_outcomes_survive_the_failover_of_their_primary(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    store = RedisStore.from_url(redis_failover_cluster.url, prefix=PREFIX, cluster=True)
    try:
        # One hash tag: every record below lives on the primary that dies.
        paid = await store.claim("{order-1}paid", "fp", lease=30)
        assert paid.token is not None
        assert await store.complete(
            "{order-1}paid", paid.token, StoredResponse(201, (), b"paid"), retention=60
        )
        held = await store.claim("{order-1}held", "fp", lease=30)
        assert held.outcome == "claimed"

        failover = await through_failover(
            redis_failover_cluster,
            f"{PREFIX}{{order-1}}held",
            lambda: store.claim("{order-1}held", "fp", lease=30),
            unavailable=IdempotencyUnavailableError,
        )
        assert failover.value.outcome == "in_flight"  # the claim was kept: no second execution
        assert all(isinstance(error, IdempotencyUnavailableError) for error in failover.failures)
        replay = await store.claim("{order-1}paid", "fp", lease=30)
        assert replay.outcome == "completed"
        assert replay.response is not None
        assert replay.response.body == b"paid"
        assert held.token is not None
        assert await store.renew("{order-1}held", held.token, lease=30)  # its holder still holds it

        # The new primary takes new claims, exclusively.
        fresh = await store.claim("{order-1}fresh", "fp", lease=30)
        assert fresh.outcome == "claimed"
        assert (await store.claim("{order-1}fresh", "fp", lease=30)).outcome == "in_flight"
    finally:
        await store.aclose()
