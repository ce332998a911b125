"""TieredCache with ``invalidation="tracking"`` against a real Redis: the server's own reports (RESP3
``CLIENT TRACKING``, broadcasting mode) evict L1 copies, whoever changed the key: another TieredCache,
a plain client, ``redis-cli``, another OS process, an expiry, a flush.

Faults run on a private redis-server: killed, stopped, the tracking connection cut, authentication
refused while reconnecting, the server hung. In each, L1 is emptied and left unused until tracking is
back, so no stale copy is served. Propagation is awaited by polling with a bound, never timed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from buttress.caching import (
    CachingConfigurationError,
    MemoryStorage,
    RedisStorage,
    TieredCache,
    TieredStorage,
)
from buttress.caching._entry import Entry, pack, unpack
from buttress.core import MISSING
from buttress.testing import RedisServer, eventually

pytestmark = pytest.mark.redis

type TrackingFactory = Callable[..., Awaitable[TieredCache[Any]]]


async def reads(cache: TieredCache[Any], key: str, expected: object) -> bool:
    return await cache.get(key) == expected


def envelope(value: bytes) -> bytes:
    """What a TieredCache stores in Redis for the JSON ``value``: written by a plain client below."""
    return pack(Entry(value, None, None, 0.0))


@pytest.fixture
async def make_tracking(redis_url: str, redis_prefix: str) -> AsyncIterator[TrackingFactory]:
    """Make TieredCaches with tracking on (one "process" each: own client, shared L2 prefix), closed after."""
    made: list[TieredCache[Any]] = []

    async def make(url: str | None = None, **options: Any) -> Any:
        options.setdefault("l1_ttl", 30)
        cache: TieredCache[Any] = TieredCache.from_url(
            url or redis_url, prefix=redis_prefix, socket_timeout=0.5, invalidation="tracking", **options
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


async def held_in_l1(cache: TieredCache[Any], key: str, expected: object) -> None:
    """Read ``key`` until L1 answers it with ``expected`` (a read overlapping a report is not kept)."""

    async def hit() -> bool:
        hits = cache.l1_stats.hits
        return await cache.get(key) == expected and cache.l1_stats.hits == hits + 1

    await eventually(hit, what=f"{key!r} came from L1")


# --- L1 ----------------------------------------------------------------------------------------------


async def test_l1_serves_hits_and_no_message_is_published(
    make_tracking: TrackingFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = await make_tracking()
    assert cache.invalidation == "tracking"
    assert cache.channel is None
    pubsub = raw.pubsub()
    await pubsub.psubscribe(f"{redis_prefix}*")  # where a pub/sub TieredCache would publish
    try:
        await cache.set("k", {"v": 1})
        await held_in_l1(cache, "k", {"v": 1})
        assert await cache.get_many(["k"]) == {"k": {"v": 1}}
        published = await pubsub.get_message(timeout=0.2)  # the psubscribe confirmation
        assert published is not None
        assert published["type"] == "psubscribe"
        assert await pubsub.get_message(timeout=0.2) is None, "a tracking writer published"
    finally:
        await pubsub.aclose()


# --- who changed the key -------------------------------------------------------------------------------


async def _write_new(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    await a.set("k", "new", tags=["t"])
    return "new"


async def _set_many_new(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    await a.set_many({"k": "new", "unrelated": 0})
    return "new"


async def _delete(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    assert await a.delete("k") is True
    return MISSING


async def _delete_pattern(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    assert await a.delete_pattern("k*") == 1
    return MISSING


async def _clear(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    await a.clear()
    return MISSING


async def _invalidate_tag(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    assert await a.invalidate_tags("t") == 1
    return MISSING


async def _plain_set(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    await raw.set(f"{prefix}k", envelope(b'"plain"'))
    return "plain"


async def _plain_delete(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    await raw.delete(f"{prefix}k")
    return MISSING


async def _plain_expiry(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    await raw.pexpire(f"{prefix}k", 1)
    await asyncio.sleep(0.01)
    await raw.exists(f"{prefix}k")  # the server notices the expiry on access at the latest
    return MISSING


async def _redis_cli(a: TieredCache[Any], raw: Redis, prefix: str) -> object:
    binary = shutil.which("redis-cli")
    if binary is None:
        pytest.skip("redis-cli is not on PATH")
    url = raw.get_connection_kwargs()
    command = [binary, "-h", str(url["host"]), "-p", str(url["port"]), "-n", str(url.get("db", 0))]
    done = await asyncio.to_thread(
        subprocess.run, [*command, "DEL", f"{prefix}k"], capture_output=True, check=True
    )
    assert done.stdout.strip() == b"1"
    return MISSING


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_write_new, id="set"),
        pytest.param(_set_many_new, id="set_many"),
        pytest.param(_delete, id="delete"),
        pytest.param(_delete_pattern, id="delete_pattern"),
        pytest.param(_clear, id="clear"),
        pytest.param(_invalidate_tag, id="invalidate_tags"),
        pytest.param(_plain_set, id="plain-client-SET"),
        pytest.param(_plain_delete, id="plain-client-DEL"),
        pytest.param(_plain_expiry, id="expiry"),
        pytest.param(_redis_cli, id="redis-cli-DEL"),
    ],
)
async def test_a_change_by_any_client_evicts_the_l1_copy(
    make_tracking: TrackingFactory,
    raw: Redis,
    redis_prefix: str,
    change: Callable[[TieredCache[Any], Redis, str], Awaitable[object]],
) -> None:
    a, b = await make_tracking(), await make_tracking()
    await a.set("k", "old", tags=["t"])
    await a.set("other", "kept")
    await held_in_l1(b, "k", "old")  # b really holds an L1 copy (l1_ttl=30 s would keep it)
    await held_in_l1(b, "other", "kept")

    expected = await change(a, raw, redis_prefix)

    await eventually(lambda: reads(b, "k", expected), what="b stopped serving its L1 copy")
    if expected is MISSING:
        assert await a.get("k") is MISSING


async def test_a_write_from_another_os_process_evicts_the_l1_copy(
    make_tracking: TrackingFactory, redis_url: str, redis_prefix: str
) -> None:
    """Two OS processes: the other one writes through its own TieredCache and exits."""
    cache = await make_tracking()
    await cache.set("k", "old")
    await held_in_l1(cache, "k", "old")

    script = textwrap.dedent(
        """
        import asyncio, sys
        from buttress.caching import TieredCache

        async def main(url, prefix):
            async with TieredCache.from_url(url, prefix=prefix, invalidation="tracking") as other:
                await other.set("k", "from another process")

        asyncio.run(main(sys.argv[1], sys.argv[2]))
        """
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script, redis_url, redis_prefix],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()

    await eventually(lambda: reads(cache, "k", "from another process"), what="stopped serving its L1 copy")
    await held_in_l1(cache, "k", "from another process")


async def test_keys_outside_the_prefix_and_internal_keys_are_ignored(
    make_tracking: TrackingFactory, raw: Redis, redis_prefix: str
) -> None:
    cache = await make_tracking()
    await cache.set("k", "v")
    await held_in_l1(cache, "k", "v")
    await raw.set(f"{redis_prefix[:-1]}-elsewhere:k", b"x")  # shares the start of the prefix only
    await raw.set(f"{redis_prefix}\x00tag:k", b"x")  # where RedisStorage keeps tags
    await raw.delete(f"{redis_prefix[:-1]}-elsewhere:k")
    hits = cache.l1_stats.hits
    assert await cache.get("k") == "v"
    assert cache.l1_stats.hits == hits + 1


async def test_a_flush_empties_l1(make_tracking: TrackingFactory, redis_server: RedisServer) -> None:
    cache = await make_tracking(url=redis_server.url)
    await cache.set("k", "v")
    await held_in_l1(cache, "k", "v")
    flusher = Redis.from_url(redis_server.url)
    try:
        await flusher.flushdb()  # a private server: nobody else's data
    finally:
        await flusher.aclose()
    await eventually(lambda: reads(cache, "k", MISSING))
    assert cache.l1_active


# --- faults: no stale copy while tracking is down ---------------------------------------------------------


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_losing_the_server_disables_and_empties_l1_until_tracking_is_back(
    make_tracking: TrackingFactory, redis_server: RedisServer, fault: str
) -> None:
    cache = await make_tracking(url=redis_server.url)
    await cache.set("k", "cached")
    await held_in_l1(cache, "k", "cached")

    getattr(redis_server, fault)()

    await eventually(lambda: not cache.l1_active, what="L1 turned off without tracking")
    assert await cache.get("k") is MISSING  # L1 was emptied; L2 is unreachable
    assert cache.stats.errors >= 1

    redis_server.start()

    await eventually(lambda: cache.l1_active, timeout=15, what="tracking came back")
    await cache.set("k", "after")
    await held_in_l1(cache, "k", "after")


async def _tracking_ids(admin: Redis) -> list[str]:
    listing = await admin.client_list()
    return [str(client["id"]) for client in listing if "t" in str(client.get("flags", ""))]


async def test_a_write_while_tracking_is_cut_is_never_hidden_by_l1(
    make_tracking: TrackingFactory, redis_server: RedisServer, redis_prefix: str
) -> None:
    """Property: a change the server could not report (tracking was down) is never hidden by an L1 copy.

    The tracking connection is cut and kept from coming back (authentication refused) while a plain
    client writes; the write is never reported, so only emptying L1 on the loss and on the return
    keeps the old copy from being served.
    """
    cache = await make_tracking(url=redis_server.url)
    await cache.set("k", "old")
    await held_in_l1(cache, "k", "old")
    admin = Redis.from_url(redis_server.url)
    try:
        failures = cache.stats.errors
        await admin.acl_setuser("default", enabled=False)  # open connections stay; new ones fail
        ids = await _tracking_ids(admin)
        assert len(ids) == 1
        await admin.client_kill_filter(_id=ids[0])
        await eventually(lambda: not cache.l1_active)

        await admin.set(f"{redis_prefix}k", envelope(b'"new"'))
        assert await cache.get("k") == "new"  # from L2: L1 is off
        await eventually(lambda: cache.stats.errors >= failures + 2)  # reconnects refused
        assert not cache.l1_active
        assert await cache.get("k") == "new"

        await admin.acl_setuser("default", enabled=True)
        await eventually(lambda: cache.l1_active, timeout=15)
        await held_in_l1(cache, "k", "new")
    finally:
        await admin.acl_setuser("default", enabled=True)
        await admin.aclose()


async def test_a_hung_server_disables_l1_within_two_pings(make_tracking: TrackingFactory) -> None:
    """A server that stops answering without closing the connection is noticed by the tracking ping."""
    with RedisServer(extra_args=("--enable-debug-command", "yes")) as server:
        cache = await make_tracking(url=server.url)
        await cache.set("k", "v")
        await held_in_l1(cache, "k", "v")
        sleeper = Redis.from_url(server.url, socket_timeout=30)
        try:
            asleep = asyncio.ensure_future(sleeper.execute_command("DEBUG", "SLEEP", "6"))
            await eventually(lambda: not cache.l1_active, timeout=5.5, what="L1 turned off")
            await asleep
            await eventually(lambda: cache.l1_active, timeout=15)
            assert await cache.get("k") == "v"  # from L2 again: L1 started empty
        finally:
            await sleeper.aclose()
            await cache.aclose()


# --- construction ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("invalidation", ["bcast", "", None, 1, "PUBSUB"], ids=repr)
def test_an_unknown_invalidation_is_rejected(redis_url: str, invalidation: object) -> None:
    with pytest.raises(CachingConfigurationError, match="invalidation") as info:
        TieredCache.from_url(redis_url, invalidation=invalidation)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


async def test_tracking_takes_no_channel_and_needs_a_single_node_redis_l2(redis_url: str) -> None:
    with pytest.raises(CachingConfigurationError, match="channel"):
        TieredCache.from_url(redis_url, invalidation="tracking", channel="c")
    with pytest.raises(CachingConfigurationError, match="channel"):
        TieredStorage(MemoryStorage[bytes](), MemoryStorage[bytes](), client=Redis.from_url(redis_url))
    client = Redis.from_url(redis_url)
    try:
        with pytest.raises(CachingConfigurationError, match="l2"):
            TieredStorage(
                MemoryStorage[bytes](), MemoryStorage[bytes](), client=client, invalidation="tracking"
            )
        cluster = RedisCluster.from_url(redis_url)
        with pytest.raises(CachingConfigurationError, match="single-node"):
            TieredCache(cluster, invalidation="tracking")
        storage = TieredStorage(
            MemoryStorage[bytes](), RedisStorage(client, prefix="p:"), client=client, invalidation="tracking"
        )
        assert "tracking='p:'" in repr(storage)
        await storage.aclose()
    finally:
        await client.aclose()


# --- the state machine -----------------------------------------------------------------------------------


# JSON-shaped values, nested: a fresh decode of what Redis holds is the reference (tuples come back as lists).
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=8,
)


def _mutate(value: object) -> bool:
    """Change the first container found in ``value`` in place; return whether there was one."""
    if isinstance(value, dict):
        for item in value.values():
            if _mutate(item):
                return True
        value["\x01mutated"] = [1]
        return True
    if isinstance(value, list):
        for item in value:
            if _mutate(item):
                return True
        value.append({"mutated": True})
        return True
    return False


class TrackingMachine(RuleBasedStateMachine):
    """Stateful test: two tiered caches (and, under tracking, a plain client) change and read a few keys.

    Property: L1 coherence. After a barrier (under tracking, a key written last by the plain client,
    seen reported by both caches, the server reporting changes in order; under pub/sub, a key written
    by each cache, seen by the other), each cache reads exactly what Redis holds, whether from L1 or L2;
    and a cache's own write is never answered from an older L1 copy.

    Property: an L1 hit equals a fresh decode. Whatever ``l1_values`` keeps next to an L1 copy, `get`
    returns a value equal to decoding the bytes Redis holds, across invalidations; under ``"copy"``
    and ``"bytes"``, a caller that mutates what it got never changes what the next caller gets.
    Subclasses run it under each invalidation and each ``l1_values``.
    """

    KEYS = "abc"
    INVALIDATION = "tracking"
    L1_VALUES = "copy"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.run(self._open())
        self.model: dict[str, object] = {}
        self.barriers = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def _open(self) -> None:
        url, self.prefix = _MACHINE_CONTEXT["url"], f"{_MACHINE_CONTEXT['prefix']}{id(self)}:"
        self.raw = Redis.from_url(url)
        self.caches = [
            TieredCache[Any].from_url(
                url,
                prefix=self.prefix,
                invalidation=self.INVALIDATION,  # type: ignore[arg-type] # a class setting
                l1_values=self.L1_VALUES,  # type: ignore[arg-type] # a class setting
                socket_timeout=2.0,
            )
            for _ in range(2)
        ]
        for cache in self.caches:
            assert await cache.wait_until_subscribed(10)
        await self.caches[0].set("barrier", 0)

    def teardown(self) -> None:
        async def close() -> None:
            await self.caches[0].clear()
            for cache in self.caches:
                await cache.aclose()
            await self.raw.aclose()

        self.run(close())
        self.loop.close()

    async def _decoded(self, key: str) -> object:
        """A fresh decode of what Redis holds under ``key`` (`MISSING` when nothing)."""
        data = await self.raw.get(f"{self.prefix}{key}")
        return MISSING if data is None else json.loads(unpack(data).value)

    def _tracking(self) -> bool:
        return self.INVALIDATION == "tracking"

    def _private(self) -> bool:
        return self.L1_VALUES != "shared"

    @rule(who=st.sampled_from([0, 1]), key=st.sampled_from(KEYS), value=JSON_VALUES)
    def cache_sets(self, who: int, key: str, value: object) -> None:
        self.run(self.caches[who].set(key, value))
        self.model[key] = self.run(self._decoded(key))
        assert self.run(self.caches[who].get(key)) == self.model[key]  # its own write, at once

    @rule(who=st.sampled_from([0, 1]), key=st.sampled_from(KEYS))
    def cache_deletes(self, who: int, key: str) -> None:
        self.run(self.caches[who].delete(key))
        self.model.pop(key, None)
        assert self.run(self.caches[who].get(key)) is MISSING

    @precondition(_tracking)
    @rule(key=st.sampled_from(KEYS), value=JSON_VALUES)
    def plain_client_sets(self, key: str, value: object) -> None:
        self.run(self.raw.set(f"{self.prefix}{key}", envelope(json.dumps(value).encode())))
        self.model[key] = json.loads(json.dumps(value))

    @precondition(_tracking)
    @rule(key=st.sampled_from(KEYS))
    def plain_client_deletes(self, key: str) -> None:
        self.run(self.raw.delete(f"{self.prefix}{key}"))
        self.model.pop(key, None)

    @rule(who=st.sampled_from([0, 1]), key=st.sampled_from(KEYS))
    def cache_reads(self, who: int, key: str) -> None:
        self.run(self.caches[who].get(key))  # may fill L1; what it returns is checked after a barrier

    @precondition(_private)
    @rule(who=st.sampled_from([0, 1]), key=st.sampled_from(KEYS), twice=st.booleans())
    def a_caller_mutates_what_it_got(self, who: int, key: str, twice: bool) -> None:
        cache = self.caches[who]
        first = self.run(cache.get(key))
        if twice:
            first = self.run(cache.get(key))  # the second hit of an L1 copy: the kept value's path
        if first is MISSING or not _mutate(first):
            return
        again = self.run(cache.get(key))
        assert again == self.run(self._decoded(key)), (key, again, first)
        assert again is not first

    @rule()
    def barrier_then_every_read_agrees(self) -> None:
        self.run(self._barrier())
        for cache in self.caches:
            for key in self.KEYS:
                got = self.run(cache.get(key))
                assert got == self.model.get(key, MISSING), (key, got, self.model)
                assert got == self.run(self._decoded(key)), (key, got)
                hit = self.run(cache.get(key))  # now from L1 when it was filled
                assert hit == got, (key, hit, got)

    async def _barrier(self) -> None:
        # The reader holds the current barrier value in L1; a new value is read only once the
        # invalidation of its write evicted that copy, and invalidations on one connection arrive in
        # order (under pub/sub, each writer's own messages: so each cache writes one barrier in turn).
        pairs = [(None, 0), (None, 1)] if self._tracking() else [(0, 1), (1, 0)]
        for writer, reader in pairs:
            await held_in_l1(self.caches[reader], "barrier", self.barriers)
            self.barriers += 1
            if writer is None:
                await self.raw.set(f"{self.prefix}barrier", envelope(str(self.barriers).encode()))
            else:
                await self.caches[writer].set("barrier", self.barriers)
            target = self.caches[reader]
            seen = f"{target!r} saw the barrier's invalidation"
            await eventually(lambda: reads(target, "barrier", self.barriers), what=seen)  # noqa: B023
            if writer is None:
                # The other cache too: the server reported the write to both.
                other = self.caches[1 - reader]
                report = f"{other!r} received the barrier's report"
                await eventually(lambda: reads(other, "barrier", self.barriers), what=report)  # noqa: B023

    @invariant()
    def l1_stays_on(self) -> None:
        for cache in self.caches:
            assert cache.l1_active


class SharedTrackingMachine(TrackingMachine):
    L1_VALUES = "shared"


class BytesTrackingMachine(TrackingMachine):
    L1_VALUES = "bytes"


class PubSubMachine(TrackingMachine):
    INVALIDATION = "pubsub"


class SharedPubSubMachine(TrackingMachine):
    INVALIDATION = "pubsub"
    L1_VALUES = "shared"


class BytesPubSubMachine(TrackingMachine):
    INVALIDATION = "pubsub"
    L1_VALUES = "bytes"


_MACHINE_CONTEXT: dict[str, str] = {}


@pytest.mark.parametrize(
    ("machine", "examples"),
    [
        (TrackingMachine, 25),
        (SharedTrackingMachine, 10),
        (BytesTrackingMachine, 10),
        (PubSubMachine, 15),
        (SharedPubSubMachine, 10),
        (BytesPubSubMachine, 10),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_l1_coherence_state_machine(
    redis_url: str, redis_prefix: str, machine: type[TrackingMachine], examples: int
) -> None:
    """Property: L1 coherence, and an L1 hit equal to a fresh decode, under every invalidation and
    ``l1_values`` (see `TrackingMachine`)."""
    _MACHINE_CONTEXT.update(url=redis_url, prefix=redis_prefix)
    machine.TestCase.settings = settings(
        max_examples=examples, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine.TestCase().runTest()


@pytest.mark.parametrize("invalidation", ["pubsub", "tracking"])
async def test_a_read_that_began_before_the_subscription_was_confirmed_does_not_fill_l1(
    redis_url: str, redis_prefix: str, raw: Redis, invalidation: str
) -> None:
    """A change made while the subscription was down is never reported: a read from then stays out of L1."""
    storage = TieredStorage.from_url(redis_url, prefix=redis_prefix, invalidation=invalidation)  # type: ignore[arg-type]
    try:
        assert await storage.wait_until_subscribed()
        await raw.set(f"{redis_prefix}k", envelope(b'"v"'))
        read = asyncio.ensure_future(storage.read("k"))
        await asyncio.sleep(0)  # the read is now waiting for Redis's answer
        await storage._activate()  # the subscription (re)confirmed while the read was in flight
        entry = await read
        assert entry is not None
        assert await storage.l1.read("k") is None, "a read older than the subscription was kept in L1"
        assert await storage.read("k") is not None
        assert await storage.l1.read("k") is not None  # the next read fills L1 as usual
    finally:
        await storage.aclose()
