"""FuzzingConfig: the rejection matrix (Property 19) and directory creation (Property 20)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.core import MAX_SECONDS, ConfigurationError
from buttress.fuzzing import FuzzingConfig, FuzzingConfigurationError, FuzzingError, FuzzingTypeError

sizes = st.integers(min_value=-5, max_value=10_000)


@given(min_size=sizes, max_size=sizes, iterations=st.one_of(st.none(), st.integers(-3, 10)))
def test_property_19_sizes_and_budget_are_validated(
    min_size: int, max_size: int, iterations: int | None
) -> None:
    """Property 19: Configuration Validation — accepted iff 0 <= min <= max, max >= 1, a budget."""
    valid = 0 <= min_size <= max_size and max_size >= 1 and iterations is not None and iterations >= 1
    kwargs: dict[str, Any] = {
        "min_input_size": min_size,
        "max_input_size": max_size,
        "max_iterations": iterations,
    }
    if valid:
        config = FuzzingConfig(**kwargs)
        assert config.min_input_size <= config.max_input_size
    else:
        with pytest.raises(FuzzingConfigurationError) as caught:
            FuzzingConfig(**kwargs)
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, ConfigurationError)
        assert caught.value.parameter in {"min_input_size", "max_input_size", "max_iterations"}


@given(value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10))
def test_property_19_times_must_be_positive_and_finite(value: float) -> None:
    """Property 19: max_time, timeout and progress_interval are finite seconds in (0, 100 years]."""
    for name in ("max_time", "timeout", "progress_interval"):
        kwargs: dict[str, Any] = {"max_iterations": 1, name: value}
        if 0 < value <= MAX_SECONDS:
            assert getattr(FuzzingConfig(**kwargs), name) == float(value)
        else:
            with pytest.raises(FuzzingConfigurationError, match=name):
                FuzzingConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "parameter"),
    [
        ({}, FuzzingConfigurationError, "max_iterations"),
        ({"max_iterations": True}, FuzzingTypeError, "max_iterations"),
        ({"max_iterations": 1.5}, FuzzingTypeError, "max_iterations"),
        ({"max_iterations": 1, "seed": "1"}, FuzzingTypeError, "seed"),
        ({"max_iterations": 1, "max_frames": 0}, FuzzingConfigurationError, "max_frames"),
        ({"max_iterations": 1, "max_mutations": 0}, FuzzingConfigurationError, "max_mutations"),
        ({"max_iterations": 1, "minimize_budget": -1}, FuzzingConfigurationError, "minimize_budget"),
        ({"max_iterations": 1, "dictionary": b"token"}, FuzzingTypeError, "dictionary"),
        ({"max_iterations": 1, "dictionary": [b""]}, FuzzingConfigurationError, "dictionary"),
        ({"max_iterations": 1, "dictionary": [1]}, FuzzingTypeError, "dictionary"),
        ({"max_iterations": 1, "expected_exceptions": [int]}, FuzzingTypeError, "expected_exceptions"),
        (
            {"max_iterations": 1, "expected_exceptions": [Exception]},
            FuzzingConfigurationError,
            "expected_exceptions",
        ),
        ({"max_iterations": 1, "line_numbers": 1}, FuzzingTypeError, "line_numbers"),
        ({"max_iterations": 1, "coverage": "yes"}, FuzzingTypeError, "coverage"),
        ({"max_iterations": 1, "scope": "myapp"}, FuzzingTypeError, "scope"),
        ({"max_iterations": 1, "skip_functions": [""]}, FuzzingConfigurationError, "skip_functions"),
        ({"max_iterations": 1, "monitoring_tool_id": 6}, FuzzingConfigurationError, "monitoring_tool_id"),
        ({"max_iterations": 1, "monitoring_tool_id": -1}, FuzzingConfigurationError, "monitoring_tool_id"),
        ({"max_iterations": 1, "clock": object()}, FuzzingTypeError, "clock"),
        ({"max_iterations": 1, "corpus_dir": 3}, FuzzingTypeError, "corpus_dir"),
    ],
)
def test_rejection_matrix(kwargs: dict[str, Any], error: type[FuzzingError], parameter: str) -> None:
    """Every bad argument is a typed error naming the argument."""
    with pytest.raises(error) as caught:
        FuzzingConfig(**kwargs)
    assert caught.value.parameter == parameter  # type: ignore[attr-defined]
    assert parameter in str(caught.value)


def test_accepted_values_are_normalised() -> None:
    """Tokens given as str become bytes (deduplicated); one exception class becomes a tuple."""
    config = FuzzingConfig(
        max_time=5,
        dictionary=["GET", b"GET", b"\x00\xff"],
        expected_exceptions=ValueError,  # type: ignore[arg-type]
        scope=[Path("src")],  # type: ignore[list-item]
    )
    assert config.max_time == 5.0
    assert config.dictionary == (b"GET", b"\x00\xff")
    assert config.expected_exceptions == (ValueError,)
    assert config.scope == ("src",)


names = st.lists(st.text("abcdefghij_-", min_size=1, max_size=8), min_size=1, max_size=4)


@settings(max_examples=40)  # each example creates and removes directories
@given(corpus=names, crashes=names)
def test_property_20_directories_are_created(corpus: list[str], crashes: list[str]) -> None:
    """Property 20: Directory Creation — missing corpus and crashes directories (nested) exist afterwards."""
    with tempfile.TemporaryDirectory() as root:
        corpus_dir = Path(root, "corpus", *corpus)
        crashes_dir = Path(root, "crashes", *crashes)
        config = FuzzingConfig(max_iterations=1, corpus_dir=corpus_dir, crashes_dir=str(crashes_dir))
        assert corpus_dir.is_dir()
        assert crashes_dir.is_dir()
        assert config.crashes_dir == crashes_dir
        FuzzingConfig(max_iterations=1, corpus_dir=corpus_dir, crashes_dir=crashes_dir)  # existing: fine


def test_a_file_where_a_directory_should_be_is_rejected(tmp_path: Path) -> None:
    """A path that exists as a file cannot be a corpus or crashes directory."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FuzzingConfigurationError, match=r"crashes_dir.*not a directory"):
        FuzzingConfig(max_iterations=1, crashes_dir=blocker)
    with pytest.raises(FuzzingConfigurationError, match=r"corpus_dir.*cannot be created"):
        FuzzingConfig(max_iterations=1, corpus_dir=blocker / "sub")
    assert blocker.read_text() == "x"
