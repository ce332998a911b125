"""buttress-caching against cashews, aiocache and cachetools, side by side in one run.

Run with ``nox -s bench -- caching`` (or ``python benchmarks/caching.py [--quick]
[--full-redis-stampede] [--only redis-hit|memory-hit|hot-key|l1-coherence|l1-hit|stampede]
[--before REV]``); the default
run takes about five minutes on two cores. Every library talks to the same Redis, in the same process
and event loop, after a warm-up. Five workloads, run and printed in the order 1, 2, 3, 5, 4 (the
stampede last: it leaves the biggest heap behind):

1. Redis hit: ``@cached`` (and ``get`` / ``get_or_compute``) on Redis against a raw ``redis.asyncio``
   GET of the same value, cashews (redis backend, ``@cache``) and aiocache (``RedisCache``, ``@cached``).
2. Memory hit: ``MemoryCache`` against cachetools' ``TTLCache`` (used directly), cashews ``mem://``
   and aiocache's ``SimpleMemoryCache``.
3. Hot key: 1,000 readers of one key whose TTL keeps expiring; reads that had to wait for the
   loader, and recomputes per TTL window.
4. Stampede: Zipf-distributed requests from 1,000 concurrent callers, a 10 ms loader; loader calls
   against unique keys, and wall time. 200,000 requests in memory; 20,000 on Redis unless
   ``--full-redis-stampede`` (the Redis rows of all three libraries serve ~650-1,600 requests/s here).
5. L1 coherence: a `TieredCache` L1 hit (``--only l1-hit`` for that part alone) through `get` and
   `@cached`, per ``l1_values`` and value shape, and the time from a write in another OS process to
   the eviction of this process's L1 copy, pub/sub invalidation against Redis tracking
   (``invalidation="tracking"``), rounds alternating. No peer here: redis-py's own client-side cache
   needs Redis >= 7.4. ``--before REV`` adds buttress-caching as of the git revision REV to the L1
   hit's rounds and to the Redis hit's (1), loaded from git into the same process (its caches under
   its own `@cached`).

Every Redis key this script writes contains a random token; the keys are deleted at the end (by
SCAN on that token; never FLUSHDB).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import datetime
import functools
import gc
import importlib.metadata
import itertools
import json
import os
import platform
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import cachetools
import redis.asyncio as aioredis
from _harness import Dist, delete_redis_keys, print_table, ratio
from _harness import load_before as load_revision
from aiocache import RedisCache as AioRedisCache
from aiocache import SimpleMemoryCache, cached_stampede
from aiocache import cached as aio_cached
from cashews import Cache as CashewsCache

from buttress.caching import (
    MemoryCache,
    PickleSerializer,
    RedisCache,
    TieredCache,
    TieredStorage,
    cached,
)
from buttress.core import JsonSerializer

type Value = dict[str, Any]
type Call = Callable[[], Awaitable[object]]
type SyncCall = Callable[[], object]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LONG_TTL = 600.0

# Workloads with 1,000 concurrent callers give every library the same pool, one connection per caller:
# redis-py's default pool raises MaxConnectionsError beyond 100 commands in flight, and a smaller
# BlockingConnectionPool starves some waiters past the libraries' timeouts (its waits are not FIFO).
POOL_SIZE = 1_000

# Every key written carries this token, so cleanup can find exactly this run's keys.
TOKEN = f"bench-caching-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Scale:
    """How big each workload is; ``--quick`` shrinks everything for a smoke run of about a minute."""

    redis_rounds: int
    memory_rounds: int
    stampede_requests: int
    stampede_requests_redis: int
    stampede_keys: int
    concurrency: int
    hot_seconds: float
    hot_readers: int


DEFAULT = Scale(
    redis_rounds=10_000,
    memory_rounds=1_000,
    stampede_requests=200_000,
    stampede_requests_redis=20_000,
    stampede_keys=50_000,
    concurrency=1_000,
    hot_seconds=5.0,
    hot_readers=1_000,
)
QUICK = Scale(
    redis_rounds=3_000,
    memory_rounds=200,
    stampede_requests=20_000,
    stampede_requests_redis=10_000,
    stampede_keys=50_000,
    concurrency=1_000,
    hot_seconds=2.0,
    hot_readers=1_000,
)


# --- values, statistics, tables ---------------------------------------------------------------------------


def make_value(i: int) -> Value:
    """A small JSON-able record of ten fields, the kind of thing an application caches."""
    return {
        "id": i,
        "name": f"user-{i}",
        "email": f"user{i}@example.com",
        "active": True,
        "score": 12.5,
        "tags": ["admin", "beta"],
        "created": "2025-01-01T00:00:00+00:00",
        "country": "NL",
        "plan": "pro",
        "logins": 42,
    }


def check(got: object, expected: object) -> None:
    if got != expected:
        raise RuntimeError(f"benchmark setup is wrong: read {got!r}, expected {expected!r}")


# --- clients ------------------------------------------------------------------------------------------------


def pooled_client(url: str) -> aioredis.Redis:
    """A client whose pool waits for a free connection instead of failing (the same for every library)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=30, socket_timeout=5.0
    )
    return aioredis.Redis.from_pool(pool)


def cashews_cache(url: str, backend: str, name: str, *, size: int) -> CashewsCache:
    cache = CashewsCache(name=f"bench-{name}-{backend}")
    if backend == "memory":
        cache.setup("mem://", size=size)
    else:
        # cashews already uses a BlockingConnectionPool (of 10 by default): make it the others' size.
        cache.setup(url, max_connections=POOL_SIZE, socket_timeout=5.0)
    return cache


def aiocache_options(url: str, backend: str, *, pooled: bool = True) -> dict[str, Any]:
    """Keyword arguments for aiocache's decorators: the memory cache by default, or its RedisCache."""
    if backend == "memory":
        return {}
    parsed = urlparse(url)
    options: dict[str, Any] = {
        "cache": AioRedisCache,
        "endpoint": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 6379,
        "db": int((parsed.path or "/0").lstrip("/") or 0),
    }
    if pooled:
        options |= {
            "pool_max_size": POOL_SIZE,
            "connection_pool_class": aioredis.BlockingConnectionPool,
            "connection_pool_kwargs": {"timeout": 30, "socket_timeout": 5.0},
        }
    return options


