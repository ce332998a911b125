"""Hypothesis properties of the storages: read-after-write, remove, tag invalidation, keep_for expiry.

`MemoryStorage` takes a clock, so its expiry is checked with a `FakeClock` in a stateful test against
a model; `RedisStorage` and `TieredStorage` run random operation sequences against real Redis (whose
expiry is the server's, checked by the conformance suite with real time).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from buttress.caching import CacheStorage, Entry, MemoryStorage, RedisStorage, TieredStorage
from buttress.testing import FakeClock

KEYS = st.sampled_from(["a", "b", "c", "d", "e:1", "e:2"])
TAGS = st.lists(st.sampled_from(["red", "blue", "green"]), max_size=2, unique=True)
VALUES = st.binary(max_size=16)


def entry(value: bytes) -> Entry[bytes]:
    return Entry(value, None, None, 0.0)


class MemoryStorageMachine(RuleBasedStateMachine):
    """Stateful test: MemoryStorage is a dict with tags and drop times, on a fake clock.

    Properties: read-after-write (a read returns the last write until its keep_for passes), remove
    (a removed key reads as None, and `remove` says whether it was there), tag invalidation (exactly
    the live keys written with a tag go, and are returned), keep_for expiry (an entry is never read
    once its keep_for has passed on the clock).
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.storage = MemoryStorage[bytes](max_size=100, clock=self.clock)
        # key -> (value, drop_at or None, tags)
        self.model: dict[str, tuple[bytes, float | None, tuple[str, ...]]] = {}

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    def live(self, key: str) -> bool:
        if key not in self.model:
            return False
        _, drop_at, _ = self.model[key]
        return drop_at is None or self.clock.monotonic() < drop_at

    @rule(key=KEYS, value=VALUES, keep_for=st.none() | st.integers(1, 20), tags=TAGS)
    def write(self, key: str, value: bytes, keep_for: int | None, tags: list[str]) -> None:
        self.run(self.storage.write([(key, entry(value), keep_for)], tags))
        drop_at = None if keep_for is None else self.clock.monotonic() + keep_for
        self.model[key] = (value, drop_at, tuple(tags))

    @rule(key=KEYS)
    def read(self, key: str) -> None:
        got = self.run(self.storage.read(key))
        if self.live(key):
            assert got is not None
            assert got.value == self.model[key][0]
        else:
            assert got is None
            self.model.pop(key, None)

    @rule(key=KEYS)
    def remove(self, key: str) -> None:
        assert self.run(self.storage.remove(key)) is self.live(key)
        self.model.pop(key, None)

    @rule(tags=TAGS)
    def remove_tags(self, tags: list[str]) -> None:
        tagged = {k for k, (_, _, own) in self.model.items() if set(own) & set(tags)}
        removed = self.run(self.storage.remove_tags(tags))
        assert set(removed) == {k for k in tagged if self.live(k)}
        for key in tagged:
            del self.model[key]

    @rule(seconds=st.integers(0, 15))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def reads_agree_with_the_model(self) -> None:
        keys = sorted({"a", "b", "c", "d", "e:1", "e:2"})
        entries = self.run(self.storage.read_many(keys))
        for key, got in zip(keys, entries, strict=True):
            if self.live(key):
                assert got is not None, key
                assert got.value == self.model[key][0], key
            else:
                assert got is None, key


TestMemoryStorageMachine = MemoryStorageMachine.TestCase
TestMemoryStorageMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), KEYS, VALUES, TAGS),
        st.tuples(st.just("remove"), KEYS),
        st.tuples(st.just("remove_tags"), TAGS),
    ),
    max_size=12,
)


async def run_against_a_model(storage: CacheStorage[bytes], operations: list[tuple[Any, ...]]) -> None:
    """Apply ``operations`` to ``storage`` and to a dict, checking each answer and every key after.

    Redis keeps a tag's members in a set that only `remove_tags` (or the set's expiry) empties, so a
    key rewritten or removed stays a member of its earlier tags, as the Protocol allows: the model
    keeps the same sets.
    """
    await storage.clear()
    model: dict[str, bytes] = {}
    members: dict[str, set[str]] = {}
    for operation in operations:
        if operation[0] == "write":
            _, key, value, tags = operation
            await storage.write([(key, entry(value), 60.0)], tags)
            model[key] = value
            for tag in tags:
                members.setdefault(tag, set()).add(key)
            got = await storage.read(key)
            assert got is not None
            assert got.value == value
        elif operation[0] == "remove":
            _, key = operation
            assert await storage.remove(key) is (key in model)
            model.pop(key, None)
        else:
            _, tags = operation
            tagged = set().union(*(members.pop(tag, set()) for tag in tags))
            assert set(await storage.remove_tags(tags)) == tagged & set(model)
            for key in tagged:
                model.pop(key, None)
        keys = sorted(model)
        got_all = await storage.read_many(keys)
        assert [g.value if g is not None else None for g in got_all] == [model[k] for k in keys]


@pytest.mark.redis
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30, deadline=None)
@given(operations=OPERATIONS)
async def test_redis_storage_agrees_with_a_dict(
    redis_url: str, redis_prefix: str, operations: list[Any]
) -> None:
    """Properties: read-after-write, remove and tag invalidation on real Redis."""
    storage = RedisStorage.from_url(redis_url, prefix=redis_prefix)
    try:
        await run_against_a_model(storage, operations)
    finally:
        await storage.clear()
        await storage.aclose()


@pytest.mark.redis
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=20, deadline=None)
@given(operations=OPERATIONS)
async def test_tiered_storage_agrees_with_a_dict(
    redis_url: str, redis_prefix: str, operations: list[Any]
) -> None:
    """Properties: read-after-write, remove and tag invalidation through L1 and L2 together."""
    storage = TieredStorage.from_url(redis_url, prefix=redis_prefix, l1_max_size=100)
    try:
        assert await storage.wait_until_subscribed()
        await run_against_a_model(storage, operations)
    finally:
        await storage.clear()
        await storage.aclose()
