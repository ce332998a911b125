"""MemoryCache: LRU, TTL on a FakeClock, tags, patterns, counters, and get_or_compute's guarantees."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from buttress.caching import CachingConfigurationError, InvalidKeyError, MemoryCache
from buttress.core import MISSING, ConfigurationError
from buttress.testing import FakeClock


def make(clock: FakeClock, **options: Any) -> MemoryCache[Any]:
    options.setdefault("jitter", None)
    return MemoryCache[Any](clock=clock, **options)


async def test_ttl_expires_on_the_clock(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    await cache.set("k", "v", ttl=10)
    fake_clock.advance(9.999)
    assert await cache.get("k") == "v"
    fake_clock.advance(0.001)
    assert await cache.get("k") is MISSING
    assert len(cache) == 0, "an expired entry read is dropped"


async def test_default_ttl_applies_and_explicit_ttl_wins(fake_clock: FakeClock) -> None:
    cache = make(fake_clock, ttl=5)
    await cache.set("default", 1)
    await cache.set("explicit", 2, ttl=50)
    fake_clock.advance(6)
    assert await cache.get("default") is MISSING
    assert await cache.get("explicit") == 2


async def test_lru_evicts_the_least_recently_used(fake_clock: FakeClock) -> None:
    cache = make(fake_clock, max_size=3)
    for key in "abc":
        await cache.set(key, key)
    assert await cache.get("a") == "a"  # a is now the most recent
    await cache.set("d", "d")
    assert await cache.get("b") is MISSING
    assert [await cache.get(k) for k in "acd"] == ["a", "c", "d"]
    assert cache.stats.evictions == 1
    assert cache.size == 3


async def test_overwriting_does_not_evict(fake_clock: FakeClock) -> None:
    cache = make(fake_clock, max_size=2)
    await cache.set("a", 1)
    await cache.set("b", 2)
    await cache.set("a", 3)
    assert cache.stats.evictions == 0
    assert await cache.get_many(["a", "b"]) == {"a": 3, "b": 2}


async def test_jitter_shortens_each_ttl_within_the_band(fake_clock: FakeClock) -> None:
    draws = iter([0.0, 1.0 - 1e-12, 0.5])
    cache = MemoryCache[int](clock=fake_clock, jitter=(0.05, 0.15), rng=lambda: next(draws))
    await cache.set("low", 1, ttl=100)  # shortened by 5 %
    await cache.set("high", 2, ttl=100)  # by (almost) 15 %
    await cache.set("mid", 3, ttl=100)  # by 10 %
    fake_clock.advance(85.5)
    assert await cache.get("high") is MISSING
    assert await cache.get("mid") == 3
    fake_clock.advance(5)
    assert await cache.get("mid") is MISSING
    assert await cache.get("low") == 1
    fake_clock.advance(5)
    assert await cache.get("low") is MISSING


async def test_tags_invalidate_exactly_their_keys(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    await cache.set("user:1", "ada", tags=["users", "team:a"])
    await cache.set("user:2", "bob", tags=["users"])
    await cache.set("team:a", "A", tags=["team:a"])
    await cache.set("other", "x")
    assert await cache.invalidate_tags("team:a") == 2
    assert await cache.get("user:1") is MISSING
    assert await cache.get("team:a") is MISSING
    assert await cache.get("user:2") == "bob"
    assert await cache.invalidate_tags("users") == 1
    assert await cache.invalidate_tags("users", "nothing") == 0
    assert await cache.get("other") == "x"


async def test_rewriting_a_key_drops_its_old_tags(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    await cache.set("k", 1, tags=["old"])
    await cache.set("k", 2, tags=["new"])
    assert await cache.invalidate_tags("old") == 0
    assert await cache.get("k") == 2


async def test_delete_pattern_uses_glob_syntax(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    await cache.set_many({"user:1": 1, "user:2": 2, "user:10": 10, "team:1": 0})
    assert await cache.delete_pattern("user:?") == 2
    assert await cache.get_many(["user:1", "user:2", "user:10", "team:1"]) == {"user:10": 10, "team:1": 0}
    with pytest.raises(CachingConfigurationError, match="pattern"):
        await cache.delete_pattern("")


async def test_counters(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    await cache.set("k", 1)
    await cache.get("k")
    await cache.get("nope")
    stats = cache.stats
    assert (stats.sets, stats.hits, stats.misses) == (1, 1, 1)
    assert stats.hit_ratio == 0.5


async def test_get_or_compute_caches_none_unless_told_not_to(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    calls = 0

    async def nothing() -> None:
        nonlocal calls
        calls += 1

    assert await cache.get_or_compute("none", nothing) is None
    assert await cache.get_or_compute("none", nothing) is None
    assert calls == 1
    assert await cache.get_or_compute("skip", nothing, cache_none=False) is None
    assert await cache.get_or_compute("skip", nothing, cache_none=False) is None
    assert calls == 3


async def test_a_thousand_concurrent_misses_run_the_loader_once(fake_clock: FakeClock) -> None:
    """Property 1 of the issue: 1,000 concurrent misses of one key -> one loader call per process."""
    cache = make(fake_clock)
    calls = 0
    gate = asyncio.Event()

    async def load() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "value"

    callers = [asyncio.ensure_future(cache.get_or_compute("hot", load)) for _ in range(1_000)]
    await asyncio.sleep(0)
    gate.set()
    assert set(await asyncio.gather(*callers)) == {"value"}
    assert calls == 1
    assert cache.stats.single_flight_joins == 999


async def test_a_failing_loader_reaches_every_waiter_and_caches_nothing(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    calls = 0

    async def broken() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("database down")

    results = await asyncio.gather(
        *(cache.get_or_compute("k", broken) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    assert await cache.get("k") is MISSING

    async def works() -> int:
        return 5

    assert await cache.get_or_compute("k", works) == 5, "a failed computation does not block the next one"


async def test_cancelling_the_first_caller_does_not_cancel_the_computation(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    gate = asyncio.Event()

    async def load() -> str:
        await gate.wait()
        return "done"

    first = asyncio.ensure_future(cache.get_or_compute("k", load))
    second = asyncio.ensure_future(cache.get_or_compute("k", load))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await second == "done"
    assert first.cancelled()
    assert await cache.get("k") == "done"


async def test_computation_survives_every_caller_being_cancelled(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    gate = asyncio.Event()

    async def load() -> str:
        await gate.wait()
        return "landed"

    caller = asyncio.ensure_future(cache.get_or_compute("k", load))
    await asyncio.sleep(0)
    caller.cancel()
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert await cache.get("k") == "landed"
    await cache.aclose()


async def test_xfetch_refreshes_early_when_the_draw_says_so(fake_clock: FakeClock) -> None:
    # rng() -> 1 - 1e-9 gives u = 1e-9, -ln(u) ~ 20.7: with delta 1 s and beta 1, a refresh happens
    # up to ~20 s before expiry.
    cache = MemoryCache[int](clock=fake_clock, jitter=None, rng=lambda: 1 - 1e-9)
    version = 0

    async def load() -> int:
        nonlocal version
        version += 1
        fake_clock.advance(1.0)  # the computation takes 1 s: delta = 1
        return version

    assert await cache.get_or_compute("k", load, ttl=100) == 1
    fake_clock.advance(50)  # 50 s before expiry: outside the ~20 s window
    assert await cache.get_or_compute("k", load, ttl=100) == 1
    fake_clock.advance(40)  # 10 s before expiry: inside it
    assert await cache.get_or_compute("k", load, ttl=100) == 1, "the fresh value is served at once"
    for _ in range(5):
        await asyncio.sleep(0)  # while the refresh runs behind it
    assert await cache.get("k") == 2
    assert cache.stats.early_refreshes == 1


async def test_xfetch_off_never_refreshes_early(fake_clock: FakeClock) -> None:
    cache = MemoryCache[int](clock=fake_clock, jitter=None, xfetch_beta=0, rng=lambda: 1 - 1e-12)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        fake_clock.advance(5)
        return calls

    await cache.get_or_compute("k", load, ttl=10)
    fake_clock.advance(4.9)
    assert await cache.get_or_compute("k", load, ttl=10) == 1


async def test_stale_while_revalidate_serves_stale_and_refreshes_once(fake_clock: FakeClock) -> None:
    cache = MemoryCache[int](clock=fake_clock, jitter=None, xfetch_beta=0, stale_ttl=60)
    gate = asyncio.Event()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            await gate.wait()
        return calls

    assert await cache.get_or_compute("k", load, ttl=10) == 1
    fake_clock.advance(11)
    assert await cache.get("k") is MISSING, "get() never returns a stale value"
    served = await asyncio.gather(*(cache.get_or_compute("k", load, ttl=10) for _ in range(50)))
    assert served == [1] * 50
    assert calls == 2, "one background refresh, however many stale reads"
    gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert await cache.get_or_compute("k", load, ttl=10) == 2
    assert cache.stats.stale_served == 50
    fake_clock.advance(200)
    assert await cache.get("k") is MISSING


async def test_refresh_recomputes_even_when_fresh(fake_clock: FakeClock) -> None:
    cache = make(fake_clock)
    await cache.set("k", "old", ttl=100)

    async def load() -> str:
        return "new"

    assert await cache.refresh("k", load) == "new"
    assert await cache.get("k") == "new"


async def test_aclose_cancels_background_refreshes(fake_clock: FakeClock) -> None:
    cache = MemoryCache[int](clock=fake_clock, jitter=None, xfetch_beta=0, stale_ttl=60)
    never = asyncio.Event()

    async def slow() -> int:
        await never.wait()
        return 2

    await cache.set("k", 1, ttl=1)
    fake_clock.advance(2)
    assert await cache.get_or_compute("k", slow) == 1
    await cache.aclose()
    await cache.aclose()  # twice is fine


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"max_size": 0}, "max_size"),
        ({"max_size": 1.5}, "max_size"),
        ({"max_size": True}, "max_size"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": -3}, "ttl"),
        ({"ttl": float("inf")}, "ttl"),
        ({"jitter": 1.0}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": (0.2, 0.1)}, "jitter"),
        ({"jitter": "5%"}, "jitter"),
        ({"xfetch_beta": -1}, "xfetch_beta"),
        ({"stale_ttl": 0}, "stale_ttl"),
        ({"name": ""}, "name"),
        ({"max_key_bytes": 0}, "max_key_bytes"),
    ],
)
def test_bad_construction_is_a_typed_error_naming_the_argument(options: dict[str, Any], name: str) -> None:
    with pytest.raises(CachingConfigurationError) as info:
        MemoryCache[Any](**options)
    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, ValueError)
    assert info.value.parameter == name
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        (b"bytes", "str"),
        (None, "str"),
        (42, "str"),
        ("k" * 1025, "limit"),
        ("é" * 600, "limit"),
    ],
)
async def test_bad_keys_are_rejected_everywhere(key: Any, reason: str) -> None:
    cache = MemoryCache[Any]()

    async def load() -> int:
        return 1

    for call in (
        lambda: cache.get(key),
        lambda: cache.set(key, 1),
        lambda: cache.delete(key),
        lambda: cache.exists(key),
        lambda: cache.get_or_compute(key, load),
        lambda: cache.get_many([key]),
        lambda: cache.set_many({key: 1}),
    ):
        with pytest.raises(InvalidKeyError, match=reason) as info:
            await call()
        assert info.value.parameter == "key"


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), "10", True])
async def test_bad_ttls_are_rejected(ttl: Any) -> None:
    cache = MemoryCache[Any]()
    with pytest.raises(CachingConfigurationError, match="ttl"):
        await cache.set("k", 1, ttl=ttl)
    with pytest.raises(CachingConfigurationError, match="ttl"):
        await cache.set_many({"k": 1}, ttl=ttl)
    assert await cache.get("k") is MISSING


@pytest.mark.parametrize("tags", ["single-string", [""], [1]])
async def test_bad_tags_are_rejected(tags: Any) -> None:
    with pytest.raises(CachingConfigurationError, match="tag"):
        await MemoryCache[Any]().set("k", 1, tags=tags)
