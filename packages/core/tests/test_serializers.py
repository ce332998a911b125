"""JsonSerializer: round trips, and typed errors for what JSON cannot hold."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import ArgumentTypeError, ButtressError, JsonSerializer, SerializationError, Serializer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)


@given(json_values)
def test_round_trip(value: object) -> None:
    """Property: loads(dumps(value)) == value for every value made of JSON's types."""
    serializer = JsonSerializer[object]()
    assert serializer.loads(serializer.dumps(value)) == value


@given(st.dictionaries(st.text(max_size=5), st.integers(), max_size=8))
def test_sorted_keys_make_equal_values_equal_bytes(value: dict[str, int]) -> None:
    """Property: with sort_keys, the bytes depend only on the value, not on insertion order."""
    serializer = JsonSerializer[dict[str, int]](sort_keys=True)
    reordered = dict(reversed(list(value.items())))
    assert serializer.dumps(value) == serializer.dumps(reordered)


def test_is_a_serializer() -> None:
    assert isinstance(JsonSerializer(), Serializer)


def test_output_is_compact_utf8() -> None:
    assert JsonSerializer[object]().dumps({"a": [1, 2], "é": None}) == '{"a":[1,2],"é":null}'.encode()


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", math.nan, {"k": math.inf}])
def test_dumps_rejects_what_json_cannot_hold(value: object) -> None:
    with pytest.raises(SerializationError) as info:
        JsonSerializer[object]().dumps(value)
    error = info.value
    assert isinstance(error, ButtressError)
    assert isinstance(error, ValueError)
    assert error.operation == "dumps"
    assert error.type_name == type(value).__name__
    assert type(value).__name__ in str(error)


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"[1,]", b"nul"])
def test_loads_rejects_bad_bytes(data: bytes) -> None:
    with pytest.raises(SerializationError) as info:
        JsonSerializer[object]().loads(data)
    assert info.value.operation == "loads"
    assert info.value.format_name == "json"


def test_values_nested_past_the_recursion_limit_are_a_serialization_error() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(SerializationError) as info:
        JsonSerializer[object]().dumps(deep)
    assert info.value.operation == "dumps"
    with pytest.raises(SerializationError) as info:
        JsonSerializer[object]().loads(b"[" * 100_000 + b"]" * 100_000)
    assert info.value.operation == "loads"


@pytest.mark.parametrize("data", ["{}", None, 5, ["{}"]])
def test_loads_refuses_what_is_not_bytes(data: object) -> None:
    with pytest.raises(ArgumentTypeError, match="data must be bytes"):
        JsonSerializer[object]().loads(data)  # type: ignore[arg-type]


def test_loads_takes_any_bytes_like() -> None:
    assert JsonSerializer[object]().loads(bytearray(b"[1]")) == [1]
    assert JsonSerializer[object]().loads(memoryview(b"[2]")) == [2]


def test_sort_keys_must_be_a_bool() -> None:
    with pytest.raises(ArgumentTypeError, match="sort_keys must be a bool"):
        JsonSerializer(sort_keys="yes")  # type: ignore[arg-type]