async def close_aiocache(cache: Any, backend: str) -> None:
    if backend == "memory":
        # Its entries hold loop.call_later timers (for their TTL); deleting them cancels the timers.
        await cache.clear(namespace=cache.namespace)
    await cache.close()


# --- timing -------------------------------------------------------------------------------------------------


type Sample = Callable[[], Awaitable[float]]

BLOCK = 100


def one_call(call: Call) -> Sample:
    """A sample is one call's latency in µs (for round trips, where the timer's own cost is noise)."""
    clock = time.perf_counter_ns

    async def sample() -> float:
        start = clock()
        await call()
        return (clock() - start) / 1_000

    return sample


def block_of(call: Call) -> Sample:
    """A sample is the mean latency, in µs, of ``BLOCK`` calls in a row (for calls of a few µs)."""
    clock = time.perf_counter_ns

    async def sample() -> float:
        start = clock()
        for _ in range(BLOCK):
            await call()
        return (clock() - start) / 1_000 / BLOCK

    return sample


def sync_block_of(call: SyncCall) -> Sample:
    """`block_of` for a plain function (cachetools), called without any await."""
    clock = time.perf_counter_ns

    async def sample() -> float:
        start = clock()
        for _ in range(BLOCK):
            call()
        return (clock() - start) / 1_000 / BLOCK

    return sample


