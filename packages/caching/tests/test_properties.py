"""Hypothesis properties of buttress-caching, and a stateful test of MemoryCache against a model."""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from buttress.caching import InvalidKeyError, MemoryCache, RedisCache, cached, xfetch_should_refresh
from buttress.caching._entry import Entry
from buttress.caching._held import COPY, DECODE, SHARE, plan
from buttress.caching._validation import check_key
from buttress.core import MISSING
from buttress.testing import FakeClock

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# A valid key: non-empty, valid UTF-8 (codec="utf-8": characters() alone draws lone surrogates, which the
# explore pass found with seed 41987664), no NUL, at most 1024 bytes.
keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30).filter(
    lambda k: len(k.encode("utf-8")) <= 1024
)
positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)


@pytest.mark.parametrize("key", ["\ud800", "a\udfffb"])
async def test_a_key_with_a_lone_surrogate_is_refused(key: str) -> None:
    """The explore pass's shrunk example (key '\\ud800'): such a key is refused, never stored."""
    cache = MemoryCache[object]()
    with pytest.raises(InvalidKeyError):
        await cache.set(key, 1)


@given(key=keys, value=json_values)
async def test_memory_round_trip(key: str, value: object) -> None:
    """Property: round-trip — get(k) after set(k, v) is v, for any key and value."""
    cache = MemoryCache[object]()
    await cache.set(key, value)
    assert await cache.get(key) == value


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(key=keys, value=json_values)
async def test_redis_round_trip(redis_url: str, redis_prefix: str, key: str, value: object) -> None:
    """Property: round-trip through real Redis and the default JSON serializer."""
    cache = RedisCache[object].from_url(redis_url, prefix=redis_prefix)
    try:
        await cache.set(key, value, ttl=60)
        assert await cache.get(key) == value
    finally:
        await cache.aclose()


@given(ttl=positive, elapsed=st.floats(min_value=0, max_value=2e6, allow_nan=False))
async def test_ttl_expiry_on_a_fake_clock(ttl: float, elapsed: float) -> None:
    """Property: TTL expiry — without jitter a value is present exactly while less than ttl has elapsed."""
    clock = FakeClock()
    cache = MemoryCache[str](clock=clock, jitter=None)
    await cache.set("k", "v", ttl=ttl)
    clock.advance(elapsed)
    start = 0.0
    expected_live = start + elapsed < start + ttl
    assert (await cache.get("k") == "v") is expected_live


@given(
    ttl=positive,
    band=st.tuples(st.floats(0, 0.99), st.floats(0, 0.99)).map(sorted).map(tuple),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_jittered_ttl_stays_in_the_band(ttl: float, band: tuple[float, float], draw: float) -> None:
    """Property: jitter — every jittered TTL lies in [ttl*(1-high), ttl*(1-low)]."""
    low, high = band
    cache = MemoryCache[int](jitter=(low, high), rng=lambda: draw)
    jittered = cache.jittered(ttl)
    assert ttl * (1 - high) - 1e-9 * ttl <= jittered <= ttl * (1 - low) + 1e-9 * ttl


@given(
    expires_at=st.floats(-1e6, 1e6),
    before=st.floats(0, 1e5),
    delta=st.floats(1e-6, 100),
    beta=st.floats(1e-3, 10),
    u=st.floats(min_value=1e-300, max_value=1.0),
)
def test_xfetch_window(expires_at: float, before: float, delta: float, beta: float, u: float) -> None:
    """Property: XFetch never refreshes before the delta*beta*(-ln u)-scaled window, and always by expiry."""
    window = delta * beta * -math.log(u)
    now = expires_at - before
    decision = xfetch_should_refresh(now=now, expires_at=expires_at, delta=delta, beta=beta, u=u)
    if before == 0:
        assert decision, "at expiry a refresh always happens"
    if before > window * (1 + 1e-9) + 1e-9:
        assert not decision, "outside the window no refresh happens"
    if before < window * (1 - 1e-9) - 1e-9:
        assert decision, "inside the window the draw decides for a refresh"


# The largest u a float can be below 1: -ln(1 - u) at its largest, 53 ln 2.
_LAST_U = 1.0 - 2.0**-53


@given(
    now=st.one_of(st.floats(0, 1e4), st.floats(1.6e9, 2e9)),
    gap=st.one_of(st.floats(0, 1e4), st.integers(0, 64)),
    delta=st.one_of(st.floats(1e-12, 100), st.just(0.0)),
    beta=st.one_of(st.floats(1e-3, 10), st.just(0.0)),
    u=st.one_of(st.floats(0, 1, exclude_max=True), st.just(_LAST_U), st.just(0.0)),
)
def test_xfetch_draws_only_where_a_draw_could_refresh(
    now: float, gap: float, delta: float, beta: float, u: float
) -> None:
    """Property: a hit decides as a draw of ``u`` always would, and draws nothing where no u refreshes.

    ``gap`` is the time to expiry in seconds, or (an int) in steps of one float past ``now``, where
    rounding decides.
    """
    expires_at = now + gap if isinstance(gap, float) else now
    if isinstance(gap, int):
        for _ in range(gap):
            expires_at = math.nextafter(expires_at, math.inf)
    draws: list[float] = []

    def rng() -> float:
        draws.append(u)
        return u

    cache = MemoryCache[int](xfetch_beta=beta, rng=rng)
    decided = cache._early(Entry(0, expires_at, None, delta), now)
    if beta == 0.0 or delta == 0.0:
        assert not decided
        assert not draws
        return
    assert decided == (now - delta * beta * math.log(1.0 - u) >= expires_at)
    if not draws:
        assert not now - delta * beta * math.log(1.0 - _LAST_U) >= expires_at, "a draw could have refreshed"


@given(calls=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b"])), min_size=1, max_size=30))
async def test_decorator_idempotence(calls: list[tuple[int, str]]) -> None:
    """Property: decorator idempotence — a cached function returns what the function returns, and runs
    once per distinct argument list, however the arguments are spelled."""
    cache = MemoryCache[str]()
    ran: list[tuple[int, str]] = []

    @cached(cache, ttl=60)
    async def describe(n: int, tag: str = "a") -> str:
        ran.append((n, tag))
        return f"{n}-{tag}"

    for n, tag in calls:
        by_position = await describe(n, tag)
        by_keyword = await describe(n=n, tag=tag)
        assert by_position == by_keyword == f"{n}-{tag}"
    assert sorted(ran) == sorted(set(calls))


class MemoryCacheMachine(RuleBasedStateMachine):
    """Stateful test: MemoryCache behaves like an LRU dict with deadlines, whatever the operations."""

    MAX_SIZE = 4

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.cache = MemoryCache[int](max_size=self.MAX_SIZE, clock=self.clock, jitter=None)
        self.model: OrderedDict[str, tuple[int, float | None]] = OrderedDict()
        self.evictions = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    def _expired(self, key: str) -> bool:
        _, deadline = self.model[key]
        return deadline is not None and self.clock.monotonic() >= deadline

    @rule(key=st.sampled_from("abcdef"), value=st.integers(), ttl=st.none() | st.integers(1, 20))
    def set(self, key: str, value: int, ttl: int | None) -> None:
        self.run(self.cache.set(key, value, ttl=ttl))
        self.model[key] = (value, None if ttl is None else self.clock.monotonic() + ttl)
        self.model.move_to_end(key)
        while len(self.model) > self.MAX_SIZE:
            self.model.popitem(last=False)
            self.evictions += 1

    @rule(key=st.sampled_from("abcdef"))
    def get(self, key: str) -> None:
        got = self.run(self.cache.get(key))
        if key not in self.model:
            assert got is MISSING
        elif self._expired(key):
            assert got is MISSING
            del self.model[key]
        else:
            assert got == self.model[key][0]
            self.model.move_to_end(key)

    @rule(key=st.sampled_from("abcdef"))
    def delete(self, key: str) -> None:
        live = key in self.model and not self._expired(key)
        assert self.run(self.cache.delete(key)) is live
        self.model.pop(key, None)

    @rule(seconds=st.integers(0, 15))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def tag_free_pattern_delete(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        self.run(self.cache.delete_pattern(key))
        del self.model[key]

    @invariant()
    def bounded_and_counted(self) -> None:
        assert len(self.cache) <= self.MAX_SIZE
        assert self.cache.stats.evictions == self.evictions
        assert set(self.cache.storage._items) == set(self.model)  # type: ignore[attr-defined]


TestMemoryCacheMachine = MemoryCacheMachine.TestCase
TestMemoryCacheMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


@pytest.mark.parametrize("value", [0, "", [], {}, False, None])
async def test_falsy_values_are_hits(value: object) -> None:
    cache = MemoryCache[object]()
    await cache.set("k", value)
    assert await cache.get("k") is not MISSING


any_text = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]), st.just("\x00")), max_size=80)


