"""Every public entry point of buttress-caching, driven with hostile arguments: only typed errors come out.

Each function, constructor and public method of ``buttress.caching.__all__`` is called with
hypothesis-generated hostile values (wrong types, ``10**400``, NaN, NUL, lone surrogates, CR/LF,
non-UTF-8 bytes, very long strings) in place of its arguments; anything but a `ButtressError` fails.

Left out, with the reason: `ComputeCache`, `CachedFunction` and `CacheStorage` (Protocols; the
storages' methods are driven on the three storages, the `Cache` methods through the three caches, a
cached function through `cached`); `StoredItem` and `CachePolicyOptions` (types: the options are
driven as keyword arguments of every cache); `clear`, `aclose` and `ping` (no argument).
Callbacks (``loader``, ``rng``, a ``key`` or ``tags`` function, a cache factory) are the caller's
code, whose own exceptions reach the caller unchanged by contract; they are kept out of the general
runs and driven separately with every hostile value that is not callable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import strategies as st
from redis.asyncio import Redis

import buttress.caching as caching
from buttress.caching import (
    BreakerState,
    Cache,
    CachePolicy,
    CacheSerializationError,
    CacheStats,
    CacheStorage,
    CachingBusyError,
    CachingConfigurationError,
    CachingError,
    CachingTypeError,
    CachingUnavailableError,
    Entry,
    InvalidKeyError,
    MemoryCache,
    MemoryStorage,
    MissingExtraError,
    MsgpackSerializer,
    PickleSerializer,
    RedisCache,
    RedisStorage,
    SignatureMismatchError,
    TieredCache,
    TieredStorage,
    bypass_cache,
    cached,
    xfetch_should_refresh,
)
from buttress.core import MISSING
from buttress.testing import (
    FakeClock,
    HostileTarget,
    HostileTargets,
    acheck_hostile,
    check_hostile,
    closing_factory,
    hostile_values,
)

SECRET = b"s" * 32
CALLBACKS = ("loader", "rng", "key", "tags", "cache", "func")


def not_callable() -> st.SearchStrategy[object]:
    return hostile_values().filter(lambda value: not callable(value))


async def load() -> int:
    return 1


async def function(
    a: int, b: str = "x", *rest: object, c: float = 1.0, **options: object
) -> tuple[object, ...]:
    return (a, b, rest, c, options)


async def plain(a: int, b: str = "x") -> list[object]:
    return [a, b]


def memory() -> MemoryCache[Any]:
    return MemoryCache[Any](max_size=100, jitter=None, xfetch_beta=0)


POLICY_OPTIONS: dict[str, object] = {
    "ttl": 60.0,
    "jitter": 0.1,
    "stale_ttl": 5.0,
    "xfetch_beta": 1.0,
    "locking": True,
    "lock_ttl": 10.0,
    "lock_wait": 1.0,
    "strict": False,
    "breaker_threshold": 3,
    "breaker_recovery": 5.0,
    "warn_interval": 30.0,
    "max_concurrency": 10,
    "max_key_bytes": 1024,
}
MEMORY_OPTIONS: dict[str, object] = {
    "max_size": 100,
    "policy": CachePolicy(),
    "ttl": 60.0,
    "jitter": (0.05, 0.15),
    "xfetch_beta": 1.0,
    "stale_ttl": 5.0,
    "name": "m",
    "max_key_bytes": 1024,
    "clock": FakeClock(),
}
CACHED_OPTIONS: dict[str, object] = {
    "ttl": 60.0,
    "namespace": "ns",
    "cache_none": True,
}

TARGETS = HostileTargets(keep=CALLBACKS)
TARGETS.add(MemoryCache, **MEMORY_OPTIONS)
TARGETS.add(MemoryStorage, max_size=100, name="m", clock=FakeClock())
TARGETS.add(CachePolicy, **POLICY_OPTIONS)
TARGETS.add(
    Cache,
    MemoryStorage(),
    policy=CachePolicy(ttl=30.0),
    serializer=PickleSerializer(SECRET),
    name="c",
    clock=FakeClock(),
    **POLICY_OPTIONS,
)
TARGETS.add(memory().jittered, 60.0)
TARGETS.add(cached, memory(), **CACHED_OPTIONS)
TARGETS.add(cached(memory())(function).key, 1, "x", 2, c=2.0, d=3)
TARGETS.add(cached(memory())(plain).key, 1, b="y")
TARGETS.add(xfetch_should_refresh, now=0.0, expires_at=10.0, delta=1.0, beta=1.0, u=0.5)
TARGETS.add(Entry, 1, 10.0, 20.0, 0.1)
TARGETS.add(Entry(1, 10.0, 20.0, 0.1).fresh, 5.0)
TARGETS.add(Entry(1, 10.0, 20.0, 0.1).servable_stale, 15.0)
TARGETS.add(CacheStats, hits=1, misses=1)
TARGETS.add(BreakerState, "closed")
TARGETS.add(PickleSerializer, SECRET, previous_secrets=(SECRET,), protocol=5)
TARGETS.add(PickleSerializer(SECRET).dumps, {"a": 1})
TARGETS.add(PickleSerializer(SECRET).loads, PickleSerializer(SECRET).dumps(1))
TARGETS.add(MsgpackSerializer, use_list=True)
TARGETS.add(MsgpackSerializer().dumps, {"a": 1})
TARGETS.add(MsgpackSerializer().loads, MsgpackSerializer().dumps(1))
# The errors: constructing one from any arguments must not raise.
TARGETS.add(CachingError, "message")
TARGETS.add(CachingConfigurationError, "ttl", 1, "reason", show_value=True)
TARGETS.add(InvalidKeyError, "key", "k", "reason")
TARGETS.add(CacheSerializationError, "json", "dumps", "reason", type_name="int")
TARGETS.add(SignatureMismatchError, "pickle", "loads", "reason")
TARGETS.add(CachingUnavailableError, "redis", "redis://h", "reason")
TARGETS.add(CachingBusyError, "redis", "redis://h", "reason")
TARGETS.add(CachingTypeError, "a", "an int", object(), reason="why")
TARGETS.add(MissingExtraError, "RedisCache", "redis")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a public function, constructor or method raise an untyped error."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(caching)


@pytest.mark.parametrize(
    ("target", "args", "kwargs", "callback"),
    [
        (MemoryCache, (), {"rng": None}, "rng"),
        (cached, (memory(),), {"key": None, "tags": ()}, "key"),
        (cached, (memory(),), {"key": None, "tags": ()}, "tags"),
        (cached, (memory(),), {}, "cache"),
        (cached(memory()), (plain,), {}, "func"),
        (bypass_cache(), (plain,), {}, "func"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_callback_arguments_that_are_not_callable_raise_typed_errors(
    target: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object], callback: str
) -> None:
    """Property: a value that is not callable where a callback belongs is a typed error at once."""
    others = tuple(name for name in (*CALLBACKS, *MEMORY_OPTIONS, *CACHED_OPTIONS) if name != callback)
    if callback in ("cache", "func"):
        check_hostile(target, *args, keep=others, values=not_callable(), **kwargs)
    else:
        check_hostile(target, *args, keep=others, values=not_callable(), **{callback: None, **kwargs})


# --- methods of the caches, which run on an event loop -------------------------------------------------


async def _drive_cache_methods(cache: MemoryCache[Any] | RedisCache[Any] | TieredCache[Any]) -> None:
    await cache.set("k", 1)
    await acheck_hostile(cache.get, "k")
    await acheck_hostile(cache.set, "k", 1, ttl=60.0, tags=["t"])
    await acheck_hostile(cache.delete, "k")
    await acheck_hostile(cache.exists, "k")
    await acheck_hostile(cache.get_many, ["k", "j"])
    await acheck_hostile(cache.set_many, {"k": 1, "j": 2}, ttl=60.0, tags=["t"])
    await acheck_hostile(cache.invalidate_tags, "t", "u")
    await acheck_hostile(cache.delete_pattern, "k*")
    await acheck_hostile(
        cache.get_or_compute, "k", load, ttl=60.0, tags=["t"], cache_none=True, keep=("loader",)
    )
    await acheck_hostile(
        cache.get_or_compute, "k", load, keep=("key", "ttl", "tags", "cache_none"), values=not_callable()
    )
    await acheck_hostile(cache.refresh, "k", load, ttl=60.0, tags=["t"], cache_none=False, keep=("loader",))
    await acheck_hostile(
        cache.refresh, "k", load, keep=("key", "ttl", "tags", "cache_none"), values=not_callable()
    )
    await acheck_hostile(cache.jittered, 60.0)
    function_cached = cached(cache, namespace="hostile")(function)
    await acheck_hostile(function_cached, 1, "x", 2, c=2.0, d=3)
    await acheck_hostile(function_cached.invalidate, 1, "x", c=2.0)
    await acheck_hostile(function_cached.refresh, 1, "x", c=2.0)


async def _drive_storage_methods(storage: CacheStorage[Any], value: object) -> None:
    entry = Entry(value, None, None, 0.0)
    await storage.write([("k", entry, 60.0)], ["t"])
    await acheck_hostile(storage.read, "k")
    await acheck_hostile(storage.read_many, ["k", "j"])
    await acheck_hostile(storage.write, [("k", entry, 60.0), ("j", entry, None)], ["t"])
    await acheck_hostile(storage.remove, "k")
    await acheck_hostile(storage.remove_tags, ["t", "u"])
    await acheck_hostile(storage.remove_pattern, "k*")
    await acheck_hostile(storage.lock, "k", "token", 10.0)
    await acheck_hostile(storage.unlock, "k", "token")


async def test_memory_cache_methods_raise_only_typed_errors() -> None:
    """Property: every method of `MemoryCache` answers hostile arguments with typed errors."""
    cache = MemoryCache[Any](max_size=1_000)
    storage = MemoryStorage[Any](max_size=1_000)
    try:
        await _drive_cache_methods(cache)
        await _drive_storage_methods(storage, {"a": 1})
        await acheck_hostile(storage.read_now, "k")
    finally:
        await cache.aclose()
        await storage.aclose()


@pytest.fixture
async def redis_cache(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisCache[Any]]:
    cache = RedisCache[Any].from_url(redis_url, prefix=redis_prefix, socket_timeout=2.0)
    try:
        yield cache
    finally:
        await cache.aclose()


@TARGETS.drives("RedisCache", "RedisStorage")
@pytest.mark.redis
async def test_redis_cache_raises_only_typed_errors(
    redis_cache: RedisCache[Any], redis_url: str, redis_prefix: str
) -> None:
    """Property: `RedisCache`, its constructors and methods answer hostile arguments with typed errors."""
    client = Redis.from_url(redis_url)
    try:
        redis_options = {
            "prefix": redis_prefix,
            "policy": CachePolicy(),
            "serializer": PickleSerializer(SECRET),
            "name": "r",
            "clock": FakeClock(),
            **POLICY_OPTIONS,
        }
        await acheck_hostile(closing_factory(RedisCache), client, keep=CALLBACKS, **redis_options)
        await acheck_hostile(
            closing_factory(RedisCache.from_url),
            redis_url,
            socket_timeout=1.0,
            max_connections=10,
            pool_timeout=1.0,
            cluster=False,
            keep=CALLBACKS,
            **redis_options,
        )
        await _drive_cache_methods(redis_cache)
        await acheck_hostile(closing_factory(RedisStorage), client, prefix=redis_prefix, max_concurrency=10)
        await acheck_hostile(
            closing_factory(RedisStorage.from_url),
            redis_url,
            prefix=redis_prefix,
            socket_timeout=1.0,
            max_connections=10,
            pool_timeout=1.0,
            cluster=False,
        )
        storage = RedisStorage(client, prefix=redis_prefix)
        await _drive_storage_methods(storage, b"v")
        assert redis_cache.stats.errors == 0, (
            f"no hostile argument may reach Redis and fail there: {redis_cache.stats}"
        )
    finally:
        await client.aclose()


@TARGETS.drives("TieredCache", "TieredStorage")
@pytest.mark.redis
async def test_tiered_cache_raises_only_typed_errors(redis_url: str, redis_prefix: str) -> None:
    """Property: `TieredCache`, `TieredStorage`, their constructors and methods answer hostile arguments
    with typed errors."""
    client = Redis.from_url(redis_url)
    cache = TieredCache[Any](client, prefix=redis_prefix, l1_ttl=5.0)
    storage = TieredStorage[Any].from_url(redis_url, prefix=redis_prefix)

    options: dict[str, object] = {
        "prefix": redis_prefix,
        "l1_max_size": 100,
        "l1_ttl": 5.0,
        "channel": "c",
        "invalidation": "pubsub",
        "l1_values": "copy",
        "policy": CachePolicy(jitter=None),
        "name": "t",
        "clock": FakeClock(),
        **POLICY_OPTIONS,
    }
    try:
        await acheck_hostile(closing_factory(TieredCache), client, keep=CALLBACKS, **options)
        await acheck_hostile(closing_factory(TieredCache.from_url), redis_url, keep=CALLBACKS, **options)
        await acheck_hostile(
            closing_factory(TieredStorage),
            MemoryStorage(),
            RedisStorage(client, prefix=redis_prefix),
            client=client,
            channel="c",
            invalidation="pubsub",
            l1_ttl=5.0,
            warn_interval=30.0,
            name="t",
            clock=FakeClock(),
        )
        await acheck_hostile(
            closing_factory(TieredStorage.from_url),
            redis_url,
            prefix=redis_prefix,
            l1_max_size=10,
            l1_ttl=5.0,
            channel="c",
            socket_timeout=1.0,
            max_connections=10,
            pool_timeout=1.0,
            cluster=False,
            warn_interval=30.0,
            name="t",
            clock=FakeClock(),
        )
        assert await cache.wait_until_subscribed()
        await acheck_hostile(cache.wait_until_subscribed, 0.5)
        await _drive_cache_methods(cache)
        assert await storage.wait_until_subscribed()
        await _drive_storage_methods(storage, b"v")
        assert cache.stats.errors == 0, "no hostile argument may reach Redis and fail there"
        async with TieredCache[Any](client, prefix=redis_prefix, invalidation="tracking") as tracked:
            assert await tracked.wait_until_subscribed()
            await _drive_cache_methods(tracked)
            assert tracked.stats.errors == 0, "no hostile argument may reach Redis and fail there"
    finally:
        await cache.aclose()
        await storage.aclose()
        await client.aclose()


async def test_a_loader_that_is_not_a_coroutine_function_is_a_typed_error() -> None:
    cache = memory()

    with pytest.raises(CachingConfigurationError, match="loader"):
        await cache.get_or_compute("k", lambda: 42)  # type: ignore[arg-type, return-value]
    with pytest.raises(CachingConfigurationError, match="loader"):
        await cache.get_or_compute("k", "not callable")  # type: ignore[arg-type]
    assert await cache.get("k") is MISSING


@pytest.mark.redis
async def test_storing_no_items_with_tags_is_a_no_op(redis_cache: RedisCache[Any]) -> None:
    """Found by the hostile run: an empty batch with tags sent SADD without members, an error reply."""
    await redis_cache.storage.write([], ["t"])
    await redis_cache.set_many({}, tags=["t"])
    assert redis_cache.stats.errors == 0
