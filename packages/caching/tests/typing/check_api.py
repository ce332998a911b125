"""Static checks of buttress-caching's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from typing import Any, assert_type

from redis.asyncio import Redis

from buttress.caching import (
    Cache,
    CachedFunction,
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
    cached,
)
from buttress.core import CacheProvider, JsonSerializer, Missing, Serializer

cache = MemoryCache[dict[str, int]](max_size=100, default_ttl=60)


@cached(cache, ttl=30)
async def get_user(user_id: int, *, fresh: bool = False) -> dict[str, int]:
    return {"id": user_id}


async def decorator_keeps_the_signature() -> None:
    assert isinstance(get_user, CachedFunction)
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


def backends_are_cache_providers(redis_cache: RedisCache[str], tiered: TieredCache[str]) -> None:
    providers: list[CacheProvider[str]] = [MemoryCache[str](), redis_cache, tiered]
    computing: list[ComputeCache[str]] = [MemoryCache[str](), redis_cache, tiered]
    del providers, computing


def pickle_serializer_is_a_serializer() -> Serializer[set[int]]:
    return PickleSerializer[set[int]](b"0" * 32)


def redis_from_url() -> RedisCache[int]:
    return RedisCache[int].from_url("redis://localhost:6379/0", prefix="app:", default_ttl=60)


def tiered_from_url() -> TieredCache[int]:
    return TieredCache[int].from_url("redis://localhost:6379/0", prefix="app:", l1_ttl=5)


def storages_are_cache_storages(client: Redis) -> None:
    memory = MemoryStorage[bytes](max_size=10)
    redis = RedisStorage(client, prefix="app:")
    tiered = TieredStorage[bytes](memory, redis, client=client, channel="app:inv")
    storages: list[CacheStorage[bytes]] = [memory, redis, tiered, TieredStorage.from_url("redis://h")]
    assert_type(RedisStorage.from_url("redis://h", prefix="p:"), RedisStorage)
    del storages


async def a_cache_over_any_storage(storage: CacheStorage[bytes]) -> None:
    cache = Cache[list[int]](storage, serializer=JsonSerializer(), default_ttl=60, max_concurrency=50)
    assert_type(await cache.get("k"), list[int] | Missing)
    assert_type(cache.storage, CacheStorage[Any])
    assert_type(await storage.read("k"), Entry[bytes] | None)
    assert_type(await storage.remove_tags(["t"]), list[str])
    assert_type(await storage.lock("k", "token", 10.0), bool | None)
    await storage.write([("k", Entry(b"v", None, None, 0.0), 60.0)], ["t"])
    await storage.write([("k", Entry("not bytes", None, None, 0.0), 60.0)])  # type: ignore[arg-type]