async def round_robin(samples: dict[str, Sample], rounds: int, seed: int) -> dict[str, Dist]:
    """Take ``rounds`` samples of each, one of each per round in a shuffled order.

    Interleaving sample by sample means the drift of a shared, noisy machine hits every library alike.
    """
    names = list(samples)
    for _ in range(max(rounds // 10, 50)):  # warm-up: code paths, connections, CPU caches
        for name in names:
            await samples[name]()
    gc.collect()
    taken: dict[str, list[float]] = {name: [] for name in names}
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            taken[name].append(await samples[name]())
    return {name: Dist.of(values) for name, values in taken.items()}


# --- workload 1: a hit on Redis -----------------------------------------------------------------------------


async def redis_hits(url: str, scale: Scale) -> None:
    prefix = f"{TOKEN}:w1:"
    value = make_value(7)
    # Sequential calls: every library with its default client settings.
    aio_opts = aiocache_options(url, "redis", pooled=False)

    raw = aioredis.Redis.from_url(url)
    await raw.set(f"{prefix}raw", json.dumps(value))
    raw_key = f"{prefix}raw"

    ours: RedisCache[Value] = RedisCache.from_url(url, prefix=f"{prefix}b:", ttl=LONG_TTL)

    @cached(ours, ttl=LONG_TTL, namespace="user")
    async def ours_user(user_id: int) -> Value:
        return make_value(user_id)

    # buttress with its pickle serializer (signed: HMAC-SHA256 checked before unpickling), next to
    # cashews' default (unsigned) pickle.
    ours_pickle: RedisCache[Value] = RedisCache.from_url(
        url, prefix=f"{prefix}bp:", ttl=LONG_TTL, serializer=PickleSerializer(secrets.token_bytes(32))
    )

    @cached(ours_pickle, ttl=LONG_TTL, namespace="user")
    async def ours_pickle_user(user_id: int) -> Value:
        return make_value(user_id)

    # The same cache with its reads through redis-py's `client.get` instead of `LeanGet`: the hit
    # as it was before the lean path (an ablation; nothing else differs).
    ours_plain: RedisCache[Value] = RedisCache.from_url(url, prefix=f"{prefix}bc:", ttl=LONG_TTL)
    ours_plain.storage._get = ours_plain.storage.client.get  # type: ignore[attr-defined]

    @cached(ours_plain, ttl=LONG_TTL, namespace="user")
    async def ours_plain_user(user_id: int) -> Value:
        return make_value(user_id)

    async def ours_load() -> Value:
        return value

    # --before REV: the revision's RedisCache under its own @cached, in the same rounds.
    old_cache: Any = None
    calls_before: dict[str, Call] = {}
    if BEFORE_REV:
        old = load_before(BEFORE_REV[0])
        old_cache = old.RedisCache.from_url(url, prefix=f"{prefix}before:", ttl=LONG_TTL)

        @old.cached(old_cache, ttl=LONG_TTL, namespace="user")
        async def before_user(user_id: int) -> Value:
            return make_value(user_id)

        calls_before["before @cached"] = lambda: before_user(7)

    # The same client configuration as ours (core's open_redis), for the raw GET ours is held to.
    tuned = ours.storage.client  # type: ignore[attr-defined]
    await tuned.set(f"{prefix}raw-tuned", json.dumps(value))

    cw = CashewsCache(name="bench-redis")
    cw.setup(url)
    await cw.init()
    # cashews pickles by default; with pickle_type="json" it stores JSON like buttress and aiocache.
    cwj = CashewsCache(name="bench-redis-json")
    cwj.setup(url, pickle_type="json")
    await cwj.init()

    @cw(ttl=LONG_TTL, key=f"{prefix}cw:user:{{user_id}}")
    async def cw_user(user_id: int) -> Value:
        return make_value(user_id)

    @cwj(ttl=LONG_TTL, key=f"{prefix}cwj:user:{{user_id}}")
    async def cwj_user(user_id: int) -> Value:
        return make_value(user_id)

    aio_direct = AioRedisCache(namespace=f"{prefix}ac", **{k: v for k, v in aio_opts.items() if k != "cache"})

    @aio_cached(ttl=int(LONG_TTL), namespace=f"{prefix}acd", **aio_opts)
    async def aio_user(user_id: int) -> Value:
        return make_value(user_id)

    try:
        # Fill every cache once; what follows are hits.
        await ours_user(7)
        await ours_pickle_user(7)
        await ours_plain_user(7)
        await ours.set("k", value, ttl=LONG_TTL)
        await cw_user(7)
        await cw.set(f"{prefix}cw:k", value, expire=LONG_TTL)
        await cwj_user(7)
        await cwj.set(f"{prefix}cwj:k", value, expire=LONG_TTL)
        check(await cwj_user(7), value)
        check(await cwj.get(f"{prefix}cwj:k"), value)
        await aio_user(7)
        await aio_direct.set("k", value, ttl=int(LONG_TTL))
        check(await ours_user(7), value)
        check(await ours_pickle_user(7), value)
        check(await ours_plain_user(7), value)
        check(await cw_user(7), value)
        check(await aio_user(7), value)
        check(await ours.get("k"), value)

        async def raw_get() -> object:
            return await raw.get(raw_key)

        async def tuned_get() -> object:
            return await tuned.get(f"{prefix}raw-tuned")

        calls: dict[str, Call] = {
            "raw GET": raw_get,
            "raw GET, same client": tuned_get,
            "ours @cached": lambda: ours_user(7),
            "ours pickle @cached": lambda: ours_pickle_user(7),
            "ours client.get @cached": lambda: ours_plain_user(7),
            "ours get": lambda: ours.get("k"),
            "ours get_or_compute": lambda: ours.get_or_compute("k", ours_load, ttl=LONG_TTL),
            "cashews @cache": lambda: cw_user(7),
            "cashews get": lambda: cw.get(f"{prefix}cw:k"),
            "cashews json @cache": lambda: cwj_user(7),
            "cashews json get": lambda: cwj.get(f"{prefix}cwj:k"),
            "aiocache @cached": lambda: aio_user(7),
            "aiocache get": lambda: aio_direct.get("k"),
            **calls_before,
        }
        result = await round_robin(
            {name: one_call(call) for name, call in calls.items()}, scale.redis_rounds, seed=1
        )
        stats = ours.stats
    finally:
        await ours.aclose()
        await ours_pickle.aclose()
        await ours_plain.aclose()
        if old_cache is not None:
            await old_cache.aclose()
        await cw.close()
        await cwj.close()
        await aio_direct.close()
        await aio_user.cache.close()
        await raw.aclose()

    raw_p50 = result["raw GET"].p50
    tuned_p50 = result["raw GET, same client"].p50
    rows: list[list[str]] = []
    for op, ours_name, cw_name, aio_name in (
        ("`@cached` hit", "ours @cached", "cashews {}@cache", "aiocache @cached"),
        ("`@cached` hit, buttress pickle (signed)", "ours pickle @cached", "cashews {}@cache", None),
        (
            "`@cached` hit via `client.get` (before)",
            "ours client.get @cached",
            "cashews {}@cache",
            "aiocache @cached",
        ),
        *(
            [
                (
                    f"`@cached` hit, before ({BEFORE_REV[0]})",
                    "before @cached",
                    "cashews {}@cache",
                    "aiocache @cached",
                )
            ]
            if BEFORE_REV
            else []
        ),
        ("`get` hit", "ours get", "cashews {}get", "aiocache get"),
        ("`get_or_compute` hit", "ours get_or_compute", None, None),
    ):
        mine = result[ours_name]
        json_peer = result[cw_name.format("json ")] if cw_name else None
        pickle_peer = result[cw_name.format("")] if cw_name else None
        rows.append(
            [
                op,
                mine.cell(1),
                result["raw GET"].cell(1),
                result["raw GET, same client"].cell(1),
                json_peer.cell(1) if json_peer else "n/a",
                pickle_peer.cell(1) if pickle_peer else "n/a",
                result[aio_name].cell(1) if aio_name else "n/a",
                ratio(mine.p50, raw_p50),
                ratio(mine.p50, tuned_p50),
                ratio(mine.p50, json_peer.p50 if json_peer else None),
                ratio(mine.p50, pickle_peer.p50 if pickle_peer else None),
                ratio(mine.p50, result[aio_name].p50 if aio_name else None),
            ]
        )
    print_table(
        "1. Hit on Redis: µs per call, median (p10-p90)",
        [
            "operation",
            "buttress",
            "raw GET",
            "raw GET, same client",
            "cashews (JSON)",
            "cashews (pickle)",
            "aiocache",
            "÷ raw",
            "÷ raw, same client",
            "÷ cashews JSON",
            "÷ cashews pickle",
            "÷ aiocache",
        ],
        rows,
        [
            f"{scale.redis_rounds:,} calls per cell, each timed, interleaved call by call with the other "
            "cells in a shuffled order, after a warm-up; "
            "one key, a 10-field dict. Ratios are buttress median ÷ peer median (< 1: buttress faster).",
            "Serialization: buttress JSON (and, in its own row, its pickle signed with HMAC-SHA256), "
            "aiocache JSON, cashews both JSON (pickle_type='json') and its default pickle (unsigned); the "
            "raw GETs return the bytes undecoded. 'raw GET' is redis-py's `client.get` on its default "
            "client; 'same client' is `client.get` on buttress's own (core's open_redis: blocking pool, "
            "timeouts, retry). buttress reads through `LeanGet` (one GET straight on a pooled "
            "connection); the 'via client.get' row is the same cache reading through redis-py's "
            "`client.get` instead, as before.",
            f"buttress stats after the run: hits={stats.hits}, misses={stats.misses}, errors={stats.errors}.",
        ],
    )


# --- workload 2: a hit in memory ----------------------------------------------------------------------------


async def memory_hits(scale: Scale) -> None:
    value = make_value(7)
    ours: MemoryCache[Value] = MemoryCache(max_size=10_000, ttl=LONG_TTL)

    @cached(ours, ttl=LONG_TTL, namespace="user")
    async def ours_user(user_id: int) -> Value:
        return make_value(user_id)

    async def ours_load() -> Value:
        return value

    ttl_cache: cachetools.TTLCache[str, Value] = cachetools.TTLCache(maxsize=10_000, ttl=LONG_TTL)
    lru_cache: cachetools.LRUCache[str, Value] = cachetools.LRUCache(maxsize=10_000)

    async def tc_get_or_compute(key: str, loader: Callable[[], Awaitable[Value]]) -> Value:
        # What a user writes around cachetools in async code: there is no async API to call.
        try:
            return ttl_cache[key]
        except KeyError:
            result = await loader()
            ttl_cache[key] = result
            return result

    cm = CashewsCache(name="bench-mem")
    cm.setup("mem://", size=100_000)
    await cm.init()

    @cm(ttl=LONG_TTL, key=f"{TOKEN}:w2:user:{{user_id}}")
    async def cm_user(user_id: int) -> Value:
        return make_value(user_id)

    am = SimpleMemoryCache()

    @aio_cached(ttl=int(LONG_TTL), namespace=f"{TOKEN}:w2")
    async def am_user(user_id: int) -> Value:
        return make_value(user_id)

    try:
        await ours.set("k", value)
        await ours_user(7)
        ttl_cache["k"] = value
        lru_cache["k"] = value
        await cm.set("k", value, expire=LONG_TTL)
        await cm_user(7)
        await am.set("k", value, ttl=int(LONG_TTL))
        await am_user(7)
        check(await ours.get("k"), value)
        check(await cm.get("k"), value)
        check(await am.get("k"), value)

        def tc_get() -> object:
            return ttl_cache["k"]

        def lru_get() -> object:
            return lru_cache["k"]

        async def tc_gc() -> object:
            return await tc_get_or_compute("k", ours_load)

        calls: dict[str, Call] = {
            "ours get": lambda: ours.get("k"),
            "ours get_or_compute": lambda: ours.get_or_compute("k", ours_load, ttl=LONG_TTL),
            "ours @cached": lambda: ours_user(7),
            "cachetools get_or_compute": tc_gc,
            "cashews get": lambda: cm.get("k"),
            "cashews @cache": lambda: cm_user(7),
            "aiocache get": lambda: am.get("k"),
            "aiocache @cached": lambda: am_user(7),
        }
        samples = {name: block_of(call) for name, call in calls.items()}
        samples["cachetools get"] = sync_block_of(tc_get)
        samples["cachetools LRU get"] = sync_block_of(lru_get)
        result = await round_robin(samples, scale.memory_rounds, seed=2)
    finally:
        await ours.aclose()
        await cm.close()
        await am.close()

    rows: list[list[str]] = []
    for op, names in (
        ("`get` hit", ("ours get", "cachetools get", "cashews get", "aiocache get")),
        ("`get_or_compute` hit", ("ours get_or_compute", "cachetools get_or_compute", None, None)),
        ("`@cached` hit", ("ours @cached", None, "cashews @cache", "aiocache @cached")),
    ):
        mine = result[names[0]]
        peers = [result[n] if n else None for n in names[1:]]
        rows.append(
            [
                op,
                mine.cell(2),
                *[p.cell(2) if p else "n/a" for p in peers],
                *[ratio(mine.p50, p.p50 if p else None) for p in peers],
            ]
        )
    print_table(
        "2. Hit in memory: µs per call, median (p10-p90)",
        [
            "operation",
            "buttress",
            "cachetools",
            "cashews mem://",
            "aiocache memory",
            "÷ cachetools",
            "÷ cashews",
            "÷ aiocache",
        ],
        rows,
        [
            f"{scale.memory_rounds:,} samples per cell, each the mean per call of {BLOCK} calls in a row "
            "(which keeps the timer's own cost out), interleaved block by block with the other cells in a "
            "shuffled order, after a warm-up.",
            "cachetools: `TTLCache.__getitem__` called directly (sync, no await); its `get_or_compute` row "
            "is the try/except-KeyError helper a user writes in async code; it has no async decorator. "
            f"cachetools `LRUCache.__getitem__`: {result['cachetools LRU get'].cell(2)} µs.",
            "cashews and aiocache have no get-or-compute call.",
        ],
    )


# --- workload 3: a hot key whose TTL keeps expiring ---------------------------------------------------------


@dataclass
class HotLoader:
    """Counts runs and stamps each value with when it was computed (to tell a wait from a hit)."""

    delay: float
    calls: int = 0

    async def __call__(self) -> Value:
        self.calls += 1
        await asyncio.sleep(self.delay)
        value = make_value(1)
        value["computed_at"] = time.monotonic()
        return value


@dataclass(frozen=True)
class HotResult:
    reads: int
    waited: int
    recomputes: int
    p99_ms: float
    max_ms: float


async def hot_run(
    call: Callable[[], Awaitable[Value]], loader: HotLoader, scale: Scale, seed: int
) -> HotResult:
    """``hot_readers`` tasks read one key for ``hot_seconds``, pausing 0.2-0.6 s between reads.

    A read "waited for the loader" when the value it got was computed after the read began: it
    could not have been served from the cache (fresh or stale) and had to wait for a computation.
    """
    await call()  # the key exists before the readers arrive
    loader.calls = 0
    rng = random.Random(seed)
    reads = waited = 0
    latencies: list[float] = []
    gc.collect()
    stop_at = time.monotonic() + scale.hot_seconds

    async def reader(pause: Callable[[], float]) -> None:
        nonlocal reads, waited
        await asyncio.sleep(pause())
        while time.monotonic() < stop_at:
            start = time.monotonic()
            value = await call()
            end = time.monotonic()
            reads += 1
            latencies.append((end - start) * 1_000)
            if value["computed_at"] > start:
                waited += 1
            await asyncio.sleep(pause())

    await asyncio.gather(
        *(reader(functools.partial(rng.uniform, 0.2, 0.6)) for _ in range(scale.hot_readers))
    )
    recomputes = loader.calls
    latencies.sort()
    if not latencies:
        raise RuntimeError(f"no reader finished a read within {scale.hot_seconds} s")
    return HotResult(reads, waited, recomputes, latencies[int(len(latencies) * 0.99)], latencies[-1])


async def hot_key(url: str, scale: Scale) -> None:
    ttl, delay = 0.5, 0.020
    prefix = f"{TOKEN}:w4:"
    warm_scale = dataclasses.replace(scale, hot_seconds=1.0)
    results: dict[str, HotResult] = {}
    notes: dict[str, str] = {}

    async def run_ours(name: str, backend: str, **options: Any) -> None:
        loader = HotLoader(delay)
        async with contextlib.AsyncExitStack() as stack:
            cache: MemoryCache[Value] | RedisCache[Value] | TieredCache[Value]
            if backend == "memory":
                cache = MemoryCache(max_size=1_000, ttl=ttl, **options)
            else:
                client = pooled_client(url)
                stack.push_async_callback(client.aclose)
                if backend == "tiered":
                    cache = TieredCache(
                        client,
                        prefix=f"{prefix}b{len(results)}:",
                        l1_max_size=1_000,
                        ttl=ttl,
                        **options,
                    )
                    await cache.wait_until_subscribed()
                else:
                    cache = RedisCache(client, prefix=f"{prefix}b{len(results)}:", ttl=ttl, **options)
            stack.push_async_callback(cache.aclose)

            async def call() -> Value:
                return await cache.get_or_compute("hot", loader, ttl=ttl)

            await hot_run(call, loader, warm_scale, 1)  # warm-up; also opens the pool's connections
            before = cache.stats
            results[name] = await hot_run(call, loader, scale, 2)
            after = cache.stats
            notes[name] = (
                f"misses {after.misses - before.misses}, "
                f"stale served {after.stale_served - before.stale_served}, "
                f"early refreshes {after.early_refreshes - before.early_refreshes}, "
                f"single-flight joins {after.single_flight_joins - before.single_flight_joins}, "
                f"errors {after.errors - before.errors}"
            )

    type Make = Callable[[HotLoader, str], Callable[[], Awaitable[Value]]]

    async def run_peer(name: str, make: Make) -> None:
        loader = HotLoader(delay)
        call = make(loader, str(len(results)))
        try:
            await hot_run(call, loader, warm_scale, 1)  # warm-up; also opens the pool's connections
            results[name] = await hot_run(call, loader, scale, 2)
        except Exception as exc:  # noqa: BLE001 - a peer's own failure is reported, not fatal to the run
            # aiocache's RedLock can raise KeyError from its release under load (a race on its event map).
            notes[name] = (
                f"no row: the library raised {type(exc).__name__} ({str(exc)[:60]!r}) during the run"
            )

    for backend in ("memory", "redis"):
        await run_ours(f"buttress {backend}, `stale_ttl=0.5` (SWR + XFetch)", backend, stale_ttl=ttl)
        await run_ours(f"buttress {backend}, XFetch only (defaults)", backend)
        await run_ours(f"buttress {backend}, single-flight only (`xfetch_beta=0`)", backend, xfetch_beta=0.0)
    await run_ours("buttress tiered (memory L1 + Redis L2), `stale_ttl=0.5`", "tiered", stale_ttl=ttl)

    for backend in ("memory", "redis"):
        async with contextlib.AsyncExitStack() as stack:
            cw = cashews_cache(url, backend, "hot", size=1_000)
            await cw.init()
            stack.push_async_callback(cw.close)

            def cw_lock(
                loader: HotLoader, tag: str, cw: CashewsCache = cw, backend: str = backend
            ) -> Callable[[], Awaitable[Value]]:
                @cw(ttl=ttl, lock=True, key=f"{prefix}cw-lock:{backend}:{tag}")
                async def call() -> Value:
                    return await loader()

                return call

            def cw_early(
                loader: HotLoader, tag: str, cw: CashewsCache = cw, backend: str = backend
            ) -> Callable[[], Awaitable[Value]]:
                # early_ttl: when a background recompute starts; ttl: how long the value is kept.
                @cw.early(ttl=2 * ttl, early_ttl=ttl, key=f"{prefix}cw-early:{backend}:{tag}")
                async def call() -> Value:
                    return await loader()

                return call

            def aio_stampede(
                loader: HotLoader,
                tag: str,
                backend: str = backend,
                stack: contextlib.AsyncExitStack = stack,
            ) -> Callable[[], Awaitable[Value]]:
                @cached_stampede(
                    ttl=ttl,
                    lease=2,
                    namespace=f"{prefix}ac:{backend}:{tag}",
                    **aiocache_options(url, backend),
                )
                async def call() -> Value:
                    return await loader()

                stack.push_async_callback(close_aiocache, call.cache, backend)
                typed: Callable[[], Awaitable[Value]] = call
                return typed

            await run_peer(f"cashews {backend}, `@cache(lock=True)`", cw_lock)
            await run_peer(f"cashews {backend}, `@cache.early(ttl=1, early_ttl=0.5)`", cw_early)
            await run_peer(f"aiocache {backend}, `cached_stampede`", aio_stampede)

    windows = scale.hot_seconds / ttl
    rows = [
        [
            name,
            f"{r.reads:,}",
            f"{r.waited:,}",
            f"{r.recomputes}",
            f"{r.recomputes / windows:.2f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
        ]
        for name, r in results.items()
    ]
    print_table(
        "3. Hot key: 1,000 readers, TTL 0.5 s, 20 ms loader",
        [
            "library / strategy",
            "reads",
            "reads that waited for the loader",
            "loader runs",
            "loader runs per TTL window",
            "p99 read, ms",
            "max read, ms",
        ],
        rows,
        [
            f"Scale: {scale.hot_readers:,} readers for {scale.hot_seconds:g} s ({windows:g} TTL windows), "
            "each pausing 0.2-0.6 s between reads (about 2,500 reads/s offered). A read waited for the "
            "loader when the value it got was computed after it began (so it was served neither fresh nor "
            "stale). buttress TTLs carry its default 5-15 % jitter. Each row is warmed up for 1 s first.",
            f"Redis clients: a `BlockingConnectionPool` of {POOL_SIZE} connections for every library.",
            "buttress counters during the measured run:",
            *(f"- {name}: {note}" for name, note in notes.items()),
        ],
    )


# --- workload 4: stampede -----------------------------------------------------------------------------------


def zipf_requests(n_requests: int, n_keys: int, s: float, seed: int) -> list[int]:
    """``n_requests`` key ids drawn from a Zipf(s) law over ``n_keys`` ranks (rank 0 most popular)."""
    cumulative = list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n_keys + 1)))
    total = cumulative[-1]
    rng = random.Random(seed)
    last = n_keys - 1
    return [min(bisect.bisect_left(cumulative, rng.random() * total), last) for _ in range(n_requests)]


