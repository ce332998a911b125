"""@cached keys come from the arguments' values, in a stable type-tagged encoding, never from ``repr``.

A key the arguments of two different calls share returns one call's value to the other; so keys are
injective over the supported types, the same whatever a dict's or set's insertion order, and the
same in every process. What cannot be encoded faithfully is refused with `CachingTypeError`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import json
import math
import os
import pickle
import subprocess
import sys
import uuid
import zoneinfo
from collections import OrderedDict, namedtuple
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.caching import CachingTypeError, MemoryCache, cached
from buttress.caching._keys import MAX_ARGS_CHARS

# --- the defect: values whose repr hides what makes them different --------------------------------


@dataclasses.dataclass(frozen=True)
class Query:
    """A dataclass whose ``tenant`` is left out of its repr: the repr-based keys of old collided."""

    text: str
    tenant: str = dataclasses.field(repr=False)


class Color(enum.Enum):
    RED = 1
    GREEN = "1"


class Level(enum.IntEnum):
    LOW = 1


class Pair(NamedTuple):
    left: int
    right: int


PlainPair = namedtuple("PlainPair", "left right")  # the untyped kind, on purpose


@pytest.fixture
def cache() -> MemoryCache[Any]:
    return MemoryCache[Any](jitter=None)


async def test_arguments_whose_repr_hides_a_field_get_their_own_keys(cache: MemoryCache[Any]) -> None:
    calls: list[Query] = []

    @cached(cache)
    async def search(query: Query) -> str:
        calls.append(query)
        return f"results of {query.tenant}"

    a, b = Query("shoes", tenant="acme"), Query("shoes", tenant="globex")
    assert repr(a) == repr(b)

    assert await search(a) == "results of acme"
    assert await search(b) == "results of globex"  # the old key, from repr, returned acme's results
    assert await search(a) == "results of acme"
    assert calls == [a, b]
    assert search.key(a) != search.key(b)


async def test_an_object_with_an_uninformative_repr_is_refused_not_collided(cache: MemoryCache[Any]) -> None:
    class Truncated:
        def __init__(self, payload: list[int]) -> None:
            self.payload = payload

        def __repr__(self) -> str:
            return "Truncated([...])"  # like numpy's or reprlib's elided reprs

    calls = 0

    @cached(cache)
    async def total(data: Truncated) -> int:
        nonlocal calls
        calls += 1
        return sum(data.payload)

    with pytest.raises(CachingTypeError) as info:
        await total(Truncated([1, 2]))
    assert isinstance(info.value, TypeError)
    assert info.value.parameter == "data"
    assert "Truncated" in str(info.value)
    assert "key=" in str(info.value)
    assert calls == 0
    assert len(cache) == 0


async def test_an_unsupported_value_deep_inside_an_argument_is_named_by_its_path(
    cache: MemoryCache[Any],
) -> None:
    @cached(cache)
    async def f(options: dict[str, Any]) -> int:
        return 1

    with pytest.raises(CachingTypeError, match=r"options\['nested'\]\[1\]") as info:
        await f({"nested": [1, object()]})
    assert info.value.parameter == "options['nested'][1]"


# --- what distinct means --------------------------------------------------------------------------


DISTINCT = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    0.0,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    1 + 0j,
    "1",
    "",
    b"1",
    bytearray(b"1"),
    (1,),
    [1],
    {1},
    frozenset({1}),
    {1: 1},
    {"1": 1},
    (),
    [],
    set(),
    frozenset(),
    {},
    Decimal("1"),
    Decimal("1.0"),
    Decimal("-0"),
    Decimal("NaN"),
    Fraction(1, 1),
    Color.RED,
    Color.GREEN,
    Level.LOW,
    Pair(1, 2),
    PlainPair(1, 2),
    (1, 2),
    uuid.UUID(int=1),
    date(2024, 3, 31),
    datetime(2024, 3, 31, 1, 0),
    datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
    datetime(2024, 3, 31, 1, 0, tzinfo=timezone(timedelta(0), "Z")),
    datetime(2024, 3, 31, 1, 0, tzinfo=zoneinfo.ZoneInfo("Europe/London")),
    datetime(2024, 3, 31, 1, 0, fold=1),
    time(1, 0),
    timedelta(seconds=1),
    Path("a"),
    PurePosixPath("a"),
    Query("a", "b"),
    10**1000,
    -(10**1000),
    "s1:1",
    ("a", "b"),
    ("a,s1:b",),
]


def test_values_equal_in_python_but_of_different_types_get_different_keys() -> None:
    """1, 1.0, True, Decimal(1), "1" and b"1" are different arguments; so are -0.0 and 0.0."""

    async def f(x: object) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)
    keys = [keyed.key(value) for value in DISTINCT]
    duplicates = {key: [v for v, k in zip(DISTINCT, keys, strict=True) if k == key] for key in keys}
    assert {k: v for k, v in duplicates.items() if len(v) > 1} == {}


def test_nan_gets_one_key_and_huge_integers_are_encoded() -> None:
    async def f(x: object) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)
    assert keyed.key(math.nan) == keyed.key(float("-nan")) == keyed.key(-math.nan)
    assert keyed.key(10**5000) != keyed.key(10**5000 + 1)


def test_positional_keyword_and_default_arguments_share_a_key() -> None:
    async def f(a: int, b: str = "x", *, c: float = 1.5) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)
    assert keyed.key(1) == keyed.key(a=1) == keyed.key(1, "x") == keyed.key(1, b="x", c=1.5)
    assert keyed.key(1, c=1.0) != keyed.key(1)


def test_var_arguments_cannot_imitate_named_ones() -> None:
    async def f(a: object, *rest: object, **options: object) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)
    keys = {
        keyed.key("x", "y"),
        keyed.key(("x", "y")),
        keyed.key("x", rest="y"),
        keyed.key("x", "rest=y"),
        keyed.key("x,rest=(s1:y)"),
        keyed.key("x", options={"y": 1}),
        keyed.key("x", y=1),
    }
    assert len(keys) == 7


def test_unsupported_types_are_refused() -> None:
    async def f(x: object) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)

    class MyStr(str):
        __slots__ = ()

    class Tz(tzinfo):
        def utcoffset(self, when: datetime | None) -> timedelta:
            return timedelta(0)

    utc_file = Path("/usr/share/zoneinfo/UTC")
    if utc_file.exists():
        with utc_file.open("rb") as tzif:
            keyless: object = zoneinfo.ZoneInfo.from_file(tzif)  # no key: no stable identity
    else:
        keyless = object()

    refused: list[object] = [
        object(),
        MyStr("a"),
        OrderedDict(a=1),
        lambda: None,
        f,
        type,
        datetime(2024, 1, 1, tzinfo=Tz()),
        datetime(2024, 1, 1, tzinfo=keyless),  # type: ignore[arg-type]
        [1, [2, {3: object()}]],
    ]
    for value in refused:
        with pytest.raises(CachingTypeError):
            keyed.key(value)


def test_a_container_nested_too_deep_or_holding_itself_is_refused() -> None:
    async def f(x: object) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)
    loop: list[object] = []
    loop.append(loop)
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    for value in (loop, deep):
        with pytest.raises(CachingTypeError, match="nested deeper"):
            keyed.key(value)
    nested: object = 1
    for _ in range(60):
        nested = [nested]
    keyed.key(nested)  # 60 levels are fine


def test_pydantic_models_are_keyed_by_fields_extras_and_private_attributes() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        model_config = pydantic.ConfigDict(extra="allow")
        name: str
        tenant: str = pydantic.Field(repr=False)
        _hidden: int = pydantic.PrivateAttr(default=0)

    async def f(x: object) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)
    a, b = Model(name="n", tenant="1"), Model(name="n", tenant="2")
    assert repr(a) == repr(b)
    assert keyed.key(a) != keyed.key(b)
    c = Model(name="n", tenant="1")
    c._hidden = 5
    assert keyed.key(a) != keyed.key(c)
    assert keyed.key(a) != keyed.key(Model(name="n", tenant="1", extra_field=1))
    assert keyed.key(a) == keyed.key(Model(name="n", tenant="1"))


def test_long_or_unprintable_arguments_become_a_digest_every_backend_can_store() -> None:
    async def f(x: object) -> None: ...

    keyed = cached(MemoryCache[Any](), namespace="k")(f)
    for value in ("x" * 500, "\ud800", "a\x00b", "line\r\nbreak", "\u00a0"):
        key = keyed.key(value)
        assert key.startswith("k:sha256:")
        assert len(key) == len("k:sha256:") + 64
    assert keyed.key("plain") == "k:x=s5:plain"
    assert len(keyed.key("y" * (MAX_ARGS_CHARS - 10))) < MAX_ARGS_CHARS + 10


async def test_a_key_from_hostile_text_works_on_redis(redis_url: str, redis_prefix: str) -> None:
    from buttress.caching import RedisCache  # noqa: PLC0415 - needs the redis extra

    cache = RedisCache[Any].from_url(redis_url, prefix=redis_prefix)
    try:

        @cached(cache)
        async def echo(text: str) -> str:
            return text.encode("utf-8", "surrogatepass").hex()  # JSON cannot hold the text itself

        for text in ("\ud800", "a\x00b", "\r\n", "\U0010ffff"):
            expected = text.encode("utf-8", "surrogatepass").hex()
            assert await echo(text) == expected
            assert await echo(text) == expected
        assert cache.stats.hits == 4
        assert cache.stats.errors == 0
    finally:
        await cache.aclose()


# --- properties -----------------------------------------------------------------------------------------

any_text = st.text(st.one_of(st.characters(), st.sampled_from("s:,()[]{}<>@=\x00")), max_size=6)
zones = st.one_of(
    st.none(),
    st.just(UTC),
    st.sampled_from([timezone(timedelta(hours=1)), timezone(timedelta(hours=1), "CET")]),
    st.sampled_from([zoneinfo.ZoneInfo("Europe/Berlin"), zoneinfo.ZoneInfo("America/New_York")]),
)
hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(),
    st.sampled_from([10**700, -(10**700)]),
    st.floats(),
    st.sampled_from([0.0, -0.0, 1.0]),
    st.complex_numbers(max_magnitude=10),
    any_text,
    st.binary(max_size=4),
    st.uuids(),
    st.datetimes(timezones=zones),
    st.dates(),
    st.times(timezones=zones),
    st.timedeltas(),
    st.decimals(places=None).filter(lambda d: not d.is_snan()),
    st.fractions(max_denominator=5),
    st.sampled_from([Color.RED, Color.GREEN, Level.LOW]),
    st.builds(Pair, st.integers(0, 2), st.integers(0, 2)),
    st.builds(PlainPair, st.integers(0, 2), st.integers(0, 2)),
    st.sampled_from([PurePosixPath("a"), PurePosixPath("a/b"), Path("a")]),
    st.builds(Query, st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"])),
)
supported = st.recursive(
    hashable_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(hashable_scalars, inner, max_size=3),
        st.frozensets(hashable_scalars, max_size=3),
        st.sets(hashable_scalars, max_size=3),
        st.binary(max_size=3).map(bytearray),
    ),
    max_leaves=8,
)


def canon(value: object) -> object:
    """The test's own notion of "the same value": equal type and equal content, as the docs define it."""
    kind = type(value)
    if kind is float:
        return ("float", "nan" if math.isnan(value) else value.hex())  # type: ignore[arg-type]
    if kind is complex:
        return ("complex", canon(value.real), canon(value.imag))  # type: ignore[attr-defined]
    if kind in (list, tuple):
        return (kind.__name__, tuple(canon(v) for v in value))  # type: ignore[attr-defined]
    if kind is dict:
        return ("dict", frozenset((canon(k), canon(v)) for k, v in value.items()))  # type: ignore[attr-defined]
    if kind in (set, frozenset):
        return (kind.__name__, frozenset(canon(v) for v in value))  # type: ignore[attr-defined]
    if kind is Decimal:
        return ("decimal", str(value))
    if kind is bytearray:
        return ("bytearray", bytes(value))  # type: ignore[arg-type]
    if kind in (datetime, time):
        zone = value.tzinfo  # type: ignore[attr-defined]
        zone_id = getattr(zone, "key", None) or (zone.utcoffset(None), zone.tzname(None)) if zone else None
        return (kind.__name__, value.isoformat(), value.fold, type(zone).__name__, zone_id)  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(value) or isinstance(value, tuple):
        return (
            kind.__qualname__,
            canon(dataclasses.astuple(value) if dataclasses.is_dataclass(value) else tuple(value)),
        )  # type: ignore[arg-type]
    if isinstance(value, enum.Enum):
        return (kind.__qualname__, value.name)
    if isinstance(value, PurePosixPath):
        return (kind.__qualname__, str(value))
    return (kind.__name__, value)


