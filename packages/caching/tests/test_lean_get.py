"""`LeanGet`, the GET of every `RedisStorage` read, against real servers.

It must answer exactly as ``client.get`` does (the same bytes, the same errors after the same retries,
the same timeouts), leave the pool as redis-py would (every connection back, none dirty), and hand
every case it does not cover to ``client.get``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.credentials import UsernamePasswordCredentialProvider
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from buttress.caching import CacheSerializationError, RedisCache, RedisStorage, cached
from buttress.caching._lean_get import LeanGet
from buttress.core import open_redis
from buttress.testing import RedisServer

pytestmark = pytest.mark.redis


def lean(client: Redis) -> LeanGet:
    made = LeanGet.for_client(client)
    assert made is not None, f"{client!r} should take the lean path"
    return made


def in_use(client: Redis) -> int:
    return len(client.connection_pool._in_use_connections)  # type: ignore[attr-defined]


@pytest.fixture(params=["default", "blocking", "open_redis"])
async def client(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Redis]:
    """A redis-py default client, one over a BlockingConnectionPool, and core's tuned client."""
    made: Redis
    if request.param == "default":
        made = Redis.from_url(redis_url)
    elif request.param == "blocking":
        made = Redis.from_pool(BlockingConnectionPool.from_url(redis_url, max_connections=3, timeout=5))
    else:
        made = open_redis(redis_url, socket_timeout=1.0, max_connections=3)
    try:
        yield made
    finally:
        await made.aclose()


async def test_a_get_answers_as_client_get_and_gives_the_connection_back(
    client: Redis, redis_prefix: str
) -> None:
    getter = lean(client)
    await client.set(f"{redis_prefix}k", b"\x00value\xff")
    await client.get(f"{redis_prefix}k")  # a connected connection waits in the pool
    pool = client.connection_pool
    connections = list(pool._available_connections)  # type: ignore[attr-defined]
    for name in (f"{redis_prefix}k", f"{redis_prefix}absent", f"{redis_prefix}ключ ✓"):
        assert await getter.get(name) == await client.get(name)
        assert in_use(client) == 0
    # The lean path reused the pool's connection rather than making one.
    assert list(pool._available_connections) == connections  # type: ignore[attr-defined]


async def test_an_error_reply_is_raised_and_the_connection_stays_usable(
    client: Redis, redis_prefix: str
) -> None:
    getter = lean(client)
    await client.rpush(f"{redis_prefix}list", b"x")
    await client.set(f"{redis_prefix}k", b"v")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await getter.get(f"{redis_prefix}list")
    assert in_use(client) == 0
    assert await getter.get(f"{redis_prefix}k") == b"v"


async def test_the_first_get_of_a_fresh_pool_and_a_dirty_connection_go_through_client_get(
    client: Redis, redis_prefix: str
) -> None:
    getter = lean(client)
    await client.set(f"{redis_prefix}k", b"v")
    assert await getter.get(f"{redis_prefix}k") == b"v"  # the pool may be empty: redis-py connects
    # A connection holding a reply nobody read (a caller that sent and walked away).
    connection = await client.connection_pool.get_connection()
    await connection.send_command("PING")
    await asyncio.sleep(0.05)  # let the reply land in the connection's buffer
    await client.connection_pool.release(connection)
    assert await getter.get(f"{redis_prefix}k") == b"v"  # not the stale PONG
    assert await getter.get(f"{redis_prefix}k") == b"v"
    assert in_use(client) == 0


async def test_concurrent_gets_beyond_the_pool_all_answer(client: Redis, redis_prefix: str) -> None:
    getter = lean(client)
    await client.mset({f"{redis_prefix}{i}": str(i).encode() for i in range(50)})
    for _ in range(3):
        # 90 at once: redis-py's default pool refuses a 101st command in flight.
        got = await asyncio.gather(*(getter.get(f"{redis_prefix}{i % 50}") for i in range(90)))
        assert got == [str(i % 50).encode() for i in range(90)]
    assert in_use(client) == 0


async def test_a_caller_queued_for_a_blocking_pool_and_a_lean_get_arriving_then_are_both_served(
    redis_url: str, redis_prefix: str
) -> None:
    """A lean GET that finds the connection a queued caller was woken for takes it, as ``client.get`` would.

    redis-py's ``BlockingConnectionPool`` is not first-come, first-served: a newcomer whose check finds
    a free connection takes it before the woken waiter runs. The lean path keeps that behaviour (no
    worse); the waiter gets the connection when the newcomer puts it back, and none is left in use.
    """
    client = Redis.from_pool(BlockingConnectionPool.from_url(redis_url, max_connections=1, timeout=5))
    getter = lean(client)
    order: list[str] = []

    async def read(who: str, call: Any) -> None:
        assert await call(f"{redis_prefix}k") == b"v"
        order.append(who)

    try:
        await client.set(f"{redis_prefix}k", b"v")
        for newcomer in (client.get, getter.get):  # redis-py's own path, then the lean one
            order.clear()
            held = await client.connection_pool.get_connection()
            queued = asyncio.ensure_future(read("queued", client.get))
            await asyncio.sleep(0.05)  # it waits for the pool's one connection
            await client.connection_pool.release(held)  # the queued caller is woken, has not run yet
            await read("newcomer", newcomer)  # runs at once, up to its first wait
            await asyncio.wait_for(queued, 5)
            assert order == ["newcomer", "queued"]
            assert in_use(client) == 0
    finally:
        await client.aclose()


