"""What a TieredCache's L1 hit hands out (``l1_values``), against a real Redis.

``"copy"`` (default): every caller gets objects of its own; immutable values are kept decoded and
shared, trees of containers copied, anything else decoded on every hit. ``"shared"``: one decoded
object for every caller. ``"bytes"``: every hit decodes. In each, the decoded value lives and dies
with its L1 copy. A counting serializer shows how often the bytes are decoded.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from buttress.caching import (
    BreakerState,
    CachingConfigurationError,
    InvalidKeyError,
    TieredCache,
    TieredStorage,
    cached,
)
from buttress.core import MISSING
from buttress.testing import FakeClock, eventually

pytestmark = pytest.mark.redis

type Factory = Callable[..., Awaitable[TieredCache[Any]]]

RECORD = {"id": 7, "name": "user-7", "tags": ["admin", "beta"], "nested": {"a": [1, 2]}, "score": 12.5}


class CountingJson:
    """JSON, counting its ``loads`` calls."""

    format_name = "json"

    def __init__(self) -> None:
        self.loads_calls = 0

    def dumps(self, value: object) -> bytes:
        return json.dumps(value).encode()

    def loads(self, data: bytes) -> object:
        self.loads_calls += 1
        return json.loads(data)


class Point:
    """A mutable object: no copy of it is made without the serializer."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x

    __hash__ = None  # type: ignore[assignment] # mutable


class CountingPickle(CountingJson):
    """Pickle (test objects only), counting its ``loads`` calls."""

    format_name = "pickle"

    def dumps(self, value: object) -> bytes:
        return pickle.dumps(value)

    def loads(self, data: bytes) -> object:
        self.loads_calls += 1
        return pickle.loads(data)  # noqa: S301 - bytes this test wrote


@pytest.fixture
async def make(redis_url: str, redis_prefix: str) -> AsyncIterator[Factory]:
    """Make subscribed TieredCaches on one L2 prefix (each its own client, as another process would)."""
    made: list[TieredCache[Any]] = []

    async def factory(**options: Any) -> TieredCache[Any]:
        cache: TieredCache[Any] = TieredCache.from_url(redis_url, prefix=redis_prefix, **options)
        made.append(cache)
        assert await cache.wait_until_subscribed()
        return cache

    try:
        yield factory
    finally:
        for cache in made:
            await cache.aclose()


async def from_l1(cache: TieredCache[Any], key: str) -> object:
    """``cache.get(key)`` once L1 answers it (a read overlapping an invalidation does not fill L1)."""
    got: list[object] = []

    async def hit() -> bool:
        hits = cache.l1_stats.hits
        got.append(await cache.get(key))
        return cache.l1_stats.hits == hits + 1

    await eventually(hit, what=f"{key!r} came from L1")
    return got[-1]


@pytest.mark.parametrize("invalidation", ["pubsub", "tracking"])
async def test_by_default_a_caller_mutating_its_value_never_changes_the_next_callers(
    make: Factory, invalidation: str
) -> None:
    """Property: under ``"copy"``, what one caller mutates is its own (get, get_or_compute, @cached)."""
    serializer = CountingJson()
    cache = await make(invalidation=invalidation, serializer=serializer)
    await cache.set("k", RECORD)
    first = await from_l1(cache, "k")
    for _ in range(3):
        got: Any = await from_l1(cache, "k")
        assert got == RECORD
        assert got is not first
        got["name"] = "changed"
        got["tags"].append("root")
        got["nested"]["a"].clear()

    async def never() -> Any:
        raise AssertionError("a hit must not load")

    computed: Any = await cache.get_or_compute("k", never)
    assert computed == RECORD
    computed["tags"].append("root")

    # One decode for the L1 copy (the first hit, or the read that filled L1): the rest are copies.
    assert serializer.loads_calls <= 2

    @cached(cache)
    async def load() -> Any:
        raise AssertionError("a hit must not load")

    await cache.set(load.key(), RECORD)
    await from_l1(cache, load.key())
    for _ in range(3):
        decorated: Any = await load()
        assert decorated == RECORD
        decorated["nested"]["a"].append(3)
    assert await cache.get(load.key()) == RECORD


async def test_an_immutable_value_is_decoded_once_and_shared(make: Factory) -> None:
    serializer = CountingJson()
    cache = await make(serializer=serializer)
    await cache.set("s", "a string")
    first = await from_l1(cache, "s")
    calls = serializer.loads_calls
    for _ in range(5):
        assert await from_l1(cache, "s") is first
    assert serializer.loads_calls == calls


