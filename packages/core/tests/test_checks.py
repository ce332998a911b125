"""The shared argument checks: what they accept, and that everything else is the caller's typed error."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import (
    MAX_SECONDS,
    ArgumentTypeError,
    ButtressError,
    ConfigurationError,
    check_count,
    check_seconds,
    check_text,
)


class PoolConfigurationError(ConfigurationError):
    """A package's own configuration error, as each package defines one."""


class PoolTypeError(ArgumentTypeError):
    """A package's own type error."""


@given(
    st.floats(min_value=1e-300, max_value=MAX_SECONDS) | st.integers(min_value=1, max_value=int(MAX_SECONDS))
)
def test_check_seconds_accepts_finite_positive_durations(value: float) -> None:
    """Property: every finite duration above zero and up to 100 years comes back as a float."""
    assert check_seconds("timeout", value) == float(value)


@pytest.mark.parametrize(
    "value",
    [0, -1, -0.5, math.nan, math.inf, -math.inf, 10**400, -(10**400), MAX_SECONDS * 2, 1e308],
)
def test_check_seconds_refuses_out_of_range_values_with_the_callers_error(value: float) -> None:
    with pytest.raises(PoolConfigurationError) as info:
        check_seconds("timeout", value, error=PoolConfigurationError)
    assert info.value.parameter == "timeout"
    assert info.value.value is value
    assert "at most 3155760000 (100 years)" in str(info.value)


@pytest.mark.parametrize("value", ["5", b"5", None, True, False, 1j, [5]])
def test_check_seconds_refuses_what_is_not_a_number(value: object) -> None:
    with pytest.raises(PoolConfigurationError, match="must be a number of seconds"):
        check_seconds("timeout", value, error=PoolConfigurationError)


def test_check_seconds_accepts_zero_when_asked_and_normalizes_negative_zero() -> None:
    assert check_seconds("timeout", 0, allow_zero=True) == 0.0
    assert math.copysign(1.0, check_seconds("timeout", -0.0, allow_zero=True)) == 1.0
    with pytest.raises(ConfigurationError, match="above 0"):
        check_seconds("timeout", 0)
    with pytest.raises(ConfigurationError, match="at most 60"):
        check_seconds("timeout", 61, maximum=60)


@pytest.mark.parametrize("value", [0, -1, 101, 10**400, 2.0, "3", None, True])
def test_check_count_refuses_what_is_not_an_int_in_range(value: object) -> None:
    with pytest.raises(PoolConfigurationError):
        check_count("max_size", value, minimum=1, maximum=100, error=PoolConfigurationError)
    assert check_count("max_size", 100, minimum=1, maximum=100) == 100


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must not be empty"),
        ("a\x00b", "must not contain NUL"),
        ("x\ud800", "lone surrogate"),
        ("é" * 33, "at most 64 bytes in UTF-8, got 66"),
    ],
)
def test_check_text_refuses_what_a_backend_cannot_carry(value: str, reason: str) -> None:
    with pytest.raises(PoolConfigurationError, match=reason) as info:
        check_text("key", value, max_bytes=64, show_value=False, error=PoolConfigurationError)
    if value:
        assert value not in str(info.value)


def test_check_text_raises_the_type_error_given_for_a_non_str() -> None:
    with pytest.raises(PoolTypeError, match="key must be a str, got bytes"):
        check_text("key", b"k", error=PoolConfigurationError, type_error=PoolTypeError)
    with pytest.raises(PoolConfigurationError, match="must be a str, got int"):
        check_text("key", 5, error=PoolConfigurationError)
    assert check_text("key", "", allow_empty=True) == ""
    assert check_text("key", "ключ", max_bytes=8) == "ключ"


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_seconds("t", -1, error=ValueError),  # type: ignore[arg-type]
        lambda: check_seconds("t", 1, maximum="60"),  # type: ignore[arg-type]
        lambda: check_count("n", 1, minimum="0"),  # type: ignore[arg-type]
        lambda: check_text("k", "v", max_bytes="8"),  # type: ignore[arg-type]
        lambda: check_text("k", 5, type_error=TypeError),  # type: ignore[arg-type]
    ],
)
def test_a_bad_configuration_of_a_check_is_a_typed_error_too(call: object) -> None:
    with pytest.raises(ArgumentTypeError) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, ButtressError)