@dataclass
class Loader:
    """A loader that sleeps like a database call and counts how often it ran."""

    delay: float
    calls: int = 0

    async def __call__(self, key_id: int) -> Value:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return make_value(key_id)


@dataclass(frozen=True)
class StampedeResult:
    loads: int
    wall: float
    latency_ms: Dist


async def drive(
    requests: Sequence[int], concurrency: int, call: Callable[[int], Awaitable[object]]
) -> tuple[float, Dist]:
    """Serve ``requests`` from ``concurrency`` workers; return the wall time and the request latencies."""
    latencies: list[float] = []
    shared: Iterator[int] = iter(requests)
    clock = time.perf_counter

    async def worker() -> None:
        for key_id in shared:  # one iterator shared by all workers: each request is served once
            start = clock()
            await call(key_id)
            latencies.append((clock() - start) * 1_000)

    gc.collect()
    start = clock()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return clock() - start, Dist.of(latencies)


WARM_KEY_OFFSET = 10_000_000

type KeyCall = Callable[[int], Awaitable[object]]


async def stampede_targets(
    url: str, backend: str, delay: float, stack: contextlib.AsyncExitStack
) -> tuple[dict[str, tuple[KeyCall, Loader]], MemoryCache[Value] | RedisCache[Value]]:
    """Fresh caches and counting loaders for one stampede run on ``backend``, keyed by library.

    Everything opened is closed by ``stack``; the buttress cache is returned too, for its stats.
    """
    prefix = f"{TOKEN}:w3:{backend}:"
    targets: dict[str, tuple[KeyCall, Loader]] = {}

    loader = Loader(delay)
    ours: MemoryCache[Value] | RedisCache[Value]
    if backend == "memory":
        ours = MemoryCache(max_size=200_000, ttl=LONG_TTL)
    else:
        client = pooled_client(url)
        stack.push_async_callback(client.aclose)
        ours = RedisCache(client, prefix=f"{prefix}b:", ttl=LONG_TTL)
    stack.push_async_callback(ours.aclose)

    def ours_call(
        key_id: int, cache: MemoryCache[Value] | RedisCache[Value] = ours, load: Loader = loader
    ) -> Awaitable[Value]:
        return cache.get_or_compute(f"item:{key_id}", functools.partial(load, key_id), ttl=LONG_TTL)

    targets["buttress"] = (ours_call, loader)

    loader = Loader(delay)
    cw = cashews_cache(url, backend, "stampede", size=200_000)
    await cw.init()
    stack.push_async_callback(cw.close)

    @cw(ttl=LONG_TTL, lock=True, key=f"{prefix}cw:{{key_id}}")
    async def cw_call(key_id: int, load: Loader = loader) -> Value:
        return await load(key_id)

    targets["cashews"] = (cw_call, loader)

    loader = Loader(delay)

    @cached_stampede(ttl=int(LONG_TTL), lease=2, namespace=f"{prefix}ac", **aiocache_options(url, backend))
    async def aio_call(key_id: int, load: Loader = loader) -> Value:
        return await load(key_id)

    stack.push_async_callback(close_aiocache, aio_call.cache, backend)
    targets["aiocache"] = (aio_call, loader)
    return targets, ours


