"""RedisTokenStore on a Redis Cluster whose primary is killed mid-run: no revocation is lost.

Redis replicates asynchronously: a revocation the primary acknowledged but had not yet sent to its
replica dies with it (the token would pass again until it expires). `through_failover` first waits
until the replica holds everything written so far, so every revocation made before must hold after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from buttress.auth import AuthUnavailableError, RedisTokenStore
from buttress.testing import RedisClusterServer, through_failover

PREFIX = "failover:"


@pytest.mark.redis
async def test_revocations_survive_the_failover_of_their_primary(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    store = RedisTokenStore.from_url(redis_failover_cluster.url, prefix=PREFIX, cluster=True)
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    try:
        assert await store.revoke("{u1}token", expires_at=later)
        await store.revoke_all_for_user("{u1}", cutoff=now, expires_at=later)
        failover = await through_failover(
            redis_failover_cluster,
            f"{PREFIX}jti:{{u1}}token",
            lambda: store.is_revoked("{u1}token", user_id="nobody", issued_at=now + timedelta(minutes=1)),
            unavailable=AuthUnavailableError,
        )
        assert failover.value is True  # the revoked jti is still revoked
        older = now - timedelta(minutes=1)
        assert await store.is_revoked("fresh", user_id="{u1}", issued_at=older)  # the user's cutoff held
        assert not await store.is_revoked("fresh", user_id="{u1}", issued_at=now + timedelta(minutes=1))
        assert not await store.revoke("{u1}token", expires_at=later)  # already revoked: NX still refuses
    finally:
        await store.aclose()