@given(name=st.text(min_size=1, max_size=300))
def test_the_packed_get_is_redis_pys(name: str) -> None:
    """Property: `LeanGet.packed` sends the bytes redis-py's own packer sends, for any str key."""
    client = Redis(host="127.0.0.1", port=1)  # packing needs no server
    getter = lean(client)
    connection = client.connection_pool.make_connection()
    try:
        expected = b"".join(connection.pack_command("GET", name))
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            getter.packed(name)
        return
    assert getter.packed(name) == expected


def test_clients_the_lean_path_does_not_cover_are_left_to_redis_py(redis_url: str) -> None:
    single = Redis.from_url(redis_url, single_connection_client=True)
    provider = UsernamePasswordCredentialProvider("default", "")
    with_provider = Redis(host="127.0.0.1", credential_provider=provider)
    assert LeanGet.for_client(single) is None
    assert LeanGet.for_client(with_provider) is None
    assert LeanGet.for_client(object()) is None
    assert isinstance(LeanGet.for_client(Redis.from_url(redis_url)), LeanGet)


# --- a server that goes away, hangs, or cuts the connection ----------------------------------------


def cut(client: Redis, ident: int) -> None:
    """Have the server close the client's connection ``ident`` (CLIENT KILL) before the loop can notice.

    The kill goes through a synchronous client, so the event loop does not run between it and the next
    GET: the connection looks healthy, and the GET itself finds it closed, as after a server restart.
    """
    options = client.connection_pool.connection_kwargs
    killer = redis.Redis(host=options["host"], port=options["port"])
    try:
        assert killer.client_kill_filter(_id=ident) == 1
    finally:
        killer.close()
    time.sleep(0.05)  # the server has closed it; the loop has not run


async def test_a_cut_connection_is_retried_as_redis_py_retries(redis_server: RedisServer) -> None:
    retrying = Redis.from_url(
        redis_server.url, retry=Retry(NoBackoff(), 1), retry_on_error=[RedisConnectionError]
    )
    once = Redis.from_url(redis_server.url, retry=Retry(NoBackoff(), 0))
    try:
        await retrying.set("k", b"v")
        cut(retrying, await retrying.client_id())
        assert await lean(retrying).get("k") == b"v"  # the retry reconnected
        cut(once, await once.client_id())
        with pytest.raises(RedisConnectionError):
            await lean(once).get("k")  # no retry: the error, as client.get raises it
        assert in_use(once) == 0
        assert await lean(once).get("k") == b"v"  # the next call reconnects
        assert in_use(retrying) == 0
    finally:
        for client in (retrying, once):
            await client.aclose()


async def test_a_hung_server_times_out_and_a_cancelled_get_leaves_a_clean_pool(
    redis_server: RedisServer,
) -> None:
    """core's deadlines (and redis-py's own socket timeout) still bound a lean GET."""
    tuned = open_redis(redis_server.url, socket_timeout=0.3, max_connections=2)
    plain = Redis.from_url(redis_server.url, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    admin = Redis.from_url(redis_server.url)
    try:
        await admin.set("k", b"v")
        for client in (tuned, plain):
            assert await lean(client).get("k") == b"v"
        await admin.client_pause(1_500, all=True)
        for client in (tuned, plain):
            with pytest.raises(RedisTimeoutError):
                await asyncio.wait_for(lean(client).get("k"), 5)
            assert in_use(client) == 0
            task = asyncio.ensure_future(lean(client).get("k"))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert in_use(client) == 0
        await asyncio.sleep(1.6)  # the pause ends
        for client in (tuned, plain):
            assert await lean(client).get("k") == b"v"  # no reply of an abandoned GET is read as this one
    finally:
        for client in (admin, tuned, plain):
            await client.aclose()


# --- through the cache ----------------------------------------------------------------------------------


async def test_a_cached_hit_reads_through_the_lean_path_and_keeps_its_guarantees(
    redis_url: str, redis_prefix: str
) -> None:
    cache: RedisCache[dict[str, Any]] = RedisCache.from_url(redis_url, prefix=redis_prefix, ttl=60)
    storage = cache.storage
    assert isinstance(storage, RedisStorage)
    calls = 0

    @cached(cache, namespace="user")
    async def user(user_id: int) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"id": user_id}

    try:
        assert storage._get.__self__.__class__ is LeanGet  # type: ignore[attr-defined]
        assert await user(1) == {"id": 1}
        assert [await user(1) for _ in range(20)] == [{"id": 1}] * 20
        assert calls == 1
        assert cache.stats.hits == 20
        # Something of another Redis type under the prefix is unreadable data, not an outage.
        await storage.client.rpush(f"{redis_prefix}other", b"x")
        with pytest.raises(CacheSerializationError):
            await storage.read("other")
        assert cache.breaker_state.value == "closed"
    finally:
        await cache.aclose()
