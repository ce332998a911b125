"""Static checks of buttress-pooling's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from typing import assert_type

import asyncpg
from redis.asyncio import Redis

from buttress.pooling import AsyncpgFactory, Pool, PoolStats, RedisFactory, ResourceFactory


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
