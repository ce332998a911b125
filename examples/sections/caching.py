"""The tour's buttress-caching section."""

from __future__ import annotations

import asyncio
import inspect
import os

from buttress.caching import (
    CachePolicy,
    CachingConfigurationError,
    MemoryCache,
    RedisCache,
    TieredCache,
    cached,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "500 concurrent misses of one key -> loader ran 1x",
    "set BUTTRESS_REDIS_URL to run them",
)
REAL: tuple[str, ...] = (
    "RedisCache: 200 concurrent misses -> loader ran 1x",
    "b's L1 copy was evicted: {'text': 'bonjour'}",
)


async def run(tour: Tour) -> None:
    # One policy (TTL, stale-while-revalidate, jitter, locks, failures), whatever keeps the entries.
    policy = CachePolicy(ttl=60, stale_ttl=30)
    memory = MemoryCache[dict[str, object]](max_size=1_000, policy=policy)
    loads = 0

    async def fetch_profile(user_id: int) -> dict[str, object]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)  # a slow query
        return {"id": user_id, "name": f"user-{user_id}"}

    results = await asyncio.gather(
        *(memory.get_or_compute("user:1", lambda: fetch_profile(1)) for _ in range(500))
    )
    tour.say(f"500 concurrent misses of one key -> loader ran {loads}x, all got {results[0]}")

    @cached(memory, ttl=30)
    async def profile(user_id: int) -> dict[str, object]:
        return await fetch_profile(user_id)

    await profile(2)
    await profile(user_id=2)
    tour.say(f"@cached: profile(2) and profile(user_id=2) share one entry; loads so far: {loads}")
    tour.say(
        f"a cached view is still a coroutine function to frameworks: {inspect.iscoroutinefunction(profile)}"
    )
    await profile.invalidate(2)
    tour.say(f"after invalidate(2): cached? {await memory.exists(profile.key(2))}")
    try:
        await memory.set("k", {}, ttl=0)
    except CachingConfigurationError as exc:
        tour.say(f"a zero TTL is refused: {exc}")
    tour.say(f"memory stats: {memory.stats}")

    if tour.redis_url is None:
        tour.say("RedisCache and TieredCache: set BUTTRESS_REDIS_URL to run them")
        return
    prefix = f"tour:{os.getpid()}:"
    async with RedisCache[dict[str, object]].from_url(tour.redis_url, prefix=prefix, policy=policy) as shared:
        loads = 0
        await asyncio.gather(*(shared.get_or_compute("user:3", lambda: fetch_profile(3)) for _ in range(200)))
        tour.say(f"RedisCache: 200 concurrent misses -> loader ran {loads}x (single-flight + Redis lock)")
        a = TieredCache[dict[str, object]].from_url(tour.redis_url, prefix=prefix, policy=policy)
        b = TieredCache[dict[str, object]].from_url(tour.redis_url, prefix=prefix, policy=policy)
        async with a, b:
            await a.wait_until_subscribed()
            await b.wait_until_subscribed()
            await a.set("greeting", {"text": "hello"})
            tour.say(f"TieredCache b reads a's write: {await b.get('greeting')}")
            await a.set("greeting", {"text": "bonjour"})
            for _ in range(100):  # pub/sub delivery is asynchronous
                if await b.get("greeting") == {"text": "bonjour"}:
                    break
                await asyncio.sleep(0.01)
            tour.say(f"after a rewrites it, b's L1 copy was evicted: {await b.get('greeting')}")
        await shared.clear()
