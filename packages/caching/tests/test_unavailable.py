"""Redis going away never makes a caller wait: every path that polls or waits on Redis fails fast.

The README promises that the cache "keeps serving requests when Redis is down". A caller that finds
Redis unreachable computes at once; it never sits out ``lock_wait`` (here an hour) waiting for a lock
holder it can no longer see, nor queues behind calls that are doomed. Every test gives the caller a
bound far below ``lock_wait`` (``asyncio.wait_for(..., 5)`` against ``lock_wait=3600``), so a caller
that waited would fail the test, whatever the machine's speed.

Each test runs its own redis-server (the ``redis_server`` fixture), which it stops, kills or pauses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from buttress.caching import BreakerState, CachingUnavailableError, RedisCache, TieredCache
from buttress.core import MISSING
from buttress.testing import FakeClock, RedisServer, ServerError, eventually, free_port

pytestmark = pytest.mark.redis


def lock_key(cache: object, key: str) -> str:
    """The Redis key of the distributed lock on ``key`` (internal keys sit behind a NUL byte)."""
    return f"{_prefix(cache)}\x00lock:{key}"


def tag_key(cache: object, tag: str) -> str:
    """The Redis key of the set of keys written with ``tag``."""
    return f"{_prefix(cache)}\x00tag:{tag}"


def _prefix(cache: object) -> str:
    storage = getattr(cache, "storage", cache)
    storage = getattr(storage, "l2", storage)
    prefix = getattr(storage, "prefix", None)
    assert isinstance(prefix, str), f"{cache!r} has no Redis prefix"
    return prefix


HOUR = 3600
BOUND = 5  # seconds a test gives a call that must not wait; far below lock_wait


async def close(*caches: RedisCache[Any] | TieredCache[Any]) -> None:
    """Close the caches; a computation still waiting for a lock would make this time out."""
    for cache in caches:
        await asyncio.wait_for(cache.aclose(), BOUND)


def cache_on(server: RedisServer, **options: Any) -> RedisCache[Any]:
    options.setdefault("lock_ttl", HOUR)
    options.setdefault("lock_wait", HOUR)
    options.setdefault("socket_timeout", 0.5)
    return RedisCache[Any].from_url(server.url, prefix="bt:", **options)


def tiered_on(server: RedisServer, **options: Any) -> TieredCache[Any]:
    options.setdefault("lock_ttl", HOUR)
    options.setdefault("lock_wait", HOUR)
    options.setdefault("socket_timeout", 0.5)
    return TieredCache[Any].from_url(server.url, prefix="bt:", **options)


async def hold_the_lock(
    holder: RedisCache[Any] | TieredCache[Any], key: str, url: str
) -> tuple[asyncio.Task[Any], asyncio.Event]:
    """Start a computation of ``key`` in ``holder`` that holds the distributed lock until released."""
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "from the holder"

    task = asyncio.create_task(holder.get_or_compute(key, slow))
    l2 = holder
    raw = Redis.from_url(url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BOUND
        while not await raw.exists(lock_key(l2, key)):
            assert loop.time() < deadline, "the holder never took the lock"
            await asyncio.sleep(0.01)
    finally:
        await raw.aclose()
    return task, release


def counting_loader(result: str = "computed here") -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        return result

    return load, calls


# --- a lock held by another process, then Redis goes away ------------------------------------------


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_a_waiter_computes_at_once_when_redis_goes_away_while_another_process_holds_the_lock(
    redis_server: RedisServer, fault: str
) -> None:
    holder, waiter = cache_on(redis_server), cache_on(redis_server)
    try:
        task, release = await hold_the_lock(holder, "k", redis_server.url)
        load, calls = counting_loader()
        waiting = asyncio.create_task(waiter.get_or_compute("k", load))
        await eventually(lambda: waiter.stats.lock_waits == 1)

        getattr(redis_server, fault)()

        assert await asyncio.wait_for(waiting, BOUND) == "computed here"
        assert calls == [1]
        release.set()
        assert await asyncio.wait_for(task, BOUND) == "from the holder"  # its write is dropped, not raised
    finally:
        await close(holder, waiter)


async def test_a_waiter_computes_at_once_when_redis_stops_answering(redis_server: RedisServer) -> None:
    """A server that hangs (CLIENT PAUSE) is unreachable too: each call ends at ``socket_timeout``."""
    holder, waiter = cache_on(redis_server), cache_on(redis_server, socket_timeout=0.2)
    admin = Redis.from_url(redis_server.url)
    try:
        task, release = await hold_the_lock(holder, "k", redis_server.url)
        load, calls = counting_loader()
        waiting = asyncio.create_task(waiter.get_or_compute("k", load))
        await eventually(lambda: waiter.stats.lock_waits == 1)

        await admin.client_pause(60_000, all=True)

        assert await asyncio.wait_for(waiting, BOUND) == "computed here"
        assert calls == [1]
        release.set()
        task.cancel()
    finally:
        redis_server.kill()  # the pause cannot be lifted from a paused client
        await admin.aclose()
        await close(holder, waiter)


async def test_a_tiered_waiter_computes_at_once_when_redis_goes_away(redis_server: RedisServer) -> None:
    holder = tiered_on(redis_server)
    waiter = tiered_on(redis_server)
    try:
        task, release = await hold_the_lock(holder, "k", redis_server.url)
        load, calls = counting_loader()
        waiting = asyncio.create_task(waiter.get_or_compute("k", load))
        await eventually(lambda: waiter.stats.lock_waits == 1)

        redis_server.kill()

        assert await asyncio.wait_for(waiting, BOUND) == "computed here"
        assert calls == [1]
        release.set()
        assert await asyncio.wait_for(task, BOUND) == "from the holder"
    finally:
        await close(holder, waiter)


async def test_an_early_refresh_behind_a_lock_held_elsewhere_ends_when_redis_goes_away(
    redis_server: RedisServer, fake_clock: FakeClock
) -> None:
    """XFetch refreshes in the background; that refresh must not poll for an hour either."""
    reader = cache_on(redis_server, jitter=None, rng=lambda: 0.999_999, clock=fake_clock)
    try:

        async def first() -> str:
            fake_clock.advance(1.0)  # a loader taking 1 s (Δ) makes the next read refresh early
            return "v1"

        assert await reader.get_or_compute("k", first, ttl=10) == "v1"
        # Another process holds k's lock, as if it were refreshing k too.
        other = Redis.from_url(redis_server.url)
        await other.set(lock_key(reader, "k"), b"someone", px=HOUR * 1000)
        await other.aclose()
        load, calls = counting_loader("v2")
        assert await reader.get_or_compute("k", load, ttl=10) == "v1"  # served; the refresh starts behind
        await eventually(lambda: reader.stats.lock_waits == 1)

        redis_server.kill()

        await eventually(lambda: calls == [1], what="the refresh computed once Redis was gone")
        await eventually(lambda: not reader._background)
    finally:
        await close(reader)


# --- Redis down from the start ---------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 1_000], ids=["breaker-opens", "breaker-stays-closed"])
async def test_with_redis_down_from_the_start_every_call_computes_at_once(
    redis_server: RedisServer, threshold: int
) -> None:
    redis_server.kill()
    cache = cache_on(redis_server, breaker_threshold=threshold)
    try:
        for round_ in range(3):
            load, calls = counting_loader(f"computed {round_}")
            results = await asyncio.wait_for(
                asyncio.gather(*(cache.get_or_compute(f"k{i}", load) for i in range(5))), BOUND
            )
            assert results == [f"computed {round_}"] * 5
            assert len(calls) == 5
        assert cache.stats.lock_waits == 0
        if threshold == 1:
            assert cache._breaker.state is BreakerState.OPEN
    finally:
        await close(cache)


async def test_a_tiered_cache_with_redis_down_from_the_start_computes_and_reports_no_subscription(
    redis_server: RedisServer,
) -> None:
    redis_server.kill()
    cache = tiered_on(redis_server)
    try:
        load, calls = counting_loader()
        assert await asyncio.wait_for(cache.get_or_compute("k", load), BOUND) == "computed here"
        assert calls == [1]
        assert await asyncio.wait_for(cache.get("k"), BOUND) is MISSING
        # The invalidation subscription cannot be made: say so at once rather than after ``within``.
        assert await asyncio.wait_for(cache.wait_until_subscribed(within=HOUR), BOUND) is False
        assert cache.l1_active is False
    finally:
        await close(cache)


async def test_wait_until_subscribed_still_waits_for_a_server_that_answers(redis_server: RedisServer) -> None:
    cache = tiered_on(redis_server)
    try:
        assert await asyncio.wait_for(cache.wait_until_subscribed(within=HOUR), BOUND) is True
        redis_server.kill()
        await eventually(lambda: not cache.l1_active)
        assert await asyncio.wait_for(cache.wait_until_subscribed(within=HOUR), BOUND) is False
        redis_server.start()
        assert await asyncio.wait_for(cache.wait_until_subscribed(within=BOUND * 2), BOUND * 3) is True
    finally:
        await close(cache)


# --- queued callers and an open breaker --------------------------------------------------------------


async def test_callers_queued_behind_a_hung_server_take_the_fallback_once_the_breaker_opens(
    redis_server: RedisServer,
) -> None:
    """With one connection, 30 callers queue for it; after the first times out, the rest must not."""
    cache = cache_on(redis_server, socket_timeout=0.5, max_connections=1, breaker_threshold=1)
    admin = Redis.from_url(redis_server.url)
    try:
        await cache.set("k", "v")
        await admin.client_pause(60_000, all=True)

        results = await asyncio.wait_for(asyncio.gather(*(cache.get("k") for _ in range(30))), BOUND)

        assert results == [MISSING] * 30
        assert cache._breaker.state is BreakerState.OPEN
        assert cache._breaker._failures <= 2  # the call in flight, and at most one more
    finally:
        redis_server.kill()
        await admin.aclose()
        await close(cache)


async def test_a_cluster_that_cannot_be_reached_degrades_like_a_single_node(
    redis_server: RedisServer,
) -> None:
    redis_server.kill()
    cache = RedisCache[Any].from_url(redis_server.url, cluster=True, prefix="bt:", socket_timeout=0.5)
    try:
        load, calls = counting_loader()
        assert await asyncio.wait_for(cache.get("k"), BOUND) is MISSING
        await asyncio.wait_for(cache.set("k", "v"), BOUND)
        assert await asyncio.wait_for(cache.get_or_compute("k", load), BOUND) == "computed here"
        assert calls == [1]
        assert cache.stats.errors >= 3
    finally:
        await close(cache)


async def test_a_node_that_is_not_a_cluster_degrades_instead_of_raising(redis_server: RedisServer) -> None:
    cache = RedisCache[Any].from_url(redis_server.url, cluster=True, prefix="bt:", socket_timeout=0.5)
    try:
        assert await asyncio.wait_for(cache.get("k"), BOUND) is MISSING
        assert cache.stats.errors == 1
    finally:
        await close(cache)


# --- a server that answers, with an error ------------------------------------------------------------


async def test_error_replies_of_a_full_server_degrade_like_an_unreachable_one(
    redis_server: RedisServer,
) -> None:
    """OOM on every write (maxmemory reached, no eviction): writes drop, loaders run, nothing raises."""
    admin = Redis.from_url(redis_server.url)
    cache = cache_on(redis_server, breaker_threshold=1_000)
    strict = cache_on(redis_server, strict=True)
    try:
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("maxmemory", 1)
        load, calls = counting_loader()

        await cache.set("k", "v")  # dropped, not raised
        assert await cache.get_or_compute("k", load) == "computed here"
        assert await cache.get("k") is MISSING
        assert calls == [1]
        assert cache.stats.errors >= 2
        with pytest.raises(CachingUnavailableError, match="OutOfMemoryError"):
            await strict.set("k", "v")
    finally:
        await admin.aclose()
        await close(cache, strict)


async def test_a_read_only_replica_degrades_writes_and_serves_reads() -> None:
    """READONLY on writes (a replica, as after a failover): writes drop, reads still work."""
    try:
        server = RedisServer(extra_args=("--replicaof", "127.0.0.1", str(free_port())))
        server.start()
    except ServerError as exc:
        pytest.skip(f"cannot start a private redis-server: {exc}")
    cache = cache_on(server, breaker_threshold=1_000)
    try:
        load, calls = counting_loader()
        assert await asyncio.wait_for(cache.get_or_compute("k", load), BOUND) == "computed here"
        await cache.set("k", "v")
        assert await cache.get("k") is MISSING
        assert calls == [1]
        assert cache.stats.errors >= 2
    finally:
        await close(cache)
        server.close()
