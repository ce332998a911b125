"""RedisFactory against real Redis: a pool of single-connection clients, and a server that goes away."""

from __future__ import annotations

import pytest

from buttress.pooling import Pool, PoolConfigurationError, RedisFactory
from buttress.testing import RedisServer


async def test_a_pool_of_redis_clients(redis_url: str, redis_prefix: str) -> None:
    async with Pool(RedisFactory(redis_url), min_size=2, max_size=2, health_check_interval=None) as pool:
        async with pool.acquire() as client:
            await client.set(f"{redis_prefix}k", "v")
            assert await client.get(f"{redis_prefix}k") == b"v"
        await pool.run_health_check()
        assert pool.stats().check_failures == 0


async def test_the_pool_keeps_serving_across_a_server_restart(redis_server: RedisServer) -> None:
    pool = Pool(
        RedisFactory(redis_server.url),
        min_size=2,
        max_size=2,
        health_check_interval=None,
        check_on_acquire=True,
    )
    async with pool:
        redis_server.restart()
        async with pool.acquire(timeout=5) as client:
            assert await client.ping()


def test_bad_url_is_refused() -> None:
    with pytest.raises(PoolConfigurationError, match="url"):
        RedisFactory("localhost:6379")