def _key_of() -> Any:
    async def f(x: object) -> None: ...

    return cached(MemoryCache[Any](), namespace="k")(f).key


@given(st.lists(supported, max_size=10))
def test_keys_are_injective_over_the_supported_types(values: list[object]) -> None:
    """Property: two arguments share a key exactly when they are the same typed value."""
    key = _key_of()
    for a in values:
        for b in values:
            assert (key(a) == key(b)) == (canon(a) == canon(b)), (a, b)


@given(
    st.lists(st.tuples(hashable_scalars, supported), max_size=6, unique_by=lambda kv: canon(kv[0])),
    st.randoms(),
)
def test_dict_keys_do_not_depend_on_insertion_order(pairs: list[tuple[Any, Any]], random: Any) -> None:
    """Property: equal dicts built in any insertion order give one key."""
    pairs = [(k, v) for k, v in pairs if sum(1 for other, _ in pairs if other == k) == 1]
    shuffled = list(pairs)
    random.shuffle(shuffled)
    key = _key_of()
    assert key(dict(pairs)) == key(dict(shuffled)) == key(dict(reversed(pairs)))


@given(st.lists(hashable_scalars, max_size=8, unique=True), st.randoms())
def test_set_keys_do_not_depend_on_insertion_order(items: list[Any], random: Any) -> None:
    """Property: sets and frozensets of the same items, inserted in any order, give one key."""
    items = [v for v in items if sum(1 for other in items if other == v) <= 1]
    shuffled = list(items)
    random.shuffle(shuffled)
    key = _key_of()
    assert key(set(items)) == key(set(shuffled))
    assert key(frozenset(items)) == key(frozenset(reversed(items)))


