"""Token buckets: memory (property, FakeClock) and Redis (8 concurrent workers share one limit)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio.cluster import RedisCluster

from buttress.notifications import (
    DeliveryWorker,
    MemoryRateLimiter,
    NotificationsConfigurationError,
    NotificationStatus,
    NotificationsTypeError,
    NotificationsUnavailableError,
    Notifier,
    Rate,
    Recipient,
    RedisRateLimiter,
)
from buttress.testing import FakeClock, RedisServer

from .conftest import ScriptedChannel
from .test_delivery import START, note, registry


@given(
    limit=st.integers(1, 10),
    per=st.sampled_from([0.5, 1.0, 10.0, 60.0]),
    steps=st.lists(st.tuples(st.floats(0, 5, allow_nan=False), st.integers(1, 6)), min_size=1, max_size=40),
)
async def test_property_memory_bucket_never_exceeds_its_rate(
    limit: int, per: float, steps: list[tuple[float, int]]
) -> None:
    """Over any span of T seconds, at most limit + T * limit / per tokens are granted; a denial says when."""
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(limit, per)
    grants: list[float] = []
    for advance, tries in steps:
        clock.advance(advance)
        for _ in range(tries):
            wait = await limiter.acquire("k", rate)
            if wait == 0:
                grants.append(clock.monotonic())
            else:
                assert 0 < wait <= per / limit + 1e-9
    for i, start in enumerate(grants):
        for j in range(i, len(grants)):
            span = grants[j] - start
            assert j - i + 1 <= limit + span * rate.refill + 1e-6


async def test_memory_wait_is_exact_and_keys_are_separate() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(2, 10)
    assert [await limiter.acquire("a", rate) for _ in range(2)] == [0.0, 0.0]
    assert await limiter.acquire("a", rate) == pytest.approx(5.0)
    assert await limiter.acquire("b", rate) == 0.0
    clock.advance(5)
    assert await limiter.acquire("a", rate) == 0.0


@pytest.fixture(params=["single", "cluster"])
async def redis_client(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis]:
    """A client of the single server, then of the 3-primary Redis Cluster: each bucket is one key."""
    client: Any
    if request.param == "cluster":
        client = RedisCluster.from_url(request.getfixturevalue("redis_cluster_url"))
    else:
        client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.redis
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 8), per=st.sampled_from([0.25, 0.5, 1.0]))
async def test_property_redis_limiter_never_exceeds_its_rate_under_8_workers(
    redis_client: aioredis.Redis, redis_prefix: str, limit: int, per: float
) -> None:
    """Property: the Redis limiter never exceeds its rate under 8 concurrent workers (server time)."""
    rate = Rate(limit, per)
    key = f"provider:{secrets.token_hex(8)}"  # a fresh, full bucket for every example
    workers = [RedisRateLimiter(redis_client, prefix=redis_prefix) for _ in range(8)]
    start = await redis_client.time()
    grants = 0

    async def work(limiter: RedisRateLimiter) -> None:
        nonlocal grants
        for _ in range(20):
            wait = await limiter.acquire(key, rate)
            if wait == 0:
                grants += 1
            else:
                await asyncio.sleep(min(wait, 0.05) / 4)

    await asyncio.gather(*(work(w) for w in workers))
    end = await redis_client.time()
    elapsed = (end[0] - start[0]) + (end[1] - start[1]) / 1e6
    assert grants >= rate.limit
    assert grants <= rate.limit + elapsed * rate.refill + 1e-6, (grants, elapsed)


@pytest.mark.redis
async def test_redis_limiter_reports_the_wait(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=redis_prefix)
    rate = Rate(1, 3600)
    assert await limiter.acquire("recipient:u1", rate) == 0.0
    wait = await limiter.acquire("recipient:u1", rate)
    assert 3590 < wait <= 3600
    assert await limiter.acquire("recipient:u2", rate) == 0.0
    ttl = await redis_client.pttl(f"{redis_prefix}recipient:u1")
    assert 0 < ttl <= 3601 * 1000


@pytest.mark.redis
async def test_redis_gone_is_store_unavailable(redis_server: RedisServer) -> None:
    async with RedisRateLimiter.from_url(redis_server.url) as limiter:
        assert await limiter.acquire("k", Rate(1, 1)) == 0.0
        redis_server.stop()
        with pytest.raises(NotificationsUnavailableError):
            await limiter.acquire("k", Rate(1, 1))


async def test_bad_keys_and_rates() -> None:
    limiter = MemoryRateLimiter()
    with pytest.raises(NotificationsConfigurationError, match="key"):
        await limiter.acquire("has\nnewline", Rate(1, 1))
    with pytest.raises(NotificationsConfigurationError, match="key"):
        await limiter.acquire("", Rate(1, 1))
    assert await limiter.acquire("recipient:Ann Smith", Rate(1, 1)) == 0.0  # any recipient id is a key
    with pytest.raises(NotificationsTypeError, match="rate"):
        await limiter.acquire("k", 5)  # type: ignore[arg-type]


@pytest.mark.redis
async def test_a_limiter_outage_puts_the_unsent_batch_back(redis_server: RedisServer) -> None:
    """Redis gone mid-batch: nothing more is sent; the claims are due again at once, not after the lease."""
    clock = FakeClock(START)
    email = ScriptedChannel("email")
    notifier = Notifier(templates=registry(), channels=[email], clock=clock)
    for i in range(5):
        await notifier.send(note(Recipient(f"u{i}", {"email": f"u{i}@example.com"})))
    async with RedisRateLimiter.from_url(redis_server.url) as limiter:
        worker = DeliveryWorker(notifier, limiter=limiter, recipient_rate=Rate(100, 1), concurrency=1)
        redis_server.stop()
        with pytest.raises(NotificationsUnavailableError):
            await worker.run_once()
        assert email.sent == []
        assert await notifier.outbox.counts() == {NotificationStatus.PENDING: 5}
        redis_server.start()
        assert await worker.drain() == 5
    assert len(email.sent) == 5
