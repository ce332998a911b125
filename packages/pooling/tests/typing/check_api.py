"""Static checks of buttress-pooling's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from typing import assert_type

import asyncpg
from redis.asyncio import Redis

from buttress.pooling import (
    AsyncpgFactory,
    Pool,
    PoolConfig,
    PoolStats,
    PoolUnavailableError,
    RedisFactory,
    ResetPolicy,
    ResourceFactory,
)


class Socket:
    async def send(self, data: bytes) -> int:
        return len(data)


class SocketFactory:
    async def create(self) -> Socket:
        return Socket()

    async def destroy(self, resource: Socket) -> None:
        return None


def socket_factory_conforms() -> ResourceFactory[Socket]:
    return SocketFactory()


async def the_pool_is_generic_in_its_resource() -> None:
    pool = Pool(SocketFactory(), max_size=4)
    assert_type(pool, Pool[Socket])
    async with pool.acquire(timeout=1) as socket:
        assert_type(socket, Socket)
        assert_type(await socket.send(b"x"), int)
    socket = await pool.acquire()
    assert_type(socket, Socket)
    await pool.release(socket)
    assert_type(pool.stats(), PoolStats)


async def ready_made_factories(dsn: str, url: str) -> None:
    async with Pool(AsyncpgFactory(dsn)) as pg, pg.acquire() as connection:
        assert_type(connection, asyncpg.Connection)
    async with Pool(RedisFactory(url)) as redis, redis.acquire() as client:
        assert_type(client, Redis)


async def reset_policies(dsn: str) -> None:
    async def reset_all(connection: asyncpg.Connection) -> None:
        await connection.execute("RESET ALL")

    assert_type(AsyncpgFactory(dsn, reset="rollback").reset_policy, ResetPolicy)
    AsyncpgFactory(dsn, reset=reset_all)
    AsyncpgFactory(dsn, reset="partial")  # type: ignore[arg-type]


async def config_and_lifecycle() -> None:
    config = PoolConfig(min_size=1, max_size=4, timeout=5)
    assert_type(config.max_size, int)
    assert_type(config.max_lifetime, float | None)
    pool = Pool(SocketFactory(), config=config, max_size=8, order="fifo")
    assert_type(pool, Pool[Socket])
    assert_type(pool.config, PoolConfig)
    assert_type(await pool.open(), None)
    assert_type(await pool.aclose(timeout=5), None)
    assert_type(pool.closed, bool)
    async with Pool(SocketFactory()) as entered:
        assert_type(entered, Pool[Socket])


def unavailable_is_a_connection_error(error: PoolUnavailableError) -> ConnectionError:
    assert_type(error.address, str)
    return error