async def test_a_tuple_comes_back_as_redis_holds_it_not_as_it_was_set(make: Factory) -> None:
    """The kept value is the decoding of Redis's bytes: JSON gives a list for a tuple, every time."""
    cache = await make()
    await cache.set("t", (1, "two"))
    assert await from_l1(cache, "t") == [1, "two"]
    assert await from_l1(cache, "t") == [1, "two"]


async def test_shared_hands_every_caller_the_same_object(make: Factory) -> None:
    serializer = CountingJson()
    cache = await make(l1_values="shared", serializer=serializer)
    await cache.set("k", RECORD)
    first: Any = await from_l1(cache, "k")
    calls = serializer.loads_calls
    assert await from_l1(cache, "k") is first
    first["name"] = "changed"  # documented: the next caller sees it, until the copy leaves L1
    assert (await from_l1(cache, "k"))["name"] == "changed"
    assert serializer.loads_calls == calls


async def test_bytes_decodes_on_every_hit(make: Factory) -> None:
    serializer = CountingJson()
    cache = await make(l1_values="bytes", serializer=serializer)
    await cache.set("s", "a string")
    await from_l1(cache, "s")
    calls = serializer.loads_calls
    for _ in range(4):
        await from_l1(cache, "s")
    assert serializer.loads_calls == calls + 4


@pytest.mark.parametrize(
    "value",
    [Point(1), [Point(2)], {"p": Point(3)}, [[1]] * 2, frozenset({(1, Point.__name__)}) | {Point}],
    ids=["object", "list of objects", "dict of objects", "aliased list", "frozenset of a class"],
)
async def test_a_value_that_cannot_be_copied_is_decoded_on_every_hit(make: Factory, value: object) -> None:
    serializer = CountingPickle()
    cache = await make(serializer=serializer)
    await cache.set("o", value)
    first = await from_l1(cache, "o")
    calls = serializer.loads_calls
    second = await from_l1(cache, "o")
    assert second == value
    assert second is not first
    assert serializer.loads_calls == calls + 1


@pytest.mark.parametrize("l1_values", ["copy", "shared", "bytes"])
@pytest.mark.parametrize("invalidation", ["pubsub", "tracking"])
@pytest.mark.parametrize("change", ["set", "delete", "tags", "pattern", "clear"])
async def test_an_invalidation_drops_the_decoded_value_with_the_copy(
    make: Factory, l1_values: str, invalidation: str, change: str
) -> None:
    """Property: a change in one process ends the other's kept decoded value, as it ends its bytes."""
    writer = await make(invalidation=invalidation)
    reader = await make(invalidation=invalidation, l1_values=l1_values)
    await writer.set("k", {"v": 1}, tags=["t"])
    assert await from_l1(reader, "k") == {"v": 1}
    assert await from_l1(reader, "k") == {"v": 1}  # the kept value's path
    expected: object = MISSING
    if change == "set":
        await writer.set("k", {"v": 2})
        expected = {"v": 2}
    elif change == "delete":
        await writer.delete("k")
    elif change == "tags":
        await writer.invalidate_tags("t")
    elif change == "pattern":
        await writer.delete_pattern("k*")
    else:
        await writer.clear()

    async def current() -> bool:
        return await reader.get("k") == expected

    await eventually(current, what=f"the reader's copy of k went after {change}")


async def test_an_early_refresh_starts_from_an_l1_hit(make: Factory) -> None:
    """XFetch still runs on the L1 hit path: a hit near expiry refreshes in the background."""
    clock = FakeClock()
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        clock.advance(1.0)  # the loader takes a second: XFetch's delta
        return loads

    cache = await make(clock=clock, rng=lambda: 0.999999, ttl=10, xfetch_beta=1.0)
    assert await cache.get_or_compute("k", load) == 1
    hits = cache.l1_stats.hits
    assert await cache.get_or_compute("k", load) == 1  # served from L1, refreshed behind it
    assert cache.l1_stats.hits == hits + 1
    assert cache.stats.early_refreshes == 1
    await eventually(lambda: loads == 2, what="the early refresh ran")


@pytest.mark.parametrize("value", ["copied", "", None, 1, b"copy", ["copy"]])
def test_an_unknown_l1_values_is_rejected(value: object) -> None:
    with pytest.raises(CachingConfigurationError, match="l1_values"):
        TieredCache.from_url("redis://localhost", l1_values=value)  # type: ignore[arg-type]


async def test_caches_sharing_one_storage_never_hand_out_each_others_kept_values(
    redis_url: str, redis_prefix: str
) -> None:
    """A ``"copy"`` cache over the storage a ``"shared"`` cache also reads still copies for its callers."""
    storage = TieredStorage.from_url(redis_url, prefix=redis_prefix)
    shared = TieredCache[Any](storage, l1_values="shared")
    copying = TieredCache[Any](storage)
    try:
        assert await shared.wait_until_subscribed()
        await shared.set("k", RECORD)
        kept = await from_l1(shared, "k")
        assert await from_l1(shared, "k") is kept
        mine: Any = await from_l1(copying, "k")
        assert mine == RECORD
        assert mine is not kept
        mine["tags"].append("root")
        again: Any = await from_l1(copying, "k")
        assert again == RECORD
        assert again is not mine
        assert await from_l1(shared, "k") == RECORD
    finally:
        await shared.aclose()


