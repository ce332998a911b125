"""Every numeric argument of every public constructor and method rejects bad numbers with a typed error.

``10**400`` as a TTL raised ``OverflowError`` (``float()`` of it), and other out-of-range numbers
reached Redis or arithmetic as ``TypeError``. Each argument below gets every bad number: huge,
negative, NaN, infinite, a bool where a number belongs, a numeric string; each must raise
`CachingConfigurationError` (a ``ValueError``) naming the argument, and never anything untyped.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from buttress.caching import (
    CachingConfigurationError,
    Entry,
    MemoryCache,
    PickleSerializer,
    RedisCache,
    TieredCache,
    cached,
    xfetch_should_refresh,
)
from buttress.caching._validation import MAX_SECONDS
from buttress.core import MISSING

BAD_FOR_ALL: list[object] = [
    10**400,
    -(10**400),
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    -1,
    -0.5,
    "1",
    b"1",
    [1],
    1j,
]
BAD_DURATIONS = [*BAD_FOR_ALL, MAX_SECONDS + 1, 2.0e300, timedelta.max]
BAD_COUNTS = [*BAD_FOR_ALL, 0, 1.5, 2.0]

type Call = Callable[[object], object]


def _memory(**options: object) -> MemoryCache[Any]:
    return MemoryCache[Any](**options)  # type: ignore[arg-type]


def _redis(**options: object) -> RedisCache[Any]:
    return RedisCache[Any](Redis(), **options)  # type: ignore[arg-type]


CONSTRUCTOR_DURATIONS: list[tuple[str, Call]] = [
    ("MemoryCache(ttl)", lambda v: _memory(ttl=v)),
    ("MemoryCache(stale_ttl)", lambda v: _memory(stale_ttl=v)),
    ("MemoryCache(xfetch_beta)", lambda v: _memory(xfetch_beta=v)),
    ("RedisCache(ttl)", lambda v: _redis(ttl=v)),
    ("RedisCache(stale_ttl)", lambda v: _redis(stale_ttl=v)),
    ("RedisCache(lock_ttl)", lambda v: _redis(lock_ttl=v)),
    ("RedisCache(lock_wait)", lambda v: _redis(lock_wait=v)),
    ("RedisCache(breaker_recovery)", lambda v: _redis(breaker_recovery=v)),
    ("RedisCache(warn_interval)", lambda v: _redis(warn_interval=v)),
    ("RedisCache.from_url(socket_timeout)", lambda v: RedisCache.from_url("redis://h", socket_timeout=v)),  # type: ignore[arg-type]
    ("RedisCache.from_url(pool_timeout)", lambda v: RedisCache.from_url("redis://h", pool_timeout=v)),  # type: ignore[arg-type]
    ("TieredCache(l1_ttl)", lambda v: TieredCache(Redis(), l1_ttl=v)),  # type: ignore[arg-type]
    ("TieredCache(ttl)", lambda v: TieredCache(Redis(), ttl=v)),  # type: ignore[arg-type]
    ("cached(ttl)", lambda v: cached(_memory(), ttl=v)),  # type: ignore[arg-type]
    ("MemoryCache.jittered(ttl)", lambda v: _memory().jittered(v)),  # type: ignore[arg-type]
]
CONSTRUCTOR_COUNTS: list[tuple[str, Call]] = [
    ("MemoryCache(max_size)", lambda v: _memory(max_size=v)),
    ("MemoryCache(max_key_bytes)", lambda v: _memory(max_key_bytes=v)),
    ("RedisCache(breaker_threshold)", lambda v: _redis(breaker_threshold=v)),
    ("RedisCache.from_url(max_connections)", lambda v: RedisCache.from_url("redis://h", max_connections=v)),  # type: ignore[arg-type]
    ("TieredCache(l1_max_size)", lambda v: TieredCache(Redis(), l1_max_size=v)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("value", BAD_DURATIONS, ids=repr)
@pytest.mark.parametrize(("where", "call"), CONSTRUCTOR_DURATIONS, ids=[c[0] for c in CONSTRUCTOR_DURATIONS])
def test_durations_reject_bad_numbers(where: str, call: Call, value: object) -> None:
    with pytest.raises(CachingConfigurationError) as info:
        call(value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", BAD_COUNTS, ids=repr)
@pytest.mark.parametrize(("where", "call"), CONSTRUCTOR_COUNTS, ids=[c[0] for c in CONSTRUCTOR_COUNTS])
def test_counts_reject_bad_numbers(where: str, call: Call, value: object) -> None:
    if value == 10**400 or value == -(10**400):
        value = -(10**400)  # a huge count is a valid int; a hugely negative one is not
    with pytest.raises(CachingConfigurationError):
        call(value)


@pytest.mark.parametrize(
    "value",
    [*BAD_FOR_ALL, 1.0, 1, (0.2, 0.1), (0.1, 10**400), (math.nan, 0.1), (0.1,), (0.1, 0.2, 0.3), "0.1"],
    ids=repr,
)
def test_jitter_rejects_bad_bands(value: object) -> None:
    with pytest.raises(CachingConfigurationError, match="jitter"):
        _memory(jitter=value)


@pytest.mark.parametrize("value", [*(v for v in BAD_FOR_ALL if v != -1), 99, -2], ids=repr)
def test_pickle_protocol_rejects_bad_numbers(value: object) -> None:
    with pytest.raises(CachingConfigurationError, match="protocol"):
        PickleSerializer(b"s" * 32, protocol=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["now", "expires_at", "delta", "beta", "u"])
@pytest.mark.parametrize("value", [10**400, math.nan, math.inf, True, "1", None], ids=repr)
def test_xfetch_should_refresh_rejects_bad_numbers(name: str, value: object) -> None:
    arguments: dict[str, Any] = {"now": 0.0, "expires_at": 10.0, "delta": 1.0, "beta": 1.0, "u": 0.5}
    arguments[name] = value
    with pytest.raises(CachingConfigurationError, match=name):
        xfetch_should_refresh(**arguments)


@pytest.mark.parametrize("value", [0, 0.0, -0.1, 1.5], ids=repr)
def test_xfetch_u_outside_its_interval_is_rejected(value: float) -> None:
    with pytest.raises(CachingConfigurationError, match="u"):
        xfetch_should_refresh(now=0.0, expires_at=10.0, delta=1.0, beta=1.0, u=value)


def _method_cases(
    cache: MemoryCache[Any] | RedisCache[Any],
) -> list[tuple[str, Callable[[object], Awaitable[object]]]]:
    async def load() -> int:
        return 1

    return [
        ("set(ttl)", lambda v: cache.set("k", 1, ttl=v)),  # type: ignore[arg-type]
        ("set_many(ttl)", lambda v: cache.set_many({"k": 1}, ttl=v)),  # type: ignore[arg-type]
        ("get_or_compute(ttl)", lambda v: cache.get_or_compute("k", load, ttl=v)),  # type: ignore[arg-type]
        ("refresh(ttl)", lambda v: cache.refresh("k", load, ttl=v)),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("value", BAD_DURATIONS, ids=repr)
async def test_memory_methods_reject_bad_ttls(value: object) -> None:
    cache = _memory()
    for where, call in _method_cases(cache):
        with pytest.raises(CachingConfigurationError, match="ttl"):
            await call(value)
        assert len(cache) == 0, where


@pytest.mark.redis
@pytest.mark.parametrize("value", BAD_DURATIONS, ids=repr)
async def test_redis_methods_reject_bad_ttls(redis_url: str, redis_prefix: str, value: object) -> None:
    cache = RedisCache[Any].from_url(redis_url, prefix=redis_prefix)
    try:
        for where, call in _method_cases(cache):
            with pytest.raises(CachingConfigurationError, match="ttl"):
                await call(value)
            assert await cache.get("k") is MISSING, where
        entry = Entry(b"v", None, None, 0.0)
        for keep_for in BAD_DURATIONS:
            if keep_for == MAX_SECONDS + 1:
                continue  # keep_for may reach ttl + stale_ttl, twice MAX_SECONDS
            with pytest.raises(CachingConfigurationError, match="keep_for"):
                await cache.storage.write([("k", entry, keep_for)])  # type: ignore[list-item]
        assert cache.stats.errors == 0
    finally:
        await cache.aclose()


@pytest.mark.redis
async def test_wait_until_subscribed_rejects_bad_numbers(redis_url: str, redis_prefix: str) -> None:
    cache = TieredCache[Any].from_url(redis_url, prefix=redis_prefix)
    try:
        for value in BAD_DURATIONS:
            with pytest.raises(CachingConfigurationError, match="within"):
                await cache.wait_until_subscribed(within=value)  # type: ignore[arg-type]
    finally:
        await cache.aclose()


@pytest.mark.parametrize(
    ("flag", "call"),
    [
        ("cache_none", lambda v: cached(_memory(), cache_none=v)),
        ("locking", lambda v: _redis(locking=v)),
        ("strict", lambda v: _redis(strict=v)),
        ("cluster", lambda v: RedisCache.from_url("redis://h", cluster=v)),
    ],
)
@pytest.mark.parametrize("value", [0, 1, "yes", None, 10**400], ids=repr)
def test_flags_are_bools(flag: str, call: Call, value: object) -> None:
    with pytest.raises(CachingConfigurationError, match=flag):
        call(value)


def test_the_longest_ttl_is_accepted_everywhere() -> None:
    cache = _memory()
    assert cache.jittered(MAX_SECONDS) <= MAX_SECONDS
    assert cache.jittered(timedelta(days=365 * 1000)) > 0
