"""DataLoader: batching per tick, max batch size, per-request cache, errors per key."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from buttress.federation import DataLoader, DataLoaderError, FederationConfigurationError


class Source:
    """A batch function over ``key -> key * 10`` that fails keys in ``failing``, recording its calls."""

    def __init__(self, failing: frozenset[int] = frozenset()) -> None:
        self.calls: list[list[int]] = []
        self.failing = failing

    async def __call__(self, keys: Sequence[int]) -> list[int | BaseException]:
        self.calls.append(list(keys))
        await asyncio.sleep(0)
        return [KeyError(k) if k in self.failing else k * 10 for k in keys]


@given(
    keys=st.lists(st.integers(0, 30), max_size=60),
    max_batch_size=st.none() | st.integers(1, 8),
    failing=st.frozensets(st.integers(0, 30), max_size=5),
)
async def test_property_batching_and_errors_per_key(
    keys: list[int], max_batch_size: int | None, failing: frozenset[int]
) -> None:
    """Loads of one tick: each key's own value or error, distinct keys asked once, ceil(n/max) calls."""
    source = Source(failing)
    loader = DataLoader(source, max_batch_size=max_batch_size)
    results = await asyncio.gather(*(loader.load(k) for k in keys), return_exceptions=True)
    for key, result in zip(keys, results, strict=True):
        if key in failing:
            assert isinstance(result, KeyError)
            assert result.args == (key,)
        else:
            assert result == key * 10
    distinct = list(dict.fromkeys(keys))
    asked = [k for call in source.calls for k in call]
    assert asked == distinct
    assert all(len(call) <= (max_batch_size or len(distinct)) for call in source.calls)
    expected_calls = math.ceil(len(distinct) / max_batch_size) if max_batch_size else (1 if distinct else 0)
    assert len(source.calls) == expected_calls == loader.batch_calls


@given(keys=st.lists(st.integers(0, 10), min_size=1, max_size=20))
async def test_property_without_cache_every_load_is_asked(keys: list[int]) -> None:
    """With cache=False, duplicates reach the batch function and nothing is remembered."""
    source = Source()
    loader = DataLoader(source, cache=False)
    assert await loader.load_many(keys) == [k * 10 for k in keys]
    assert source.calls == [keys]
    await loader.load(keys[0])
    assert len(source.calls) == 2


async def test_cache_prime_clear() -> None:
    source = Source()
    loader = DataLoader(source)
    assert await loader.load(1) == 10
    assert await loader.load(1) == 10
    assert source.calls == [[1]]
    loader.prime(2, 99)
    loader.prime(1, 77)  # already cached: kept
    assert await loader.load_many([1, 2]) == [10, 99]
    loader.clear(1)
    assert await loader.load(1) == 10
    assert source.calls == [[1], [1]]
    loader.clear_all()
    assert await loader.load(2) == 20


async def test_failed_keys_are_not_cached() -> None:
    source = Source(frozenset({3}))
    loader = DataLoader(source)
    with pytest.raises(KeyError):
        await loader.load(3)
    source.failing = frozenset()
    assert await loader.load(3) == 30


async def test_batch_function_raising_fails_every_key() -> None:
    async def broken(keys: Sequence[int]) -> list[int]:
        raise ConnectionError("down")

    loader: DataLoader[int, int] = DataLoader(broken)
    results = await loader.load_many([1, 2], return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]


async def test_wrong_number_of_values() -> None:
    async def short(keys: Sequence[int]) -> list[int]:
        return [1]

    loader: DataLoader[int, int] = DataLoader(short)
    with pytest.raises(DataLoaderError, match="returned 1 values for 2 keys"):
        await loader.load_many([1, 2])


async def test_cancelled_caller_does_not_cancel_others() -> None:
    release = asyncio.Event()

    async def slow(keys: Sequence[int]) -> list[int]:
        await release.wait()
        return list(keys)

    loader: DataLoader[int, int] = DataLoader(slow)
    first = asyncio.ensure_future(loader.load(1))
    second = asyncio.ensure_future(loader.load(1))
    await asyncio.sleep(0.01)
    first.cancel()
    release.set()
    assert await second == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_unhashable_keys_with_cache_key() -> None:
    async def lengths(keys: Sequence[list[int]]) -> list[int]:
        return [len(k) for k in keys]

    loader = DataLoader(lengths, cache_key=tuple)
    assert await loader.load_many([[1, 2], [1, 2], [3]]) == [2, 2, 1]
    assert loader.batch_calls == 1


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_bad_max_batch_size(size: object) -> None:
    with pytest.raises(FederationConfigurationError, match="max_batch_size"):
        DataLoader(Source(), max_batch_size=size)  # type: ignore[arg-type]


def test_batch_load_must_be_callable() -> None:
    with pytest.raises(FederationConfigurationError, match="batch_load"):
        DataLoader("nope")  # type: ignore[arg-type]


class LoaderMachine(RuleBasedStateMachine):
    """Stateful: a loader's answers always equal the source's, whatever the mix of loads, "
    "primes and clears."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.source = Source()
        self.loader: DataLoader[int, int] = DataLoader(self.source, max_batch_size=3)
        self.primed: dict[int, int] = {}
        self.cached: set[int] = set()

    @initialize()
    def start(self) -> None:
        self.loop.run_until_complete(asyncio.sleep(0))

    @rule(keys=st.lists(st.integers(0, 6), min_size=1, max_size=8))
    def load(self, keys: list[int]) -> None:
        before = sum(len(c) for c in self.source.calls)
        values = self.loop.run_until_complete(self.loader.load_many(keys))
        assert values == [self.primed.get(k, k * 10) for k in keys]
        asked = sum(len(c) for c in self.source.calls) - before
        assert asked == len(set(keys) - self.cached)
        self.cached |= set(keys)

    @rule(key=st.integers(0, 6), value=st.integers())
    def prime(self, key: int, value: int) -> None:
        async def go() -> None:
            self.loader.prime(key, value)

        self.loop.run_until_complete(go())
        if key not in self.cached:
            self.primed[key] = value
            self.cached.add(key)

    @rule(key=st.integers(0, 6))
    def clear(self, key: int) -> None:
        self.loader.clear(key)
        self.cached.discard(key)
        self.primed.pop(key, None)

    @invariant()
    def batches_within_limit(self) -> None:
        assert all(len(c) <= 3 for c in self.source.calls)

    def teardown(self) -> None:
        self.loop.close()


def test_loader_state_machine() -> None:
    run_state_machine_as_test(LoaderMachine)
