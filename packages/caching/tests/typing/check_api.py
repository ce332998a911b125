"""Static checks of buttress-caching's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, Literal, assert_type

from redis.asyncio import Redis

from buttress.caching import (
    BreakerState,
    Cache,
    CachedFunction,
    CachePolicy,
    CachePolicyOptions,
    CacheStats,
    CacheStorage,
    ComputeCache,
    Entry,
    MemoryCache,
    MemoryStorage,
    PickleSerializer,
    RedisCache,
    RedisStorage,
    TieredCache,
    TieredStorage,
    bypass_cache,
    cached,
)
from buttress.core import CacheProvider, JsonSerializer, Missing, Serializer

cache = MemoryCache[dict[str, int]](max_size=100, ttl=60)
POLICY = CachePolicy(ttl=60, stale_ttl=30, strict=True)


@cached(cache, ttl=30)
async def get_user(user_id: int, *, fresh: bool = False) -> dict[str, int]:
    return {"id": user_id}


@cached(cache)
async def get_item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


async def decorator_keeps_the_signature() -> None:
    typed: CachedFunction[[int], dict[str, int]] = get_item
    original: Callable[[int], Awaitable[dict[str, int]]] = get_item.__wrapped__
    pending: Coroutine[Any, Any, dict[str, int]] = get_item(1)
    assert_type(await pending, dict[str, int])
    del typed, original
    assert_type(await get_user(1), dict[str, int])
    assert_type(await get_user(1, fresh=True), dict[str, int])
    assert_type(await get_user.invalidate(1), bool)
    assert_type(await get_user.refresh(1), dict[str, int])
    assert_type(get_user.key(1), str)
    await get_user("1")  # type: ignore[arg-type]
    await get_user(1, stale=True)  # type: ignore[call-arg]


async def memory_cache_types() -> None:
    assert_type(await cache.get("k"), dict[str, int] | Missing)
    assert_type(await cache.get_many(["a"]), dict[str, dict[str, int]])

    async def load() -> dict[str, int]:
        return {}

    assert_type(await cache.get_or_compute("k", load), dict[str, int])
    assert_type(cache.stats, CacheStats)
    assert_type(cache.breaker_state, BreakerState)


def backends_are_cache_providers(redis_cache: RedisCache[str], tiered: TieredCache[str]) -> None:
    providers: list[CacheProvider[str]] = [MemoryCache[str](), redis_cache, tiered]
    computing: list[ComputeCache[str]] = [MemoryCache[str](), redis_cache, tiered]
    del providers, computing


def policies() -> None:
    assert_type(POLICY.ttl, float | timedelta | None)
    assert_type(POLICY.jitter, tuple[float, float] | float | None)
    assert_type(POLICY.breaker_threshold, int)
    assert_type(MemoryCache[int](policy=POLICY).policy, CachePolicy)
    assert_type(MemoryCache[int](policy=POLICY, ttl=5, jitter=None), MemoryCache[int])
    MemoryCache[int](ttl="60")  # type: ignore[arg-type]
    MemoryCache[int](default_ttl=60)  # type: ignore[call-arg]
    MemoryCache[int](policy={"ttl": 60})  # type: ignore[arg-type]
    CachePolicy(strict=1.5)  # type: ignore[arg-type]
    options: CachePolicyOptions = {"ttl": 60, "strict": True}
    assert_type(MemoryCache[int](**options), MemoryCache[int])


def bypass_is_a_decorator_too() -> None:
    @bypass_cache()
    async def view(user_id: int) -> str:
        return str(user_id)

    still_a_view: Callable[[int], Coroutine[Any, Any, str]] = view
    assert inspect.iscoroutinefunction(still_a_view)
    with bypass_cache():
        pass


def pickle_serializer_is_a_serializer() -> Serializer[set[int]]:
    return PickleSerializer[set[int]](b"0" * 32)


def redis_from_url() -> RedisCache[int]:
    return RedisCache[int].from_url("redis://localhost:6379/0", prefix="app:", policy=POLICY, ttl=60)


def tiered_from_url() -> TieredCache[int]:
    return TieredCache[int].from_url("redis://localhost:6379/0", prefix="app:", l1_ttl=5, policy=POLICY)


def tiered_with_tracking(client: Redis) -> None:
    cache = TieredCache[int].from_url("redis://localhost:6379/0", prefix="app:", invalidation="tracking")
    assert_type(cache.invalidation, Literal["pubsub", "tracking"])
    assert_type(cache.channel, str | None)
    storage = TieredStorage[bytes](
        MemoryStorage[bytes](), RedisStorage(client), client=client, invalidation="tracking"
    )
    assert_type(storage.invalidation, Literal["pubsub", "tracking"])
    TieredCache[int](client, invalidation="bcast")  # type: ignore[arg-type]


def tiered_l1_values(client: Redis) -> None:
    shared = TieredCache[dict[str, int]].from_url("redis://localhost:6379/0", l1_values="shared")
    assert_type(shared.l1_values, Literal["copy", "shared", "bytes"])
    TieredCache[int](client, l1_values="bytes")
    TieredCache[int](client, l1_values="copied")  # type: ignore[arg-type]


def storages_are_cache_storages(client: Redis) -> None:
    memory = MemoryStorage[bytes](max_size=10)
    redis = RedisStorage(client, prefix="app:")
    tiered = TieredStorage[bytes](memory, redis, client=client, channel="app:inv")
    storages: list[CacheStorage[bytes]] = [memory, redis, tiered, TieredStorage.from_url("redis://h")]
    assert_type(RedisStorage.from_url("redis://h", prefix="p:"), RedisStorage)
    del storages


async def a_cache_over_any_storage(storage: CacheStorage[bytes]) -> None:
    cache = Cache[list[int]](storage, serializer=JsonSerializer(), ttl=60, max_concurrency=50)
    assert_type(await cache.get("k"), list[int] | Missing)
    assert_type(cache.storage, CacheStorage[Any])
    assert_type(await storage.read("k"), Entry[bytes] | None)
    assert_type(await storage.remove_tags(["t"]), list[str])
    assert_type(await storage.lock("k", "token", 10.0), bool | None)
    await storage.write([("k", Entry(b"v", None, None, 0.0), 60.0)], ["t"])
    await storage.write([("k", Entry("not bytes", None, None, 0.0), 60.0)])  # type: ignore[arg-type]
