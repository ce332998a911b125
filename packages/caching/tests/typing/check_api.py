"""Static checks of buttress-caching's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from typing import assert_type

from buttress.caching import (
    CachedFunction,
    CacheStats,
    ComputeCache,
    MemoryCache,
    PickleSerializer,
    RedisCache,
    TieredCache,
    cached,
)
from buttress.core import CacheProvider, Missing, Serializer

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