@given(key=any_text, limit=st.integers(1, 160))
def test_key_validity(key: str, limit: int) -> None:
    """Property: a key is accepted exactly when it is non-empty, valid UTF-8, NUL-free and fits the limit."""
    try:
        valid = bool(key) and "\x00" not in key and len(key.encode("utf-8")) <= limit
    except UnicodeEncodeError:
        valid = False  # a lone surrogate: no backend could store it alike
    try:
        check_key(key, limit)
    except InvalidKeyError:
        assert not valid
    else:
        assert valid


# Trees a serializer may decode to: JSON's and msgpack's shapes, plus tuples, sets and frozensets.
_hashable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
decoded_trees = st.recursive(
    _hashable,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_hashable, inner, max_size=4)
        | st.tuples(inner, inner)
        | st.sets(_hashable, max_size=3)
    ),
    max_leaves=16,
)


def _containers(value: object) -> list[object]:
    """Every mutable container inside ``value`` (itself included)."""
    found: list[object] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found += _containers(item)
    elif isinstance(value, list | set):
        found.append(value)
        if isinstance(value, list):
            for item in value:
                found += _containers(item)
    elif isinstance(value, tuple):
        for item in value:
            found += _containers(item)
    return found


def _same_types(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return True  # an atom, or a set or frozenset of immutables (the copy keeps the members)


@given(decoded_trees)
def test_an_l1_copy_is_equal_and_shares_no_mutable_container(value: object) -> None:
    """Property: what `TieredCache` hands out under ``l1_values="copy"`` equals the kept value, has its
    types, and shares no mutable container with it (so a caller's mutation never reaches the next)."""
    how, copier = plan(value)
    assert how in {SHARE, COPY}  # every tree of these types is shared or copied, never decoded each hit
    if how is SHARE:
        assert not _containers(value)
        return
    assert copier is not None
    copy = copier(value)
    assert copy == value
    assert _same_types(copy, value)  # a list stays a list, a tuple a tuple, all the way down
    originals = {id(c) for c in _containers(value)}
    assert originals
    assert not originals & {id(c) for c in _containers(copy)}


def test_an_aliased_or_foreign_value_is_decoded_on_every_hit() -> None:
    shared: list[int] = [1]
    cycle: list[object] = []
    cycle.append(cycle)
    deep: list[object] = []
    inner = deep
    for _ in range(100):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    for value in (
        [shared, shared],
        cycle,
        deep,
        {"a": object()},
        [bytearray(b"x")],
        frozenset({(1, object)}),
    ):
        assert plan(value) == (DECODE, None)
