"""`check_bound_when_made`, on backends written for it in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from buttress.testing import (
    MissingExtraError,
    TestingConfigurationError,
    TestingTypeError,
    check_bound_when_made,
    check_hostile,
)

_METRICS = """
from buttress.core import Telemetry

TELEMETRY = Telemetry("buttress.testing_bound_demo")
CALLS = TELEMETRY.counter("buttress.testing_bound_demo.calls")
DURATION = TELEMETRY.histogram("buttress.testing_bound_demo.duration")
EMPTY = Telemetry("buttress.testing_bound_empty")
"""

_BACKENDS = """
from bound_metrics import CALLS, TELEMETRY


class Binding:
    def __init__(self) -> None:
        TELEMETRY.bind()


class Lazy:
    def call(self) -> None:
        CALLS.add(1)
"""

WHERE = "bound_metrics:TELEMETRY"


@pytest.fixture(autouse=True)
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "bound_metrics.py").write_text(_METRICS)
    (tmp_path / "bound_backends.py").write_text(_BACKENDS)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def test_a_backend_that_binds_when_made_passes_with_what_it_made() -> None:
    made = check_bound_when_made(WHERE, "from bound_backends import Binding\nBinding()")
    assert made == ["buttress.testing_bound_demo.calls", "buttress.testing_bound_demo.duration"]


def test_a_backend_that_binds_on_first_use_fails_naming_what_was_left() -> None:
    with pytest.raises(AssertionError, match=r"made on first use.*testing_bound_demo\.calls"):
        check_bound_when_made(WHERE, "from bound_backends import Lazy\nLazy()")


def test_a_backend_that_measures_when_made_but_binds_nothing_fails() -> None:
    """One instrument made by a measurement is not every instrument made: the rest are named."""
    with pytest.raises(AssertionError, match=r"made: \['buttress\.testing_bound_demo\.duration'\]"):
        check_bound_when_made(WHERE, "from bound_backends import Lazy\nLazy().call()")


def test_making_nothing_fails() -> None:
    with pytest.raises(AssertionError, match="made no instrument"):
        check_bound_when_made("bound_metrics:EMPTY", "pass")


def test_a_make_that_raises_fails_with_its_traceback() -> None:
    with pytest.raises(AssertionError, match=r"(?s)failed.*ZeroDivisionError"):
        check_bound_when_made(WHERE, "1 / 0")


def test_a_make_that_ends_the_interpreter_fails() -> None:
    with pytest.raises(AssertionError, match="ended the interpreter"):
        check_bound_when_made(WHERE, "raise SystemExit(0)")


@pytest.mark.parametrize(
    "where",
    [
        "bound_metrics",
        "bound_metrics:",
        "bound_metrics:TELEMETRY.x",
        "no_such_module:T",
        "bound_metrics:CALLS",
    ],
)
def test_a_telemetry_that_is_not_module_name_of_a_telemetry_is_refused(where: str) -> None:
    with pytest.raises(TestingConfigurationError, match="telemetry"):
        check_bound_when_made(where, "pass")


def test_without_the_api_it_names_the_extra(modules: Path) -> None:
    absent = modules / "opentelemetry"
    absent.mkdir()
    (absent / "__init__.py").write_text("raise ImportError('not installed')\n")
    with pytest.raises(MissingExtraError, match="telemetry"):
        check_bound_when_made(WHERE, "pass")


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(TestingTypeError, match="make"):
        check_bound_when_made(WHERE, b"pass")  # type: ignore[arg-type]
    with pytest.raises(TestingConfigurationError, match="make"):
        check_bound_when_made(WHERE, "pass\x00")
    check_hostile(check_bound_when_made, WHERE, "pass", keep={"make"}, max_examples=20)