def finished_at_once(call: Awaitable[object]) -> object:
    """The result of a coroutine that returns on its first step (it awaited nothing that waits)."""
    coroutine: Any = call
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("the call waited")


async def test_an_l1_hit_takes_no_slot_and_is_no_success_of_the_breaker(make: Factory) -> None:
    """L1 hits of get, get_many, get_or_compute and @cached read no Redis: no slot, no breaker news.

    The one slot of ``max_concurrency`` is taken and the breaker is one failure from opening; every
    hit still returns on its first step, and the next failure opens the breaker (a hit counted as a
    success would have reset it).
    """
    cache = await make(max_concurrency=1, breaker_threshold=2)

    @cached(cache)
    async def user(user_id: int) -> Any:
        raise AssertionError("a hit must not load")

    async def never() -> Any:
        raise AssertionError("a hit must not load")

    await cache.set("k", RECORD)
    await cache.set(user.key(7), RECORD)
    await from_l1(cache, "k")
    await from_l1(cache, user.key(7))
    assert cache._gate is not None
    assert cache._gate.try_enter()  # the only slot, held
    cache._breaker.failure()
    hits = cache.l1_stats.hits
    for _ in range(2):
        assert finished_at_once(cache.get("k")) == RECORD
        assert finished_at_once(cache.get_many(["k", user.key(7)])) == {"k": RECORD, user.key(7): RECORD}
        assert finished_at_once(cache.get_or_compute("k", never)) == RECORD
        assert finished_at_once(user(7)) == RECORD
    assert cache.l1_stats.hits == hits + 2 * 5
    cache._breaker.failure()
    assert cache.breaker_state is BreakerState.OPEN
    cache._gate.leave()


async def test_get_many_from_l1_hands_out_copies_and_counts_as_the_general_path(make: Factory) -> None:
    """Property: ``get_many`` served by L1 returns what the general path returns, copies included."""
    serializer = CountingJson()
    cache = await make(serializer=serializer)
    await cache.set_many({"a": RECORD, "b": "text"})
    await from_l1(cache, "a")
    await from_l1(cache, "b")
    before, l1_before, loads = cache.stats, cache.l1_stats, serializer.loads_calls
    first: Any = await cache.get_many(["a", "b", "a"])
    assert first == {"a": RECORD, "b": "text"}
    first["a"]["tags"].append("root")
    first["a"]["nested"]["a"].clear()
    second: Any = await cache.get_many(("a", "b"))
    assert second == {"a": RECORD, "b": "text"}
    assert second["a"] is not first["a"]
    assert serializer.loads_calls == loads  # copies of the kept values: nothing decoded again
    after = cache.stats
    # As the general path counts: a key asked twice is found once, so the second ask is a miss.
    assert (after.hits - before.hits, after.misses - before.misses) == (4, 1)
    assert cache.l1_stats.hits - l1_before.hits == 5
    assert cache.l1_stats.misses == l1_before.misses

    # One key L1 does not hold: every key goes the general way, with the same answer.
    assert await cache.get_many(["a", "absent", "b"]) == {"a": RECORD, "b": "text"}
    assert cache.l1_stats.misses == l1_before.misses + 1
    assert await cache.get_many([]) == {}
    with pytest.raises(InvalidKeyError):
        await cache.get_many(["a", ""])
    with pytest.raises(CachingConfigurationError, match="keys"):
        await cache.get_many("a")


async def test_an_early_refresh_starts_from_an_l1_hit_of_a_cached_function(make: Factory) -> None:
    """XFetch on the @cached L1 hit: a hit near expiry is served and refreshed in the background."""
    clock = FakeClock()
    loads = 0
    cache = await make(clock=clock, rng=lambda: 0.999999, ttl=10, xfetch_beta=1.0)

    @cached(cache)
    async def counter(step: int) -> int:
        nonlocal loads
        loads += step
        clock.advance(1.0)  # the loader takes a second: XFetch's delta
        return loads

    assert await counter(1) == 1
    await from_l1(cache, counter.key(1))
    hits = cache.l1_stats.hits
    assert await counter(1) == 1  # served from L1, refreshed behind it
    assert cache.l1_stats.hits == hits + 1
    assert cache.stats.early_refreshes == 1
    await eventually(lambda: loads == 2, what="the early refresh ran")