def stampede_rows(backend: str, unique: int, results: dict[str, StampedeResult | None]) -> list[list[str]]:
    """The four rows of one backend; a peer that failed shows "failed" and no ratio."""
    mine = results["buttress"]
    assert mine is not None  # noqa: S101 - buttress's own failure ends the run
    peers = [results["cashews"], results["aiocache"]]

    def row(
        label: str, value: Callable[[StampedeResult], float], shown: Callable[[StampedeResult], str]
    ) -> list[str]:
        cells = [shown(p) if p is not None else "failed" for p in peers]
        ratios = [ratio(value(mine), value(p)) if p is not None else "—" for p in peers]
        return [f"{label} ({backend})", shown(mine), *cells, *ratios]

    per_key = row(
        "loader calls / unique keys", lambda r: r.loads / unique, lambda r: f"{r.loads / unique:.3f}"
    )
    return [
        row("loader calls", lambda r: r.loads, lambda r: f"{r.loads:,}"),
        [*per_key[:4], "", ""],
        row("wall time, s", lambda r: r.wall, lambda r: f"{r.wall:.2f}"),
        row("request latency, ms", lambda r: r.latency_ms.p50, lambda r: r.latency_ms.cell(2)),
    ]


async def stampede(url: str, scale: Scale) -> None:
    delay = 0.010
    rows: list[list[str]] = []
    notes: list[str] = []
    for backend, n_requests in (
        ("memory", scale.stampede_requests),
        ("redis", scale.stampede_requests_redis),
    ):
        requests = zipf_requests(n_requests, scale.stampede_keys, 1.0, seed=20_251_121)
        # Warm-up on the same caches and pools, on keys the measured run never asks for.
        warm = [WARM_KEY_OFFSET + k for k in zipf_requests(2_000, scale.stampede_keys, 1.0, seed=7)]
        unique = len(set(requests))
        results: dict[str, StampedeResult | None] = {}
        async with contextlib.AsyncExitStack() as stack:
            errors_before = 0
            targets, ours = await stampede_targets(url, backend, delay, stack)
            for name, (call, loader) in targets.items():
                print(f"  stampede: {name} {backend} ...", end="", flush=True)
                try:
                    await drive(warm, scale.concurrency, call)
                    loader.calls = 0
                    if name == "buttress":
                        errors_before = ours.stats.errors
                    wall, latency = await drive(requests, scale.concurrency, call)
                except Exception as exc:
                    if name == "buttress":
                        raise
                    # A peer's own failure (aiocache's lock timing out on connect under load) is reported.
                    results[name] = None
                    notes.append(
                        f"- {name} {backend}: no result, the library raised {type(exc).__name__} "
                        f"({str(exc)[:60]!r}) during the run."
                    )
                    print(f" failed: {type(exc).__name__}", flush=True)
                    continue
                results[name] = StampedeResult(loader.calls, wall, latency)
                print(f" {wall:.1f} s, {loader.calls:,} loads", flush=True)
            errors = ours.stats.errors - errors_before
        rows.extend(stampede_rows(backend, unique, results))
        notes.append(
            f"- {backend}: {n_requests:,} requests over {scale.stampede_keys:,} keys (Zipf s=1.0, seeded), "
            f"{unique:,} unique keys requested; buttress backend errors: {errors}."
        )
    print_table(
        f"4. Stampede: Zipf requests, {scale.concurrency:,} concurrent callers, 10 ms loader",
        [
            "operation",
            "buttress `get_or_compute`",
            "cashews `@cache(lock=True)`",
            "aiocache `cached_stampede`",
            "/ cashews",
            "/ aiocache",
        ],
        rows,
        [
            *notes,
            "One run per cell (the latency cell is the median and p10-p90 of every request in it). TTL 600 s "
            "and caches larger than the key space, so each key should be loaded exactly once.",
            f"Redis clients: a `BlockingConnectionPool` of {POOL_SIZE} connections for all three libraries "
            "(redis-py's default pool refuses a 101st concurrent command with MaxConnectionsError).",
        ],
    )


