"""TieredCache against a real Redis: L1 hits, cross-process invalidation over pub/sub, the L1 staleness
bound, losing and regaining the subscription, and construction errors.

Two TieredCache instances on separate clients but one L2 prefix stand for two processes. Propagation is
awaited by polling with a bound (never by asserting how long it took).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from buttress.caching import (
    Cache,
    CachingConfigurationError,
    CachingTypeError,
    MemoryCache,
    MemoryStorage,
    RedisCache,
    TieredCache,
    TieredStorage,
    cached,
)
from buttress.caching._entry import Entry, pack
from buttress.core import MISSING
from buttress.testing import FakeClock, RedisServer, eventually

pytestmark = pytest.mark.redis

type TieredFactory = Callable[..., Awaitable[TieredCache[Any]]]


async def reads(cache: TieredCache[Any], key: str, expected: object) -> bool:
    return await cache.get(key) == expected


@pytest.fixture
async def make_tiered(redis_url: str, redis_prefix: str) -> AsyncIterator[TieredFactory]:
    """Make subscribed TieredCaches (one "process" each: own client, shared L2 prefix), closed after."""
    made: list[TieredCache[Any]] = []

    async def make(
        url: str | None = None, *, l2_options: dict[str, Any] | None = None, **options: Any
    ) -> Any:
        options.setdefault("l1_ttl", 30)
        cache: TieredCache[Any] = TieredCache.from_url(
            url or redis_url, prefix=redis_prefix, socket_timeout=0.5, **(l2_options or {}), **options
        )
        made.append(cache)
        assert await cache.wait_until_subscribed()
        assert cache.l1_active
        return cache

    try:
        yield make
    finally:
        for cache in made:
            await cache.aclose()


# --- L1 ----------------------------------------------------------------------------------------------


async def test_l1_serves_hits_without_going_to_l2(
    make_tiered: TieredFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = await make_tiered()
    await cache.set("k", {"v": 1})
    hits = cache.l1_stats.hits

    assert await cache.get("k") == {"v": 1}
    assert await cache.get("k") == {"v": 1}
    assert cache.l1_stats.hits == hits + 2

    # Gone from L2 behind the cache's back (no invalidation message): L1 still answers.
    await raw.delete(f"{redis_prefix}k")
    assert await cache.get("k") == {"v": 1}
    assert await cache.get_many(["k"]) == {"k": {"v": 1}}


async def test_a_read_from_l2_fills_l1(make_tiered: TieredFactory, raw: Redis, redis_prefix: str) -> None:
    writer, reader = await make_tiered(), await make_tiered()
    await writer.set_many({"a": 1, "b": 2})
    # A read that overlaps the writer's invalidation message is (rightly) not kept in L1: let it land first.
    for _ in range(200):
        if reader.invalidations_received >= 1:
            break
        await asyncio.sleep(0.01)
    assert reader.invalidations_received == 1

    assert await reader.get("a") == 1
    assert await reader.get_many(["b", "c"]) == {"b": 2}
    await raw.delete(f"{redis_prefix}a", f"{redis_prefix}b")
    assert await reader.get_many(["a", "b"]) == {"a": 1, "b": 2}  # both from L1 now


async def test_values_are_shared_through_l2(make_tiered: TieredFactory) -> None:
    a, b = await make_tiered(), await make_tiered()
    await a.set("k", [1, 2, 3])
    assert await b.get("k") == [1, 2, 3]
    assert await b.exists("k") is True


# --- invalidation across processes -------------------------------------------------------------------


async def _write_new(a: TieredCache[Any]) -> object:
    await a.set("k", "new", tags=["t"])
    return "new"


async def _set_many_new(a: TieredCache[Any]) -> object:
    await a.set_many({"k": "new", "unrelated": 0})
    return "new"


async def _delete(a: TieredCache[Any]) -> object:
    assert await a.delete("k") is True
    return MISSING


async def _delete_pattern(a: TieredCache[Any]) -> object:
    assert await a.delete_pattern("k*") == 1
    return MISSING


async def _clear(a: TieredCache[Any]) -> object:
    await a.clear()
    return MISSING


async def _invalidate_tag(a: TieredCache[Any]) -> object:
    assert await a.invalidate_tags("t") == 1
    return MISSING


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_write_new, id="set"),
        pytest.param(_set_many_new, id="set_many"),
        pytest.param(_delete, id="delete"),
        pytest.param(_delete_pattern, id="delete_pattern"),
        pytest.param(_clear, id="clear"),
    ],
)
async def test_a_change_in_one_process_evicts_the_other_processes_l1_copy(
    make_tiered: TieredFactory, change: Callable[[TieredCache[Any]], Awaitable[object]]
) -> None:
    a, b = await make_tiered(), await make_tiered()
    await a.set("k", "old", tags=["t"])
    await a.set("other", "kept")
    assert await b.get("k") == "old"
    assert await b.get("other") == "kept"
    hits = b.l1_stats.hits
    assert await b.get("k") == "old"
    assert b.l1_stats.hits == hits + 1  # b really holds an L1 copy (l1_ttl=30 s would keep it)

    expected = await change(a)

    assert await a.get("k") == expected
    await eventually(lambda: reads(b, "k", expected), what="b stopped serving its L1 copy")


async def test_invalidate_tags_in_one_process_evicts_the_other_processes_l1_copy(
    make_tiered: TieredFactory,
) -> None:
    a, b = await make_tiered(), await make_tiered()
    await a.set("k", "old", tags=["t"])
    assert await b.get("k") == "old"  # b's L1 copy came from L2

    assert await a.invalidate_tags("t") == 1

    assert await a.get("k") is MISSING
    await eventually(lambda: reads(b, "k", MISSING), what="b stopped serving its L1 copy")


async def test_invalidate_tags_evicts_the_callers_own_l1_copy_of_a_value_another_process_wrote(
    make_tiered: TieredFactory,
) -> None:
    a, b = await make_tiered(), await make_tiered()
    await b.set("k", "old", tags=["t"])
    assert await a.get("k") == "old"  # a's L1 copy came from L2

    assert await a.invalidate_tags("t") == 1

    assert await a.get("k") is MISSING


async def test_invalidate_tags_evicts_copies_the_writer_tagged(make_tiered: TieredFactory) -> None:
    a, b = await make_tiered(), await make_tiered()
    await b.set("k", "b's", tags=["t"])
    await a.set("k", "a's", tags=["t"])  # a's L1 copy carries the tag it was written with
    assert await a.invalidate_tags("t") == 1
    assert await a.get("k") is MISSING


async def test_a_malformed_invalidation_message_is_ignored(
    make_tiered: TieredFactory, raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="buttress.caching")
    a, b = await make_tiered(), await make_tiered()
    await a.set("k", "old")
    assert await b.get("k") == "old"

    for junk in (b"not json", b'{"o": "x"}', b"[1, 2]", b"null"):
        await raw.publish(b.channel, junk)
    await a.set("k", "new")  # delivered after the junk, on the same subscription

    await eventually(lambda: reads(b, "k", "new"), what="b stopped serving its L1 copy")
    assert b.stats.errors == 0, "the subscription was dropped over a bad message"
    assert b.l1_active
    assert not any("subscription lost" in r.getMessage() for r in caplog.records)
    assert any("malformed invalidation" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "junk", [b'{"o": "x", "op": "keys", "a": 5}', b'{"o": "x", "op": "keys", "a": [5]}'], ids=repr
)
async def test_an_invalidation_message_with_wrongly_typed_fields_is_ignored(
    make_tiered: TieredFactory, raw: Redis, junk: bytes
) -> None:
    a, b = await make_tiered(), await make_tiered()
    await a.set("k", "old")
    assert await b.get("k") == "old"

    await raw.publish(b.channel, junk)
    await a.set("k", "new")

    await eventually(lambda: reads(b, "k", "new"), what="b stopped serving its L1 copy")
    assert b.stats.errors == 0, "the subscription was dropped over a bad message"


# --- the staleness bound -------------------------------------------------------------------------------


async def test_an_l1_copy_never_outlives_l1_ttl(
    make_tiered: TieredFactory, fake_clock: FakeClock, redis_url: str, redis_prefix: str
) -> None:
    cache = await make_tiered(l1_ttl=5, clock=fake_clock)
    # A writer that publishes nothing: the change reaches L2 behind the L1's back.
    silent: RedisCache[Any] = RedisCache.from_url(redis_url, prefix=redis_prefix, clock=fake_clock)
    try:
        await cache.set("k", "old")
        assert await cache.get("k") == "old"
        await silent.set("k", "new")

        fake_clock.advance(4.9)
        assert await cache.get("k") == "old"  # within l1_ttl, L1 answers
        fake_clock.advance(0.2)
        assert await cache.get("k") == "new"
    finally:
        await silent.aclose()


async def test_an_l1_copy_never_outlives_the_value(make_tiered: TieredFactory, fake_clock: FakeClock) -> None:
    cache = await make_tiered(l1_ttl=60, jitter=None, clock=fake_clock)
    await cache.set("k", "v", ttl=2)
    assert await cache.get("k") == "v"
    fake_clock.advance(2)
    assert await cache.get("k") is MISSING


async def test_raw_l2_envelope_is_read_through(
    make_tiered: TieredFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = await make_tiered()
    await raw.set(f"{redis_prefix}k", pack(Entry(b'{"written": "elsewhere"}', None, None, 0.0)))
    assert await cache.get("k") == {"written": "elsewhere"}


# --- losing the subscription ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_losing_the_subscription_disables_and_empties_l1_until_it_is_back(
    make_tiered: TieredFactory, redis_server: RedisServer, fault: str
) -> None:
    cache = await make_tiered(url=redis_server.url)
    await cache.set("k", "cached")
    assert await cache.get("k") == "cached"

    getattr(redis_server, fault)()

    await eventually(lambda: not cache.l1_active, what="L1 turned off without a subscription")
    assert await cache.get("k") is MISSING  # L1 was emptied; L2 is unreachable
    assert cache.stats.errors >= 1

    redis_server.start()

    await eventually(lambda: cache.l1_active, timeout=10, what="resubscribed")
    await cache.set("k", "after")
    hits = cache.l1_stats.hits
    assert await cache.get("k") == "after"
    assert cache.l1_stats.hits == hits + 1  # L1 is in use again


async def test_after_resubscribing_invalidations_flow_again(
    make_tiered: TieredFactory, redis_server: RedisServer
) -> None:
    a, b = await make_tiered(url=redis_server.url), await make_tiered(url=redis_server.url)
    redis_server.stop()
    await eventually(lambda: not a.l1_active and not b.l1_active)
    redis_server.start()
    await eventually(lambda: a.l1_active and b.l1_active, timeout=10)

    await a.set("k", "old")
    assert await b.get("k") == "old"
    await a.set("k", "new")
    await eventually(lambda: reads(b, "k", "new"))


async def test_a_write_that_l2_dropped_is_not_served_from_l1(
    make_tiered: TieredFactory, redis_server: RedisServer, fake_clock: FakeClock
) -> None:
    # The fake clock holds a's breaker open for as long as the test needs.
    a = await make_tiered(url=redis_server.url, breaker_threshold=1, clock=fake_clock)
    b = await make_tiered(url=redis_server.url)
    redis_server.stop()
    await eventually(lambda: not a.l1_active and not b.l1_active)
    assert await a.get("absent") is MISSING  # fails on L2 and opens a's breaker
    redis_server.start()
    await eventually(lambda: a.l1_active and b.l1_active, timeout=10)

    await a.set("k", "never stored")  # dropped: a's breaker is open

    assert await b.get("k") is MISSING
    assert await a.get("k") is MISSING, "a serves a value no other process can see"


async def test_a_restart_while_subscribed_never_leaves_stale_l1_copies(
    make_tiered: TieredFactory, redis_server: RedisServer
) -> None:
    """However the subscription comes back (reconnect or resubscribe), L1 starts empty."""
    cache = await make_tiered(url=redis_server.url)
    await cache.set("k", "before restart")
    assert await cache.get("k") == "before restart"

    redis_server.restart()  # the data is gone with it (the private server persists nothing)

    await eventually(lambda: reads(cache, "k", MISSING), timeout=10)


# --- stampede through the tiers ------------------------------------------------------------------------


async def test_concurrent_misses_in_two_processes_load_once(make_tiered: TieredFactory) -> None:
    a, b = await make_tiered(), await make_tiered()
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return "computed"

    results = await asyncio.gather(*(c.get_or_compute("k", load, ttl=60) for _ in range(10) for c in (a, b)))
    assert results == ["computed"] * 20
    assert calls == 1


# --- lifecycle and construction --------------------------------------------------------------------------


async def test_aclose_closes_the_l2_and_stops_listening(make_tiered: TieredFactory, raw: Redis) -> None:
    cache = await make_tiered()
    assert await raw.pubsub_numsub(cache.channel) == [(cache.channel.encode(), 1)]
    await cache.aclose()
    assert not cache.l1_active
    await eventually(lambda: _equals(raw.pubsub_numsub(cache.channel), [(cache.channel.encode(), 0)]))


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


@pytest.mark.parametrize(
    "options",
    [{"l1_ttl": 0}, {"l1_ttl": -1}, {"l1_ttl": float("inf")}, {"l1_max_size": 0}, {"channel": ""}],
    ids=repr,
)
async def test_bad_arguments_are_rejected(redis_url: str, redis_prefix: str, options: dict[str, Any]) -> None:
    with pytest.raises(CachingConfigurationError) as info:
        TieredCache.from_url(redis_url, prefix=redis_prefix, **options)
    assert isinstance(info.value, ValueError)
    client = Redis.from_url(redis_url)
    try:
        with pytest.raises(CachingConfigurationError) as info:
            TieredCache(client, prefix=redis_prefix, **options)
        assert isinstance(info.value, ValueError)
    finally:
        await client.aclose()


@pytest.mark.parametrize("client", [MemoryCache(), object(), None], ids=repr)
def test_a_client_that_is_not_redis_is_rejected(client: object) -> None:
    with pytest.raises(CachingTypeError, match="client"):
        TieredCache(client)  # type: ignore[arg-type]


@pytest.mark.parametrize("storage", [MemoryCache(), object(), None, MemoryStorage], ids=repr)
async def test_tiers_that_are_not_storages_are_rejected(redis_url: str, storage: object) -> None:
    client = Redis.from_url(redis_url)
    try:
        for l1, l2 in [(storage, MemoryStorage()), (MemoryStorage(), storage)]:
            with pytest.raises(CachingConfigurationError, match="l1" if l1 is storage else "l2"):
                TieredStorage(l1, l2, client=client, channel="c")  # type: ignore[arg-type]
    finally:
        await client.aclose()


async def test_a_read_that_overlaps_an_invalidation_does_not_fill_l1(
    make_tiered: TieredFactory, raw: Redis, redis_prefix: str
) -> None:
    """A late L2 read must not put a value back into L1 after an invalidation of its key arrived."""
    writer, reader = await make_tiered(), await make_tiered()
    await writer.set("k", "old")
    for _ in range(200):
        if reader.invalidations_received >= 1:
            break
        await asyncio.sleep(0.01)
    # Simulate the race deterministically: the invalidation is applied while the read is in flight.
    read = asyncio.ensure_future(reader.get("k"))
    await asyncio.sleep(0)  # the read is now waiting for Redis's answer
    await reader.storage._apply(  # type: ignore[attr-defined]
        '{"o": "elsewhere", "op": "keys", "a": ["k"]}'
    )
    assert await read == "old"
    await raw.delete(f"{redis_prefix}k")
    assert await reader.get("k") is MISSING, "the overlapping read was not kept in L1"


async def test_the_caches_own_settings_apply_to_l2(
    make_tiered: TieredFactory, raw: Redis, redis_prefix: str
) -> None:
    """The TTL, jitter and stale settings of a TieredCache reach Redis: no L2 cache ignores them."""
    cache = await make_tiered(ttl=100, jitter=(0.5, 0.5), stale_ttl=20)
    await cache.set("k", "v")
    kept_ms = await raw.pttl(f"{redis_prefix}k")
    assert 69_000 < kept_ms <= 70_000  # 100 s shortened by the fixed 50 % jitter, plus 20 s of stale


async def test_an_unreadable_value_is_one_error_and_one_miss_per_read(
    make_tiered: TieredFactory, raw: Redis, redis_prefix: str
) -> None:
    """The await-free L1 path finds the value unreadable once: the general path does not read it again."""
    cache = await make_tiered()
    for key in ("a", "b"):
        await raw.set(f"{redis_prefix}{key}", pack(Entry(b"{not json", None, None, 0.0)))
    await cache.set("c", 1)
    for reads_done in (1, 2, 3):  # the first from Redis, the next ones from L1 (the bytes L2 gave it)
        before = cache.stats
        assert await cache.get("a") is MISSING
        assert await cache.get_many(["b", "c"]) == {"c": 1}
        after = cache.stats
        assert after.errors - before.errors == 2, f"read {reads_done}"
        assert after.misses - before.misses == 2, f"read {reads_done}"


@pytest.mark.parametrize("path", ["get", "get_many", "get_or_compute", "cached"])
@pytest.mark.parametrize("tiered", [False, True], ids=["plain", "tiered"])
async def test_an_unreadable_value_read_once_is_one_error_and_one_warning_on_every_path(
    make_tiered: TieredFactory,
    redis_url: str,
    redis_prefix: str,
    raw: Redis,
    caplog: pytest.LogCaptureFixture,
    path: str,
    tiered: bool,
) -> None:
    """One read of an unreadable value is one error, one miss and one warning, whatever reads it.

    The tiered cache holds the bytes in L1 (an earlier read brought them there), so its await-free
    paths are the ones taken. The computation behind ``get_or_compute`` and ``@cached`` looks at the
    key again under the distributed lock; that look does not count the value a second time.
    """
    cache: Cache[Any] = (
        await make_tiered(name="c")
        if tiered
        else RedisCache.from_url(redis_url, prefix=redis_prefix, name="c")
    )

    async def load() -> str:
        return "computed"

    @cached(cache, namespace="f")
    async def compute(n: int) -> str:
        return "computed"

    key = compute.key(1) if path == "cached" else "k"
    reads: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: cache.get(key),
        "get_many": lambda: cache.get_many([key]),
        "get_or_compute": lambda: cache.get_or_compute(key, load),
        "cached": lambda: compute(1),
    }
    answers: dict[str, object] = {
        "get": MISSING,
        "get_many": {},
        "get_or_compute": "computed",
        "cached": "computed",
    }
    async with cache:
        await raw.set(f"{redis_prefix}{key}", pack(Entry(b"{not json", None, None, 0.0)))
        assert await cache.exists(key) is False
        if isinstance(cache.storage, TieredStorage):
            assert await cache.storage.l1.read(key) is not None, "L1 holds the bytes L2 gave it"
        before = cache.stats
        caplog.clear()
        caplog.set_level(logging.WARNING, logger="buttress.caching")

        assert await reads[path]() == answers[path]

        after = cache.stats
        assert (after.errors - before.errors, after.misses - before.misses) == (1, 1)
        assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("buttress")] == [
            ("WARNING", f"c: unreadable value under {key!r} treated as a miss: SerializationError")
        ]