# Builtin types only: the other process unpickles them without this test module.
portable = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        any_text,
        st.binary(max_size=4),
        st.uuids(),
        st.datetimes(timezones=zones),
        st.decimals(places=None),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(any_text, inner, max_size=4),
        st.frozensets(any_text, max_size=6),
        st.sets(st.one_of(any_text, st.integers()), max_size=6),
    ),
    max_leaves=12,
)

_OTHER_PROCESS = """
import asyncio, json, pickle, sys
from buttress.caching import MemoryCache, cached

async def f(x): ...

key = cached(MemoryCache(), namespace="k")(f).key
values = pickle.loads(sys.stdin.buffer.read())
json.dump([key(v) for v in values], sys.stdout)
"""


@settings(max_examples=5)
@given(st.lists(portable, min_size=1, max_size=40))
def test_keys_are_the_same_in_another_process(values: list[object]) -> None:
    """Property: keys do not depend on the process (hash randomization, set iteration order)."""
    key = _key_of()
    here = [key(v) for v in values]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _OTHER_PROCESS],
            input=pickle.dumps(values),
            capture_output=True,
            env=env,
            check=True,
        )
        assert json.loads(done.stdout) == here


def test_keys_are_pinned() -> None:
    """The encoding is part of the API: these keys must not change without a CHANGELOG entry."""
    key = _key_of()
    assert key(None) == "k:x=N"
    assert key(True) == "k:x=T"
    assert key(-12) == "k:x=i-12"
    assert key(1.5) == "k:x=f0x1.8000000000000p+0"
    assert key("ab") == "k:x=s2:ab"
    assert key(b"\x01") == "k:x=b01"
    assert key((1, [2])) == "k:x=(i1,[i2])"
    assert key({"b": 1, "a": 2}) == "k:x={s1:a:i2,s1:b:i1}"
    assert key({2, 1}) == "k:x=<i1,i2>"
    assert key(uuid.UUID(int=1)) == "k:x=@4:uuid" + "s32:" + "0" * 31 + "1"
    assert key(Color.RED) == f"k:x=@{len('enum:' + __name__ + '.Color')}:enum:{__name__}.Color" + "i1"