# --- workload 5: L1 coherence, pub/sub against tracking -----------------------------------------------------

L1_MODES = ("pubsub", "tracking")


L1_TEXT = "<p>user-7 · last seen 2025-01-01, plan pro, NL</p>"  # a str value (an HTML fragment)
L1_SHAPES = {"record": make_value(7), "str": L1_TEXT}
L1_VALUES = ("copy", "shared", "bytes")


def load_before(rev: str) -> Any:
    """buttress-caching's source at ``rev`` (git), imported beside this one as ``buttress_caching_before``.

    The package has only relative imports (besides buttress-core, shared by both), so the old code
    runs in this process, on this event loop and Redis: "before" and "after" in the same rounds.
    """
    return load_revision("caching", rev)


async def l1_hits(url: str, scale: Scale, before_rev: str | None = None) -> None:
    """An L1 hit through `get` and `@cached`, per ``l1_values`` (and before, from git), per value shape."""
    variants: dict[str, Callable[[str], Any]] = {
        values: functools.partial(
            TieredCache[Any].from_url, url, invalidation="pubsub", l1_values=values, ttl=LONG_TTL
        )
        for values in L1_VALUES
    }
    variants["tracking copy"] = functools.partial(
        TieredCache[Any].from_url, url, invalidation="tracking", ttl=LONG_TTL
    )
    before_version = None
    decorators: dict[str, Any] = {}
    if before_rev is not None:
        old = load_before(before_rev)
        before_version = before_rev
        variants["before"] = functools.partial(old.TieredCache.from_url, url, ttl=LONG_TTL)
        decorators["before"] = old.cached  # the revision's own decorator over the revision's cache
    caches = {name: make(prefix=f"{TOKEN}:w5:{name.replace(' ', '-')}:") for name, make in variants.items()}
    try:
        calls: dict[str, Call] = {}
        for name, cache in caches.items():
            check(await cache.wait_until_subscribed(10), True)

            @decorators.get(name, cached)(cache, namespace="user")
            async def user(user_id: int) -> Value:
                return make_value(user_id)

            for shape, value in L1_SHAPES.items():
                await cache.set(shape, value)
                await cache.set(user.key(7 if shape == "record" else 8), value)
                for call_key, call in (
                    (f"{name} get {shape}", functools.partial(cache.get, shape)),
                    (f"{name} cached {shape}", functools.partial(user, 7 if shape == "record" else 8)),
                ):
                    while True:  # until L1 answers (a read overlapping the write's own report is not kept)
                        hits = cache.l1_stats.hits
                        check(await call(), value)
                        if cache.l1_stats.hits > hits:
                            break
                    calls[call_key] = call
            if name == "copy":
                calls["copy read record"] = functools.partial(cache.storage.read, "record")
        samples = {name: block_of(call) for name, call in calls.items()}
        serializer = JsonSerializer[Value]()
        samples["decode"] = sync_block_of(
            functools.partial(serializer.loads, serializer.dumps(make_value(7)))
        )
        result = await round_robin(samples, scale.memory_rounds, seed=5)
        for cache in caches.values():
            check(cache.l1_stats.misses <= 8, True)  # every timed call was an L1 hit
            check(cache.stats.errors, 0)
    finally:
        for cache in caches.values():
            await cache.aclose()

    columns = [*(["before"] if before_version else []), *L1_VALUES]
    rows = [
        [
            operation,
            *(result[f"{column} {call} {shape}"].cell(2) for column in columns),
            *(
                [ratio(result[f"copy {call} {shape}"].p50, result[f"before {call} {shape}"].p50)]
                if before_version
                else []
            ),
        ]
        for operation, call, shape in (
            ("`get`, 10-field record (dict)", "get", "record"),
            ("`get`, str (48 chars)", "get", "str"),
            ("`@cached` hit, 10-field record", "cached", "record"),
            ("`@cached` hit, str", "cached", "str"),
        )
    ]
    headers = [
        "L1 hit, µs per call",
        *([f"before ({before_version})"] if before_version else []),
        '`"copy"` (default)',
        '`"shared"`',
        '`"bytes"`',
        *(["copy ÷ before"] if before_version else []),
    ]
    print_table(
        '5a. L1 hit: µs per call, median (p10-p90), `invalidation="pubsub"`',
        headers,
        rows,
        [
            f"{scale.memory_rounds:,} samples per cell, each the mean of {BLOCK} calls in a row, interleaved "
            "with the other cells in a shuffled order. JSON (the default serializer). `l1_values`: "
            '`"copy"` hands each caller its own value (immutable ones kept decoded, containers copied), '
            '`"shared"` one decoded object for all, `"bytes"` decodes every hit.',
            'Under `invalidation="tracking"`, `"copy"`: `get` record '
            f"{result['tracking copy get record'].cell(2)}, str {result['tracking copy get str'].cell(2)}, "
            f"`@cached` record {result['tracking copy cached record'].cell(2)} µs. "
            f"`TieredStorage.read` L1 hit (bytes): {result['copy read record'].cell(2)} µs; "
            f"`JsonSerializer.loads` of the record alone: {result['decode'].cell(2)} µs.",
        ],
    )


