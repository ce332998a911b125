"""Every instrument of buttress-caching, read back with the metric_reader fixture."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from typing import Any

import pytest

from buttress.caching import CacheStats, MemoryCache, RedisCache
from buttress.caching._metrics import COUNTED, LOAD_DURATION
from buttress.core import MISSING
from buttress.testing import FakeClock, RecordedMetrics, check_bound_when_made


def named() -> dict[str, str]:
    return {"cache.name": f"metrics-{secrets.token_hex(4)}"}


async def test_reads_writes_loads_and_evictions_are_counted(metric_reader: RecordedMetrics) -> None:
    attrs = named()
    cache = MemoryCache[int](max_size=2, name=attrs["cache.name"])

    async def load() -> int:
        return 7

    await cache.set("a", 1)
    await cache.get("a")
    await cache.get("missing")
    await cache.get_or_compute("b", load)
    await cache.set("c", 3)  # the third key: the least recently used goes
    assert metric_reader.value("buttress.caching.hits", attrs) == 1
    assert metric_reader.value("buttress.caching.misses", attrs) == 2
    assert metric_reader.value("buttress.caching.sets", attrs) == 3
    assert metric_reader.value("buttress.caching.loads", attrs) == 1
    assert metric_reader.value("buttress.caching.evictions", attrs) == 1
    assert metric_reader.count("buttress.caching.load.duration", attrs) == 1
    assert cache.stats.evictions == 1


async def test_single_flight_joins_are_counted(metric_reader: RecordedMetrics) -> None:
    attrs = named()
    cache = MemoryCache[int](name=attrs["cache.name"])
    started = asyncio.Event()

    async def slow() -> int:
        started.set()
        await asyncio.sleep(0.05)
        return 1

    await asyncio.gather(*(cache.get_or_compute("k", slow) for _ in range(5)))
    assert metric_reader.value("buttress.caching.single_flight.joins", attrs) == 4
    assert metric_reader.value("buttress.caching.loads", attrs) == 1


async def test_early_refreshes_and_stale_serving_are_counted(
    metric_reader: RecordedMetrics, fake_clock: FakeClock
) -> None:
    attrs = named()
    cache = MemoryCache[int](
        name=attrs["cache.name"], jitter=None, stale_ttl=60, clock=fake_clock, rng=lambda: 0.999_999
    )

    async def load() -> int:
        fake_clock.advance(1)  # a loader that takes a second: XFetch's delta
        return 1

    await cache.get_or_compute("k", load, ttl=10)
    fake_clock.advance(9.5)
    await cache.get_or_compute("k", load, ttl=10)  # fresh, close to expiry: refreshed early
    await asyncio.sleep(0.01)
    fake_clock.advance(20)
    await cache.get_or_compute("k", load, ttl=10)  # expired, within stale_ttl: served stale
    await asyncio.sleep(0.01)
    assert metric_reader.value("buttress.caching.early_refreshes", attrs) == 1
    assert metric_reader.value("buttress.caching.stale_served", attrs) == 1
    await cache.aclose()


@pytest.mark.redis
async def test_errors_and_lock_waits_are_counted(
    metric_reader: RecordedMetrics, redis_url: str, redis_prefix: str
) -> None:
    attrs = named()
    down: RedisCache[Any] = RedisCache.from_url(
        "redis://127.0.0.1:1/0", name=attrs["cache.name"], socket_timeout=0.5
    )
    assert await down.get("k") is MISSING
    assert metric_reader.value("buttress.caching.errors", attrs) == 1
    await down.aclose()

    waits = named()
    holder: RedisCache[int] = RedisCache.from_url(redis_url, prefix=redis_prefix, name=waits["cache.name"])
    waiter: RedisCache[int] = RedisCache.from_url(redis_url, prefix=redis_prefix, name=waits["cache.name"])
    release = asyncio.Event()

    async def slow() -> int:
        await release.wait()
        return 1

    try:
        holding = asyncio.create_task(holder.get_or_compute("k", slow, ttl=60))
        await asyncio.sleep(0.1)
        waiting = asyncio.create_task(waiter.get_or_compute("k", slow, ttl=60))
        await asyncio.sleep(0.1)
        release.set()
        assert await holding == await waiting == 1
        assert metric_reader.value("buttress.caching.lock.waits", waits) == 1
    finally:
        await holder.clear()
        await holder.aclose()
        await waiter.aclose()


def test_every_counter_of_the_stats_is_reported() -> None:
    assert set(COUNTED) == {f.name for f in dataclasses.fields(CacheStats)}
    assert LOAD_DURATION.name == "buttress.caching.load.duration"


def test_making_the_redis_cache_binds_the_package_s_instruments() -> None:
    make = "from buttress.caching import RedisCache; RedisCache.from_url('redis://localhost')"
    assert "buttress.caching.load.duration" in check_bound_when_made(
        "buttress.caching._metrics:TELEMETRY", make
    )