async def test_concurrent_calls_with_distinct_hidden_fields_never_share_a_result(
    cache: MemoryCache[Any],
) -> None:
    @cached(cache)
    async def echo(query: Query) -> str:
        await asyncio.sleep(0)
        return query.tenant

    tenants = [f"t{i}" for i in range(20)]
    results = await asyncio.gather(*(echo(Query("same", t)) for t in tenants * 3))
    assert results == tenants * 3


# --- the call's own key builder ----------------------------------------------------------------------

# Values aimed at the shortcuts of the builder a call uses (`positional_key`): ints and strs at
# the length where the arguments' part turns into a digest, lone surrogates, NUL and other
# unprintable text, huge ints, the types equal to an int (bool, IntEnum) and subclasses of str.
hostile = st.one_of(
    st.integers(),
    st.integers(-(10**200), 10**200),
    st.sampled_from([10**185, -(10**185), 10**190 - 1, -(10**190) + 1, 10**600 - 1, 10**600, -(10**700)]),
    st.booleans(),
    st.sampled_from([Level.LOW, 1.0, -0.0, float("nan"), Decimal("1.0"), b"1", None]),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=8),
    st.text(st.sampled_from("ab\x00\x7f\ud800\u200b\n é"), min_size=150, max_size=230),
    st.text(max_size=20).map(type("Text", (str,), {})),
    supported,
)
# A one-parameter function's label shortens the room its argument has before the digest.
parameter_names = st.sampled_from(["x", "user_id", "p" * 120, "q" * 197, "r" * 199])