async def l1_invalidation(url: str, scale: Scale) -> None:
    """Write in process B, L1 copy in process A evicted: µs from B's call to A noticing, per mode."""
    rounds = max(scale.memory_rounds // 2, 50)
    caches = {
        mode: TieredCache[int](
            TieredStorage.from_url(url, prefix=f"{TOKEN}:w5i:{mode}:", invalidation=mode), ttl=LONG_TTL
        )
        for mode in L1_MODES
    }
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--l1-writer",
        url,
        f"{TOKEN}:w5i:",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    if writer.stdin is None or writer.stdout is None:
        raise RuntimeError("the writer process has no pipes")
    seen: dict[str, list[float]] = {mode: [] for mode in L1_MODES}
    wrote: dict[str, list[float]] = {mode: [] for mode in L1_MODES}
    try:
        check((await writer.stdout.readline()).strip(), b"ready")
        for cache in caches.values():
            check(await cache.wait_until_subscribed(10), True)
            await cache.set("k", 0)
        rng = random.Random(6)
        order = list(L1_MODES)
        for i in range(rounds + 20):  # the first 20 rounds warm up
            rng.shuffle(order)
            for mode in order:
                cache = caches[mode]
                l1 = cache.storage.l1  # type: ignore[attr-defined] # a TieredStorage's L1
                while await l1.read("k") is None:  # hold an L1 copy (reads that overlap a report aren't kept)
                    await cache.get("k")
                writer.stdin.write(f"{mode} {i + 1}\n".encode())
                await writer.stdin.drain()
                # Busy, so the eviction is noticed at once (an Event would need a hook in the storage).
                while await l1.read("k") is not None:  # noqa: ASYNC110
                    await asyncio.sleep(0)
                noticed = time.monotonic_ns()
                started, finished = map(int, (await writer.stdout.readline()).split())
                if i >= 20:
                    seen[mode].append((noticed - started) / 1_000)
                    wrote[mode].append((finished - started) / 1_000)
    finally:
        writer.stdin.close()
        await writer.wait()
        for cache in caches.values():
            await cache.aclose()

    dists = {mode: Dist.of(seen[mode]) for mode in L1_MODES}
    rows = [
        [
            mode,
            dists[mode].cell(0),
            f"{sorted(seen[mode])[int(len(seen[mode]) * 0.99)]:,.0f}",
            Dist.of(wrote[mode]).cell(0),
        ]
        for mode in L1_MODES
    ]
    print_table(
        "5b. Invalidation across two processes: µs from a write in B to the eviction of A's L1 copy",
        ["invalidation", "write → evicted in A, median (p10-p90)", "p99", "B's `set` call, median (p10-p90)"],
        rows,
        [
            f"{rounds:,} rounds per mode after 20 of warm-up, the two modes alternating in a shuffled order. "
            "A holds the key in L1, tells B (another OS process, over a pipe) to `set` it; B stamps "
            "CLOCK_MONOTONIC (one clock for the whole host) before its call, A when its L1 copy is gone "
            "(A polls its L1 in a busy loop that yields to the event loop).",
            f"tracking ÷ pubsub, median: {ratio(dists['tracking'].p50, dists['pubsub'].p50)}. Under pub/sub "
            "B's `set` is a SET then a PUBLISH; under tracking, a SET alone, and Redis sends the report.",
        ],
    )


async def l1_coherence(url: str, scale: Scale) -> None:
    """Workload 5: the L1 hit, then the invalidation across two processes."""
    await l1_hits(url, scale, BEFORE_REV[0] if BEFORE_REV else None)
    await l1_invalidation(url, scale)


# A git revision whose buttress-caching runs beside this one in workload 5a (``--before``).
BEFORE_REV: list[str] = []


async def l1_writer(url: str, prefix: str) -> None:
    """Process B of `l1_invalidation`: for each stdin line ``<mode> <value>``, `set` the key, stamp it."""
    caches = {
        mode: TieredCache[int].from_url(url, prefix=f"{prefix}{mode}:", invalidation=mode)
        for mode in L1_MODES
    }
    loop = asyncio.get_running_loop()
    try:
        for cache in caches.values():
            check(await cache.wait_until_subscribed(10), True)
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            mode, value = line.split()
            started = time.monotonic_ns()
            await caches[mode].set("k", int(value))
            print(started, time.monotonic_ns(), flush=True)
    finally:
        for cache in caches.values():
            await cache.aclose()


# --- main ---------------------------------------------------------------------------------------------------


async def machine(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}"
        for dist in ("buttress-caching", "cashews", "aiocache", "cachetools", "redis")
    )
    print(f"# buttress-caching benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
    print(
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}"
    )
    print(f"- Python {platform.python_version()} ({platform.python_implementation()}), asyncio default loop")
    print(f"- Redis {info.get('redis_version')} at {urlparse(url).hostname}:{urlparse(url).port}")
    print(f"- {versions}")
    sys.stdout.flush()


