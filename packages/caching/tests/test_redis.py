"""RedisCache against a real Redis: prefixes, bulk calls, tags, TTLs, serializers, the distributed lock,
failures of the server (stop, kill, circuit breaker, strict mode), stale-while-revalidate and XFetch.

The conformance suite (`CacheProviderContract`) is run elsewhere; these tests cover what it does not.
Two `RedisCache` instances on separate clients but one prefix stand for two processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from buttress.caching import (
    BreakerState,
    CacheSerializationError,
    CachingBusyError,
    CachingConfigurationError,
    CachingError,
    CachingTypeError,
    CachingUnavailableError,
    MsgpackSerializer,
    PickleSerializer,
    RedisCache,
    RedisStorage,
)
from buttress.caching._entry import Entry, pack
from buttress.core import MISSING, BackendUnavailableError, ButtressError
from buttress.testing import FakeClock, RedisServer, eventually

pytestmark = pytest.mark.redis


def lock_key(cache: object, key: str) -> str:
    """The Redis key of the distributed lock on ``key`` (internal keys sit behind a NUL byte)."""
    return f"{_prefix(cache)}\x00lock:{key}"


def tag_key(cache: object, tag: str) -> str:
    """The Redis key of the set of keys written with ``tag``."""
    return f"{_prefix(cache)}\x00tag:{tag}"


def _prefix(cache: object) -> str:
    storage = getattr(cache, "storage", cache)
    storage = getattr(storage, "l2", storage)
    prefix = getattr(storage, "prefix", None)
    assert isinstance(prefix, str), f"{cache!r} has no Redis prefix"
    return prefix


SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32


@dataclass(frozen=True)
class Point:
    """A module-level dataclass, so pickle can find it by name."""

    x: int
    y: int


@dataclass(frozen=True)
class MakeDir:
    """A pickle that, if ever loaded, creates a directory: the stand-in for code execution."""

    path: str

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (os.mkdir, (self.path,))


type CacheFactory = Callable[..., RedisCache[Any]]


def envelope(payload: bytes, *, expires_at: float | None = None) -> bytes:
    """Bytes in the layout RedisCache stores: a valid buttress entry around ``payload``."""
    return pack(Entry(payload, expires_at, None, 0.0))


@pytest.fixture
async def make_cache(redis_url: str, redis_prefix: str) -> AsyncIterator[CacheFactory]:
    """Make RedisCaches on their own clients (default: the test's prefix); all are closed after the test."""
    made: list[RedisCache[Any]] = []

    def make(url: str | None = None, **options: Any) -> RedisCache[Any]:
        options.setdefault("prefix", redis_prefix)
        cache: RedisCache[Any] = RedisCache.from_url(url or redis_url, **options)
        made.append(cache)
        return cache

    try:
        yield make
    finally:
        for cache in made:
            await cache.aclose()


# --- prefixes, bulk calls, tags, patterns ----------------------------------------------------------


async def test_caches_with_different_prefixes_do_not_see_each_others_keys(
    make_cache: CacheFactory, redis_prefix: str
) -> None:
    a = make_cache(prefix=f"{redis_prefix}a:")
    b = make_cache(prefix=f"{redis_prefix}b:")
    await a.set("k", "from a")
    await b.set("k", "from b")
    await a.set("only-a", 1)

    assert await a.get("k") == "from a"
    assert await b.get("k") == "from b"
    assert await b.get("only-a") is MISSING
    assert await b.delete("only-a") is False
    assert await a.get("only-a") == 1


async def test_clear_removes_only_its_own_prefix(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    # Glob characters in the prefix must be escaped: unescaped, "t[1]*:" would also match "t1x:...".
    mine = make_cache(prefix=f"{redis_prefix}t[1]*:")
    neighbour = make_cache(prefix=f"{redis_prefix}t1x:")
    await mine.set("k", 1, tags=["tag"])
    await mine.set("other", 2)
    await neighbour.set("k", "neighbour's")
    outside = f"{redis_prefix}outside"
    await raw.set(outside, b"not the cache's")
    await raw.set(lock_key(mine, "k"), b"token", px=60_000)  # internal keys under the prefix go too

    await mine.clear()

    assert await mine.get("k") is MISSING
    assert await mine.get("other") is MISSING
    assert await raw.exists(tag_key(mine, "tag"), lock_key(mine, "k")) == 0
    assert await neighbour.get("k") == "neighbour's"
    assert await raw.get(outside) == b"not the cache's"


async def test_set_many_then_get_many_round_trip(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = make_cache(jitter=None)
    items = {f"item:{i}": {"n": i, "name": f"#{i}"} for i in range(50)}

    await cache.set_many(items, ttl=30)

    got = await cache.get_many([*items, "absent:1", "absent:2"])
    assert got == items
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.sets) == (50, 2, 50)
    ttls = [await raw.pttl(f"{redis_prefix}item:{i}") for i in range(50)]
    assert all(0 < ttl <= 30_000 for ttl in ttls)
    assert await cache.get_many([]) == {}


async def test_get_many_sees_values_written_by_another_instance(make_cache: CacheFactory) -> None:
    writer, reader = make_cache(), make_cache()
    await writer.set_many({"a": 1, "b": [2], "c": None})
    assert await reader.get_many(["a", "b", "c", "d"]) == {"a": 1, "b": [2], "c": None}


async def test_invalidate_tags_removes_exactly_the_tagged_keys(make_cache: CacheFactory) -> None:
    cache = make_cache()
    other_process = make_cache()
    await cache.set("a", 1, tags=["t1"])
    await cache.set("b", 2, tags=["t1", "t2"])
    await cache.set_many({"c": 3, "d": 4}, tags=["t2"])
    await cache.set("e", 5)

    assert await other_process.invalidate_tags("t1") == 2

    assert await cache.get_many(["a", "b", "c", "d", "e"]) == {"c": 3, "d": 4, "e": 5}
    assert await cache.invalidate_tags("t2") == 2  # b went with t1 already
    assert await cache.get_many(["c", "d", "e"]) == {"e": 5}
    assert await cache.invalidate_tags("t2", "never-used") == 0
    assert await cache.invalidate_tags() == 0


async def test_a_tag_set_lives_as_long_as_its_longest_lived_member(
    make_cache: CacheFactory, raw: Redis
) -> None:
    cache = make_cache(jitter=None)
    await cache.set("short", 1, ttl=5, tags=["t"])
    await cache.set("long", 2, ttl=50, tags=["t"])
    await cache.set("shorter-again", 3, ttl=1, tags=["t"])
    tag_ttl = await raw.pttl(tag_key(cache, "t"))
    assert 45_000 < tag_ttl <= 50_000

    await cache.set("forever", 4, tags=["t"])
    assert await raw.pttl(tag_key(cache, "t")) == -1  # a member without TTL keeps its tag set forever


async def test_delete_pattern_removes_more_keys_than_one_scan_batch(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = make_cache()
    await cache.set_many({f"user:{i}": i for i in range(1_234)}, tags=["users"])
    await cache.set_many({f"order:{i}": i for i in range(5)})

    assert await cache.delete_pattern("user:*") == 1_234

    assert await cache.get_many([f"user:{i}" for i in range(0, 1_234, 97)]) == {}
    assert await cache.get_many([f"order:{i}" for i in range(5)]) == {f"order:{i}": i for i in range(5)}
    assert await raw.exists(tag_key(cache, "users")) == 1  # internal keys are not the caller's to match
    assert await cache.delete_pattern("order:[0-2]") == 3
    assert await cache.get_many([f"order:{i}" for i in range(5)]) == {"order:3": 3, "order:4": 4}


async def test_delete_pattern_never_matches_internal_keys(make_cache: CacheFactory, raw: Redis) -> None:
    cache = make_cache()
    await cache.set("k", 1, tags=["t"])
    await raw.set(lock_key(cache, "other"), b"held", px=60_000)

    assert await cache.delete_pattern("*") == 1

    assert await raw.exists(tag_key(cache, "t"), lock_key(cache, "other")) == 2


async def test_delete_pattern_rejects_an_empty_pattern(make_cache: CacheFactory) -> None:
    with pytest.raises(CachingConfigurationError):
        await make_cache().delete_pattern("")


# --- TTLs on the server ----------------------------------------------------------------------------


async def test_ttl_is_set_on_the_server(make_cache: CacheFactory, raw: Redis, redis_prefix: str) -> None:
    cache = make_cache(jitter=None, ttl=20)
    await cache.set("explicit", 1, ttl=3)
    await cache.set("default", 2)

    assert 0 < await raw.pttl(f"{redis_prefix}explicit") <= 3_000
    assert 15_000 < await raw.pttl(f"{redis_prefix}default") <= 20_000


async def test_no_ttl_means_no_expiry_on_the_server(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    await make_cache().set("k", 1)
    assert await raw.pttl(f"{redis_prefix}k") == -1


async def test_default_jitter_shortens_each_ttl_by_5_to_15_percent(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = make_cache()
    await cache.set_many({f"k{i}": i for i in range(40)}, ttl=100)
    for i in range(40):
        await cache.set(f"single{i}", i, ttl=100)
    ttls = [await raw.pttl(f"{redis_prefix}{name}{i}") for name in ("k", "single") for i in range(40)]
    slack = 1_000  # milliseconds that may pass between writing and reading the TTLs
    assert all(100_000 * 0.85 - slack <= ttl <= 100_000 * 0.95 for ttl in ttls), sorted(ttls)
    assert len(set(ttls)) > 10  # each write draws its own jitter


@pytest.mark.parametrize(("draw", "fraction"), [(0.0, 0.95), (0.999_999, 0.85)])
async def test_jitter_band_edges(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str, draw: float, fraction: float
) -> None:
    await make_cache(rng=lambda: draw).set("k", 1, ttl=100)
    assert 100_000 * fraction - 1_000 <= await raw.pttl(f"{redis_prefix}k") <= 100_000 * fraction + 1


async def test_stale_ttl_keeps_values_on_the_server_past_their_ttl(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    await make_cache(jitter=None, stale_ttl=30).set("k", 1, ttl=10)
    assert 35_000 < await raw.pttl(f"{redis_prefix}k") <= 40_000


# --- client ownership and construction -------------------------------------------------------------


async def test_from_url_owns_its_client_and_closes_it(make_cache: CacheFactory, raw: Redis) -> None:
    cache = make_cache()
    name = f"bt-owned-{secrets.token_hex(4)}"
    await cache.storage._client.client_setname(name)  # type: ignore[attr-defined]

    async def connected() -> bool:
        return any(c.get("name") == name for c in await raw.client_list())

    assert await connected()
    await cache.aclose()
    await cache.aclose()  # twice is fine
    await eventually(lambda: _not(connected), what="the owned client disconnected")


async def _not(check: Callable[[], Awaitable[bool]]) -> bool:
    return not await check()


async def test_a_client_it_was_given_is_left_open(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_url(redis_url, single_connection_client=True)
    try:
        await client.client_setname("bt-given")
        async with RedisCache[int](client, prefix=redis_prefix) as cache:
            await cache.set("k", 1)
        # Still the same connection: a closed client would reconnect with a fresh, unnamed one.
        assert await client.client_getname() == "bt-given"
        assert await client.get(f"{redis_prefix}k") is not None
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "options",
    [
        {"prefix": ""},
        {"serializer": object()},
        {"serializer": "json"},
        {"lock_ttl": 0},
        {"lock_wait": -1},
        {"breaker_threshold": 0},
        {"breaker_recovery": -1},
        {"warn_interval": float("nan")},
        {"ttl": 0},
        {"jitter": (0.5, 0.1)},
        {"xfetch_beta": -1},
        {"name": ""},
    ],
    ids=repr,
)
async def test_bad_arguments_are_rejected(redis_url: str, options: dict[str, Any]) -> None:
    client = Redis.from_url(redis_url)
    try:
        with pytest.raises(CachingConfigurationError) as info:
            RedisCache(client, **options)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, CachingError)
    finally:
        await client.aclose()


@pytest.mark.parametrize("client", [object(), "redis://localhost", redis.Redis()], ids=repr)
def test_a_client_that_is_not_an_async_redis_is_rejected(client: object) -> None:
    with pytest.raises(CachingTypeError, match="client") as info:
        RedisCache(client)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)


async def test_a_prefix_that_is_not_a_str_is_a_type_error(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        with pytest.raises(CachingTypeError, match="prefix"):
            RedisCache(client, prefix=None)  # type: ignore[arg-type]
    finally:
        await client.aclose()


@pytest.mark.parametrize("url", ["", "localhost:6379"])
def test_from_url_rejects_what_is_not_a_url(url: Any) -> None:
    with pytest.raises(CachingConfigurationError, match="url"):
        RedisCache.from_url(url)
    with pytest.raises(CachingTypeError, match="url"):
        RedisCache.from_url(6379)  # type: ignore[arg-type]


def test_pickle_serializer_rejects_a_short_secret() -> None:
    with pytest.raises(CachingConfigurationError) as info:
        PickleSerializer(b"short")
    assert "short" not in str(info.value)  # the secret is never shown
    with pytest.raises(CachingConfigurationError):
        PickleSerializer(SECRET, previous_secrets=(b"x",))


# --- serializers -----------------------------------------------------------------------------------


async def test_pickle_round_trips_python_objects(make_cache: CacheFactory) -> None:
    cache = make_cache(serializer=PickleSerializer(SECRET))
    values = {
        "set": {1, 2, 3},
        "frozenset": frozenset({"a"}),
        "tuple": (1, "two", (3.0, None)),
        "datetime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "dataclass": Point(3, 4),
        "bytes": b"\x00\xff",
        "nested": {"points": [Point(1, 2)], "when": {datetime(2020, 1, 1, tzinfo=UTC)}},
    }
    await cache.set_many(values)
    for key, value in values.items():
        await cache.set(f"single:{key}", value)

    reader = make_cache(serializer=PickleSerializer(SECRET))  # another process with the same secret
    assert await reader.get_many(values) == values
    for key, value in values.items():
        got = await reader.get(f"single:{key}")
        assert got == value
        assert type(got) is type(value)


async def test_pickle_accepts_previous_secrets_while_rotating(make_cache: CacheFactory) -> None:
    old = make_cache(serializer=PickleSerializer(OTHER_SECRET))
    await old.set("k", Point(1, 1))
    rotated = make_cache(serializer=PickleSerializer(SECRET, previous_secrets=(OTHER_SECRET,)))
    assert await rotated.get("k") == Point(1, 1)
    await rotated.set("k", Point(2, 2))
    assert await make_cache(serializer=PickleSerializer(SECRET)).get("k") == Point(2, 2)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda obj: PickleSerializer[object](OTHER_SECRET).dumps(obj), id="signed-with-another-secret"
        ),
        pytest.param(pickle.dumps, id="unsigned"),
        pytest.param(lambda obj: b"\x00" * 32 + pickle.dumps(obj), id="zero-signature"),
        pytest.param(
            lambda obj: (
                PickleSerializer[MakeDir](SECRET)
                .dumps(MakeDir(obj.path.replace("pwned", "xxxxx")))
                .replace(b"xxxxx", b"pwned")
            ),
            id="edited-after-signing",
        ),
    ],
)
async def test_a_forged_pickle_is_never_loaded(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str, tmp_path: Path, forge: Callable[[MakeDir], bytes]
) -> None:
    """A valid buttress envelope whose pickle is not signed with our secret reads as a miss, unexecuted."""
    cache = make_cache(serializer=PickleSerializer(SECRET))
    target = tmp_path / "pwned"
    await raw.set(f"{redis_prefix}k", envelope(forge(MakeDir(str(target)))))

    assert await cache.get("k") is MISSING
    assert cache.stats.errors == 1
    assert await cache.get_many(["k"]) == {}
    assert cache.stats.errors == 2
    assert not target.exists()

    # A miss like any other: get_or_compute replaces the forged value with a good one.
    async def load() -> str:
        return "good"

    assert await cache.get_or_compute("k", load) == "good"
    assert await cache.get("k") == "good"
    assert not target.exists()


async def test_the_forged_pickle_would_run_if_it_were_signed(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str, tmp_path: Path
) -> None:
    """Control for the test above: the same envelope, signed with our secret, is loaded (and runs)."""
    cache = make_cache(serializer=PickleSerializer(SECRET))
    target = tmp_path / "ran"
    await raw.set(f"{redis_prefix}k", envelope(PickleSerializer[object](SECRET).dumps(MakeDir(str(target)))))
    assert await cache.get("k") is None  # os.mkdir returns None
    assert target.is_dir()


@pytest.mark.parametrize(
    "stored",
    [
        b"garbage",
        b"",
        b"bt\x01short",
        envelope(b"{not json"),
        envelope(b"\xff\xfe"),
        b"bt\x02" + b"\x00" * 40,
    ],
    ids=repr,
)
async def test_bytes_that_are_not_a_readable_entry_read_as_a_miss(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str, stored: bytes
) -> None:
    cache = make_cache()
    await raw.set(f"{redis_prefix}k", stored)
    assert await cache.get("k") is MISSING
    assert await cache.exists("k") is False
    assert cache.stats.errors == 2


async def test_a_key_of_another_redis_type_reads_as_a_miss(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = make_cache()
    await raw.rpush(f"{redis_prefix}k", b"not a string")
    assert await cache.get("k") is MISSING
    assert cache.stats.errors == 1


async def test_msgpack_round_trip(make_cache: CacheFactory) -> None:
    cache = make_cache(serializer=MsgpackSerializer())
    value = {"int": 1, "float": 0.5, "str": "ünï", "bytes": b"\x00\x01", "list": [1, [2]], "none": None}
    await cache.set("k", value)
    await cache.set_many({"t": (1, 2)})
    assert await make_cache(serializer=MsgpackSerializer()).get("k") == value
    assert await cache.get("t") == [1, 2]  # tuples come back as lists by default
    assert await make_cache(serializer=MsgpackSerializer(use_list=False)).get("t") == (1, 2)


async def test_an_unserializable_value_raises_naming_its_type_and_stores_nothing(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = make_cache()
    with pytest.raises(CacheSerializationError) as info:
        await cache.set("k", {1, 2})
    assert info.value.type_name == "set"
    assert "set" in str(info.value)
    assert isinstance(info.value, ValueError)

    with pytest.raises(CacheSerializationError):
        await cache.set_many({"ok": 1, "bad": object()})
    with pytest.raises(CacheSerializationError):
        await cache.set("tagged", {3}, tags=["t"])

    async def load() -> set[int]:
        return {1}

    with pytest.raises(CacheSerializationError):
        await cache.get_or_compute("computed", load)
    assert await raw.exists(lock_key(cache, "computed")) == 0  # the lock was released
    assert [key async for key in raw.scan_iter(match=f"{redis_prefix}*")] == []
    assert cache.stats.sets == 0


async def test_a_key_of_another_redis_type_under_the_prefix_is_a_serialization_error(
    redis_url: str, redis_prefix: str
) -> None:
    async with RedisStorage.from_url(redis_url, prefix=redis_prefix) as storage:
        await storage.client.lpush(f"{redis_prefix}k", b"not an entry")
        with pytest.raises(CacheSerializationError, match="another Redis type"):
            await storage.read("k")


async def test_a_client_with_no_free_connection_is_busy_not_unavailable(
    redis_url: str, redis_prefix: str
) -> None:
    client = Redis.from_url(redis_url, max_connections=1)  # redis-py's own pool: no queue, it refuses
    storage = RedisStorage(client, prefix=redis_prefix)
    held = await client.connection_pool.get_connection()
    try:
        with pytest.raises(CachingBusyError) as info:
            await storage.read("k")
        assert info.value.reason == "MaxConnectionsError"
    finally:
        await client.connection_pool.release(held)
        await client.aclose()


async def test_an_unpicklable_value_raises(make_cache: CacheFactory) -> None:
    cache = make_cache(serializer=PickleSerializer(SECRET))
    with pytest.raises(CacheSerializationError) as info:
        await cache.set("k", lambda: None)
    assert info.value.type_name == "function"


# --- the distributed lock --------------------------------------------------------------------------


async def test_concurrent_misses_in_two_processes_load_once(make_cache: CacheFactory, raw: Redis) -> None:
    """Property: N callers in each of two processes missing one key at once run the loader once overall."""
    a, b = make_cache(), make_cache()
    calls = 0

    async def load() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return {"v": 42}

    results = await asyncio.gather(
        *(c.get_or_compute("hot", load, ttl=60) for _ in range(25) for c in (a, b))
    )

    assert calls == 1
    assert results == [{"v": 42}] * 50
    assert a.stats.loads + b.stats.loads == 1
    assert a.stats.lock_waits + b.stats.lock_waits == 1
    assert await raw.exists(lock_key(a, "hot")) == 0


async def test_the_other_process_waits_for_the_lock_holders_value(
    make_cache: CacheFactory, raw: Redis
) -> None:
    holder_cache, waiter_cache = make_cache(), make_cache()
    release = asyncio.Event()
    waiter_calls = 0

    async def slow_load() -> str:
        await release.wait()
        return "from the holder"

    async def waiter_load() -> str:
        nonlocal waiter_calls
        waiter_calls += 1
        return "from a waiter"

    holder = asyncio.create_task(holder_cache.get_or_compute("k", slow_load, ttl=60))
    await eventually(lambda: raw.exists(lock_key(holder_cache, "k")), what="the holder took the lock")
    waiters = [asyncio.create_task(waiter_cache.get_or_compute("k", waiter_load, ttl=60)) for _ in range(10)]
    await eventually(lambda: waiter_cache.stats.lock_waits == 1, what="a waiter waits for the lock")
    assert not any(w.done() for w in waiters)

    release.set()

    assert await holder == "from the holder"
    assert await asyncio.gather(*waiters) == ["from the holder"] * 10
    assert waiter_calls == 0
    assert await raw.exists(lock_key(holder_cache, "k")) == 0


async def test_a_lock_whose_holder_died_frees_itself_after_lock_ttl(
    make_cache: CacheFactory, raw: Redis
) -> None:
    cache = make_cache(lock_ttl=0.5)
    # A process took the lock and died before computing: nobody will release it.
    await raw.set(lock_key(cache, "k"), b"token-of-a-dead-process", px=500)
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        return "computed"

    assert await asyncio.wait_for(cache.get_or_compute("k", load, ttl=60), timeout=10) == "computed"
    assert calls == 1
    assert cache.stats.lock_waits == 1
    assert await make_cache().get("k") == "computed"
    assert await raw.exists(lock_key(cache, "k")) == 0


async def test_a_waiter_counts_an_unreadable_value_once_however_often_it_looks(
    make_cache: CacheFactory, raw: Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """While it waits for a lock, the computation looks at the key again and again (and once more
    when it takes the lock over): the unreadable value its caller's read counted is not counted again."""
    cache = make_cache(lock_ttl=0.3, name="c")
    await raw.set(f"{redis_prefix}k", envelope(b"{not json"))
    await raw.set(lock_key(cache, "k"), b"token-of-a-dead-process", px=300)
    caplog.set_level(logging.WARNING, logger="buttress.caching")

    async def load() -> str:
        return "computed"

    assert await asyncio.wait_for(cache.get_or_compute("k", load), timeout=10) == "computed"
    assert cache.stats.lock_waits == 1
    assert cache.stats.errors == 1
    assert [r.getMessage() for r in caplog.records if r.name.startswith("buttress")] == [
        "c: unreadable value under 'k' treated as a miss: SerializationError"
    ]


async def test_a_waiter_that_gives_up_never_deletes_someone_elses_lock(
    make_cache: CacheFactory, raw: Redis
) -> None:
    cache = make_cache(lock_ttl=30, lock_wait=0.2)
    await raw.set(lock_key(cache, "k"), b"someone-else", px=30_000)

    async def load() -> str:
        return "computed anyway"

    assert await asyncio.wait_for(cache.get_or_compute("k", load), timeout=10) == "computed anyway"
    assert await raw.get(lock_key(cache, "k")) == b"someone-else"  # compare-and-delete left it alone


async def test_a_holder_whose_loader_fails_releases_the_lock_at_once(
    make_cache: CacheFactory, raw: Redis
) -> None:
    holder_cache, waiter_cache = make_cache(lock_ttl=30), make_cache(lock_ttl=30)
    release = asyncio.Event()

    async def failing() -> str:
        await release.wait()
        raise RuntimeError("database is down")

    async def load() -> str:
        return "from the waiter"

    holder = asyncio.create_task(holder_cache.get_or_compute("k", failing))
    await eventually(lambda: raw.exists(lock_key(holder_cache, "k")), what="the holder took the lock")
    waiter = asyncio.create_task(waiter_cache.get_or_compute("k", load))
    await eventually(lambda: waiter_cache.stats.lock_waits == 1, what="a waiter waits for the lock")

    release.set()

    with pytest.raises(RuntimeError, match="database is down"):
        await holder
    # With lock_ttl=30 the waiter would hang for 30 s if the lock were not released on failure.
    assert await asyncio.wait_for(waiter, timeout=5) == "from the waiter"


async def test_a_cancelled_computation_releases_the_lock(make_cache: CacheFactory, raw: Redis) -> None:
    holder_cache, waiter_cache = make_cache(lock_ttl=30), make_cache(lock_ttl=30)
    never = asyncio.Event()

    async def hangs() -> str:
        await never.wait()
        return "never"

    async def load() -> str:
        return "from the waiter"

    caller = asyncio.create_task(holder_cache.get_or_compute("k", hangs))
    await eventually(lambda: raw.exists(lock_key(holder_cache, "k")), what="the holder took the lock")
    waiter = asyncio.create_task(waiter_cache.get_or_compute("k", load))
    await eventually(lambda: waiter_cache.stats.lock_waits == 1, what="a waiter waits for the lock")

    holder_cache._flights["k"].cancel()  # the computation itself dies, as in a shutdown

    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await asyncio.wait_for(waiter, timeout=5) == "from the waiter"


async def test_without_locking_each_process_computes(make_cache: CacheFactory, raw: Redis) -> None:
    a, b = make_cache(locking=False), make_cache(locking=False)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return calls

    await asyncio.gather(a.get_or_compute("k", load), b.get_or_compute("k", load))
    assert calls == 2
    assert await raw.exists(lock_key(a, "k")) == 0


# --- the server going away -------------------------------------------------------------------------


def breaker(cache: RedisCache[Any]) -> BreakerState:
    """The state of the cache's circuit breaker (a function, so type checkers do not narrow it)."""
    return cache.breaker_state


def unavailable_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "is unavailable" in r.getMessage()]


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_an_unreachable_server_degrades_to_misses_and_dropped_writes(
    redis_server: RedisServer, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    caplog.set_level(logging.WARNING, logger="buttress.caching")
    cache: RedisCache[Any] = RedisCache.from_url(
        redis_server.url,
        socket_timeout=0.5,
        prefix="bt:",
        breaker_threshold=1_000,
        warn_interval=60,
        clock=fake_clock,
    )
    try:
        await cache.set("k", "before", ttl=60)
        assert await cache.get("k") == "before"
        assert cache.stats.errors == 0

        getattr(redis_server, fault)()

        calls = 0

        async def load() -> str:
            nonlocal calls
            calls += 1
            return "computed"

        assert await cache.get("k") is MISSING
        await cache.set("k", "dropped")
        await cache.set_many({"a": 1, "b": 2}, tags=["t"])
        assert await cache.get_or_compute("k", load) == "computed"
        assert await cache.get_or_compute("k", load) == "computed"
        assert calls == 2  # nothing was cached
        assert await cache.get_many(["a", "b"]) == {}
        assert await cache.exists("k") is False
        assert await cache.delete("k") is False
        assert await cache.invalidate_tags("t") == 0
        assert await cache.delete_pattern("*") == 0
        await cache.clear()
        assert await cache.ping() is False

        assert cache.stats.errors >= 12
        assert breaker(cache) is BreakerState.CLOSED  # the threshold is far away
        assert len(unavailable_warnings(caplog)) == 1  # once per warn_interval, however many failures

        fake_clock.advance(60)
        assert await cache.get("k") is MISSING
        assert len(unavailable_warnings(caplog)) == 2

        redis_server.start()
        await cache.set("k", "after")
        assert await cache.get("k") == "after"
    finally:
        await cache.aclose()


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_the_circuit_breaker_opens_skips_the_server_and_recovers(
    redis_server: RedisServer, fake_clock: FakeClock, fault: str
) -> None:
    cache: RedisCache[Any] = RedisCache.from_url(
        redis_server.url,
        socket_timeout=0.5,
        prefix="bt:",
        breaker_threshold=3,
        breaker_recovery=5,
        clock=fake_clock,
    )
    # Another process on the same server, with a working connection whenever the server is up.
    other: RedisCache[Any] = RedisCache.from_url(
        redis_server.url, socket_timeout=0.5, prefix="bt:", clock=fake_clock
    )
    try:
        await cache.set("k", "before")
        getattr(redis_server, fault)()

        for _ in range(3):
            assert await cache.get("k") is MISSING
        assert breaker(cache) is BreakerState.OPEN

        # A probe after the recovery interval, while the server is still down, re-opens the breaker.
        fake_clock.advance(5)
        assert await cache.get("k") is MISSING
        assert breaker(cache) is BreakerState.OPEN

        redis_server.start()
        await other.set("k", "written while the breaker was open")

        # While open, nothing reaches the server, although it is back: the value there is not seen,
        # and writes are dropped.
        errors = cache.stats.errors
        assert await cache.get("k") is MISSING
        await cache.set("dropped", 1)
        assert await other.get("dropped") is MISSING
        assert cache.stats.errors == errors + 2
        assert breaker(cache) is BreakerState.OPEN

        fake_clock.advance(5)
        assert await cache.get("k") == "written while the breaker was open"  # the probe works
        assert breaker(cache) is BreakerState.CLOSED
        await cache.set("after", 2)
        assert await other.get("after") == 2
    finally:
        await cache.aclose()
        await other.aclose()


async def test_the_breaker_recovers_with_a_real_clock(redis_server: RedisServer) -> None:
    cache: RedisCache[Any] = RedisCache.from_url(
        redis_server.url, socket_timeout=0.5, prefix="bt:", breaker_threshold=1, breaker_recovery=0.2
    )
    try:
        redis_server.stop()
        assert await cache.get("k") is MISSING
        assert breaker(cache) is BreakerState.OPEN
        redis_server.start()

        async def resumed() -> bool:
            await cache.set("k", "back")
            return await cache.get("k") == "back"

        await eventually(resumed, what="the cache resumed after the restart")
        assert breaker(cache) is BreakerState.CLOSED
    finally:
        await cache.aclose()


async def test_a_cancelled_probe_does_not_wedge_the_breaker(
    redis_server: RedisServer, fake_clock: FakeClock
) -> None:
    cache: RedisCache[Any] = RedisCache.from_url(
        redis_server.url,
        socket_timeout=2,
        prefix="bt:",
        breaker_threshold=1,
        breaker_recovery=1,
        clock=fake_clock,
    )
    raw = Redis.from_url(redis_server.url)
    try:
        redis_server.stop()
        assert await cache.get("k") is MISSING
        assert breaker(cache) is BreakerState.OPEN
        redis_server.start()
        fake_clock.advance(1)

        # The server answers no one for a moment; the probe hangs and its caller gives up (a request
        # timeout in the application).
        await raw.client_pause(500, all=True)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(cache.get("k"), timeout=0.1)
        await asyncio.sleep(0.5)

        fake_clock.advance(60)
        await cache.set("k", "stored")
        assert await raw.get("bt:k") is not None
        assert await cache.get("k") == "stored"
    finally:
        await cache.aclose()
        await raw.aclose()


async def test_a_write_right_after_a_server_restart_lands(redis_server: RedisServer) -> None:
    cache: RedisCache[Any] = RedisCache.from_url(redis_server.url, socket_timeout=0.5, prefix="bt:")
    try:
        await cache.set("k", "before")
        redis_server.restart()  # healthy again before the next call

        await cache.set("k", "after")

        assert cache.stats.errors == 0
        assert await cache.get("k") == "after"
    finally:
        await cache.aclose()


async def test_strict_mode_raises_a_typed_error_that_hides_the_password(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    password = "correct-horse-battery-staple"  # noqa: S105 - a test credential for a throwaway server
    admin = Redis.from_url(redis_server.url)
    try:
        await admin.acl_setuser(
            "app", enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"], categories=["+@all"]
        )
    finally:
        await admin.aclose()
    url = f"redis://app:{password}@127.0.0.1:{redis_server.port}/0"
    cache: RedisCache[Any] = RedisCache.from_url(
        url, socket_timeout=0.5, prefix="bt:", strict=True, breaker_threshold=2
    )
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        return "computed"

    try:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        redis_server.stop()

        with pytest.raises(CachingUnavailableError) as info:
            await cache.get("k")
        error = info.value
        assert isinstance(error, ConnectionError)
        assert isinstance(error, BackendUnavailableError)
        assert isinstance(error, CachingError)
        assert isinstance(error, ButtressError)
        assert password not in str(error)
        assert password not in error.address
        assert "app:***@" in str(error)
        assert password not in repr(cache)

        with pytest.raises(CachingUnavailableError):
            await cache.set("k", "v2")
        assert breaker(cache) is BreakerState.OPEN
        with pytest.raises(CachingUnavailableError, match="circuit breaker") as info:
            await cache.get_or_compute("k", load)
        assert password not in str(info.value)
        assert calls == 0
        assert cache.stats.errors == 3
        assert all(password not in r.getMessage() for r in caplog.records)
    finally:
        await cache.aclose()


async def test_ping(make_cache: CacheFactory, redis_server: RedisServer) -> None:
    assert await make_cache().ping() is True
    cache = make_cache(url=redis_server.url, socket_timeout=0.5)
    redis_server.kill()
    assert await cache.ping() is False


# --- stale-while-revalidate and XFetch -------------------------------------------------------------


async def test_an_expired_value_is_served_while_one_background_refresh_runs(
    make_cache: CacheFactory, fake_clock: FakeClock
) -> None:
    cache = make_cache(stale_ttl=60, jitter=None, xfetch_beta=0, clock=fake_clock)
    other_process = make_cache(stale_ttl=60, jitter=None, xfetch_beta=0, clock=fake_clock)
    release = asyncio.Event()
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        if calls > 1:
            await release.wait()
        return f"v{calls}"

    assert await cache.get_or_compute("k", load, ttl=10) == "v1"
    fake_clock.advance(11)
    assert await cache.get("k") is MISSING  # expired for plain reads

    results = await asyncio.gather(*(cache.get_or_compute("k", load, ttl=10) for _ in range(5)))
    assert results == ["v1"] * 5
    assert await other_process.get_or_compute("k", load, ttl=10) == "v1"
    assert cache.stats.stale_served == 5
    await eventually(lambda: calls == 2, what="one refresh started in the background")

    release.set()

    await eventually(lambda: _equals(cache.get("k"), "v2"), what="the refresh stored v2")
    assert calls == 2
    assert await cache.get_or_compute("k", load, ttl=10) == "v2"
    assert calls == 2


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_past_the_stale_window_the_value_is_computed_in_the_foreground(
    make_cache: CacheFactory, fake_clock: FakeClock
) -> None:
    cache = make_cache(stale_ttl=5, jitter=None, xfetch_beta=0, clock=fake_clock)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await cache.get_or_compute("k", load, ttl=10) == 1
    fake_clock.advance(16)
    assert await cache.get_or_compute("k", load, ttl=10) == 2
    assert cache.stats.stale_served == 0


def forces_early_refresh() -> float:
    # u = 1 - 0.999999 = 1e-6, so -ln(u) ≈ 13.8: an early refresh whenever Δ·β·13.8 >= time left.
    return 0.999_999


@pytest.mark.parametrize(
    ("beta", "rng", "loader_takes", "refreshed"),
    [
        pytest.param(1.0, forces_early_refresh, 1.0, True, id="refresh-early"),
        pytest.param(0.0, forces_early_refresh, 1.0, False, id="beta-0-never"),
        pytest.param(1.0, lambda: 0.0, 1.0, False, id="u-1-never"),
        pytest.param(1.0, forces_early_refresh, 0.0, False, id="delta-0-never"),
    ],
)
async def test_xfetch_recomputes_a_fresh_value_early(
    make_cache: CacheFactory,
    fake_clock: FakeClock,
    beta: float,
    rng: Callable[[], float],
    loader_takes: float,
    refreshed: bool,
) -> None:
    cache = make_cache(jitter=None, xfetch_beta=beta, rng=rng, clock=fake_clock)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        fake_clock.advance(loader_takes)  # Δ, as the cache measures it
        return calls

    assert await cache.get_or_compute("k", load, ttl=10) == 1
    assert await cache.get_or_compute("k", load, ttl=10) == 1, "a fresh value is served at once"
    if refreshed:
        await eventually(lambda: _equals(cache.get("k"), 2), what="refreshed behind the served value")
    else:
        await asyncio.sleep(0.05)
        assert await cache.get("k") == 1
    assert cache.stats.early_refreshes == (1 if refreshed else 0)


async def test_xfetch_with_stale_ttl_refreshes_in_the_background(
    make_cache: CacheFactory, fake_clock: FakeClock
) -> None:
    cache = make_cache(jitter=None, stale_ttl=30, rng=forces_early_refresh, clock=fake_clock)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        fake_clock.advance(1.0)
        return calls

    assert await cache.get_or_compute("k", load, ttl=10) == 1
    assert await cache.get_or_compute("k", load, ttl=10) == 1  # served at once; refreshed behind
    await eventually(lambda: _equals(cache.get("k"), 2), what="refreshed behind the served value")
    assert cache.stats.early_refreshes == 1