def _builders(names: tuple[str, ...]) -> tuple[Any, Any]:
    """The key a call builds (`positional_key`, as the decorated function holds it) and `key`."""
    namespace = "ns"
    parameters = ", ".join(names)
    scope: dict[str, Any] = {}
    exec(f"async def f({parameters}): return None", scope)  # noqa: S102 - a signature of these names
    wrapped: Any = cached(MemoryCache[Any](), namespace=namespace)(scope["f"])
    keys = wrapped.key.__self__  # the object that builds keys (`_Caching`)
    from buttress.caching._keys import positional_key  # noqa: PLC0415 - the private builder itself

    return positional_key(f"{namespace}:", keys._names), keys


def _bound(keys: Any, *args: object) -> str:
    return f"ns:{keys._bound_key(args, {})}"


def _outcome(build: Any, *args: object) -> str | type[Exception]:
    try:
        return str(build(*args))
    except CachingTypeError:
        return CachingTypeError


@given(parameter_names, st.lists(hostile, min_size=1, max_size=3))
def test_the_call_builds_the_key_that_binding_the_signature_builds(name: str, values: list[object]) -> None:
    """Property: the key a call builds equals the bound-argument key, byte for byte, or both refuse.

    For one and two parameters, hostile values included, and on a second call (the builder
    remembers recent keys) as on the first.
    """
    # The ints around the length at which this name's arguments' part becomes a digest.
    room = MAX_ARGS_CHARS - len(name) - 3
    edges = [
        sign * (10**digits + step)
        for digits in (room - 1, room, room + 1)
        for step in (-1, 0)
        for sign in (1, -1)
    ]
    cases = [((name,), (value,)) for value in edges]
    cases += [((name,), (values[0],)), ((name, "other"), (values[0], values[-1]))]
    for names, args in cases:
        build, keys = _builders(names)
        bound = _outcome(functools.partial(_bound, keys), *args)
        assert _outcome(build, args) == bound, (names, args)
        assert _outcome(build, args) == bound, (names, args)  # remembered
        assert _outcome(keys.key, *args) == bound


def test_the_call_remembers_a_bounded_number_of_keys() -> None:
    """The builder's memory of recent keys never exceeds 256 per function, and stays correct past it."""
    import inspect  # noqa: PLC0415

    build, _ = _builders(("x",))
    memo = inspect.getclosurevars(build).nonlocals["memo"]
    for i in range(1_000):
        assert build((i,)) == f"ns:x=i{i}"
        assert build((str(i),)) == f"ns:x=s{len(str(i))}:{i}"
        assert len(memo) <= 256
    assert build((True,)) == "ns:x=T"  # equal to 1, which the builder remembers: never mistaken for it
    assert build((1,)) == "ns:x=i1"


async def test_a_call_stores_its_value_under_the_key_that_key_returns(cache: MemoryCache[Any]) -> None:
    """What a call writes is found under ``f.key(...)`` (the call builds its key its own way)."""
    values = ["ab", "\ud800", "x" * 300, 7, True, 10**300, 1.0, Level.LOW]

    @cached(cache)
    async def f(x: object) -> str:
        return repr(x)

    for value in values:
        assert await f(value) == repr(value)
        assert await cache.get(f.key(value)) == repr(value)
        assert await f(value) == repr(value)  # a hit, under the same key