WORKLOADS: dict[str, Callable[[str, Scale], Awaitable[None]]] = {
    "redis-hit": redis_hits,
    "memory-hit": lambda _url, scale: memory_hits(scale),
    "hot-key": hot_key,
    "l1-coherence": l1_coherence,
    "l1-hit": lambda url, scale: l1_hits(url, scale, BEFORE_REV[0] if BEFORE_REV else None),
    "stampede": stampede,  # last: it leaves the biggest heap behind
}


async def main(url: str, scale: Scale, quick: bool, only: Sequence[str] = ()) -> None:
    await machine(url)
    print(
        f"- scale: {'QUICK (--quick)' if quick else 'default'}: stampede "
        f"{scale.stampede_requests:,} requests in memory, {scale.stampede_requests_redis:,} on Redis; "
        f"hot key {scale.hot_seconds:g} s; "
        f"Redis-hit cells {scale.redis_rounds:,} calls each; key token {TOKEN}"
    )
    started = time.perf_counter()
    try:
        for name, workload in WORKLOADS.items():
            if (not only and name != "l1-hit") or name in only:  # l1-coherence runs l1-hit too
                await workload(url, scale)
    finally:
        removed = await delete_redis_keys(url, f"*{TOKEN}*")
        print(f"\nCleaned up {removed:,} Redis keys; total run time {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a small smoke run instead of the full scale")
    parser.add_argument(
        "--full-redis-stampede",
        action="store_true",
        help="200,000 stampede requests on Redis too (about 8 minutes more; the default is 20,000)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(WORKLOADS),
        default=[],
        help="run only this workload (repeat for several); default: all",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also run the Redis hit (1) and the L1 hit (5a) on buttress-caching as of this git revision, "
        "in the same rounds",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--l1-writer", nargs=2, metavar=("URL", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.l1_writer:
        asyncio.run(l1_writer(*args.l1_writer))
        sys.exit()
    if args.before:
        BEFORE_REV.append(args.before)
    chosen = QUICK if args.quick else DEFAULT
    if args.full_redis_stampede:
        chosen = dataclasses.replace(chosen, stampede_requests_redis=chosen.stampede_requests)
    asyncio.run(main(args.redis_url, chosen, args.quick, args.only))
