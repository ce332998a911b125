"""RedisFactory against real Redis: a pool of single-connection clients, and a server that goes away."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from buttress.core import BackendUnavailableError
from buttress.pooling import Pool, PoolConfigurationError, PoolUnavailableError, RedisFactory
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


async def test_a_server_that_cannot_be_reached_is_unavailable_with_the_password_redacted() -> None:
    factory = RedisFactory("redis://:hunter2@127.0.0.1:1/0", socket_connect_timeout=2)
    with pytest.raises(PoolUnavailableError) as info:
        await factory.create()
    assert isinstance(info.value, BackendUnavailableError)
    assert info.value.backend == "redis"
    assert "hunter2" not in str(info.value)


async def test_a_stopped_server_is_unavailable(redis_server: RedisServer) -> None:
    factory = RedisFactory(redis_server.url)
    await factory.destroy(await factory.create())
    redis_server.stop()
    with pytest.raises(PoolUnavailableError):
        await factory.create()


async def test_refused_credentials_are_a_configuration_error_not_an_outage(redis_server: RedisServer) -> None:
    admin = Redis.from_url(redis_server.url)
    await admin.config_set("requirepass", "the-password")
    await admin.aclose()
    factory = RedisFactory(redis_server.url, password="not-the-password")  # noqa: S106 - a wrong one, on purpose
    with pytest.raises(PoolConfigurationError) as info:
        await factory.create()
    assert not isinstance(info.value, PoolUnavailableError)
    assert "not-the-password" not in str(info.value)


async def test_bad_client_options_are_a_configuration_error(redis_url: str) -> None:
    factory = RedisFactory(redis_url, no_such_option=1)
    with pytest.raises(PoolConfigurationError) as info:
        await factory.create()
    assert info.value.parameter == "client_options"
