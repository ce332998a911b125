"""`HostileTargets`: a table of entry points, its test ids, and the guard that ``__all__`` is covered."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

import pytest

from buttress.core import ArgumentTypeError, ConfigurationError
from buttress.testing import (
    HostileTarget,
    HostileTargets,
    TestingConfigurationError,
    TestingTypeError,
    hostile_values,
)


def checked(key: str, ttl: float = 1.0) -> str:
    if not isinstance(key, str):
        raise ArgumentTypeError("key", "a str", key)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ArgumentTypeError("ttl", "a number", ttl)
    if not 0 < ttl <= 1e9:
        raise ConfigurationError("ttl", ttl, "must be a positive finite number")
    return key


def unchecked(key: str, ttl: float = 1.0) -> float:
    return float(ttl) + len(key)


class Store:
    """A public class of the fake package below."""

    def __init__(self, size: int = 1) -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise ArgumentTypeError("size", "an int", size)

    def get(self, key: str) -> str:
        return checked(key)

    def put(self, key: str, value: bytes) -> None:
        checked(key)

    def clear(self) -> None:
        return None

    @classmethod
    def named(cls, name: str) -> str:
        return checked(name)


class Colour(Enum):
    RED = "red"


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


class Empty:
    pass


def package(*names: str, **values: object) -> types.ModuleType:
    """A module named ``fake_package`` holding ``values``, with ``names`` as its ``__all__``."""
    module = types.ModuleType("fake_package")
    defaults: dict[str, object] = {
        "checked": checked,
        "Store": Store,
        "Colour": Colour,
        "Sink": Sink,
        "Empty": Empty,
        "LIMIT": 10,
        "type_alias": int | str,
    }
    for name in names:
        setattr(module, name, values.get(name, defaults.get(name)))
    module.__all__ = list(names)  # type: ignore[attr-defined]
    return module


# Store's methods count as methods of the fake package in the `methods=True` checks.
for _member in (Store, Colour, Empty):
    _member.__module__ = "fake_package"


# --- the table --------------------------------------------------------------------------------------

TABLE = HostileTargets()
TABLE.add(checked, "k", ttl=1.0)
TABLE.add(Store, size=1)
TABLE.add(Store().get, "k")
TABLE.add(Store.named, "n")
TABLE.add(lambda key: checked(key), "k")  # noqa: PLW0108 - the id of a lambda is shown
TABLE.add(lambda key: Store().get(key), "k", covers="Store.get")
TABLE.add(checked, "k", kwargs={"ttl": 2.0})


@TABLE.parametrize()
def test_each_target_runs_as_its_own_test(target: HostileTarget) -> None:
    target.check()


def test_ids_name_what_is_driven_and_are_unique() -> None:
    assert [target.id for target in TABLE] == [
        "checked",
        "Store",
        "Store.get",
        "Store.named",
        "lambda(key)",
        "Store.get-2",
        "checked-2",
    ]
    assert [target.covers for target in TABLE][3:6] == ["Store.named", None, "Store.get"]


def test_a_wrapper_covers_what_it_wraps() -> None:
    table = HostileTargets()

    @functools.wraps(Store().put)
    def healthy(*args: Any, **kwargs: Any) -> None:
        return None

    assert table.add(healthy, "k", b"v").covers == "Store.put"
    assert table.add(functools.partial(checked, "k")).covers == "checked"
    assert table.add(dict[str, int]).covers == "dict"


def test_an_untyped_error_fails_its_target() -> None:
    table = HostileTargets()
    target = table.add(unchecked, "k", ttl=1.0, max_examples=20)
    with pytest.raises(AssertionError, match="raised an untyped"):
        target.check()


def test_options_reach_the_helper_and_table_options_apply_to_every_target() -> None:
    table = HostileTargets(allowed=(TypeError,), keep=("key",), max_examples=5)
    target = table.add(unchecked, "k", ttl=1.0, allowed=(ValueError, OverflowError))
    assert target.allowed == (TypeError, ValueError, OverflowError)
    assert target.keep == frozenset({"key"})
    assert target.max_examples == 5
    assert table.add(checked, "k", ttl=1.0, max_examples=7, keep={"other"}).keep == {"key", "other"}
    table.check_all()


async def test_acheck_all_runs_on_the_test_loop() -> None:
    table = HostileTargets(max_examples=10)

    async def get(key: str) -> str:
        return checked(key)

    table.add(get, "k")
    table.add(checked, "k", values=hostile_values(relative_paths=False))
    await table.acheck_all()
    assert len(table) == 2


def test_a_target_added_after_parametrize_is_refused() -> None:
    table = HostileTargets()
    table.add(checked, "k")
    table.parametrize()
    with pytest.raises(TestingConfigurationError, match="after parametrize"):
        table.add(checked, "j")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda t: t.add(5), TestingTypeError),
        (lambda t: t.add(checked, "k", covers=5), TestingTypeError),
        (lambda t: t.add(checked, "k", covers=""), TestingTypeError),
        (lambda t: t.add(checked, "k", kwargs=[1]), TestingTypeError),
        (lambda t: t.add(checked, "k", keep="key"), TestingTypeError),
        (lambda t: t.add(checked, "k", allowed=[ValueError, 5]), TestingTypeError),
        (lambda t: t.add(checked, "k", values=[1]), TestingTypeError),
        (lambda t: t.add(checked, "k", max_examples=0), TestingConfigurationError),
        (lambda t: t.add(checked, "k", timeout=float("nan")), TestingConfigurationError),
        (lambda t: t.add(checked, "k", timeout="1"), TestingTypeError),
        (lambda t: t.parametrize(), TestingConfigurationError),
        (lambda t: t.parametrize("not a name"), TestingConfigurationError),
        (lambda t: t.drives(), TestingConfigurationError),
        (lambda t: t.drives(5), TestingTypeError),
        (lambda t: t.assert_covers("buttress.core"), TestingTypeError),
        (lambda t: t.assert_covers(types.ModuleType("no_all")), TestingTypeError),
        (lambda t: t.assert_covers(package(), exempt={"a": 1}), TestingTypeError),
    ],
)
def test_bad_arguments_are_typed_errors(
    call: Callable[[HostileTargets], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        call(HostileTargets())


# --- the coverage guard -----------------------------------------------------------------------------


def test_what_has_nothing_to_replace_needs_no_driving() -> None:
    """Constants, type aliases, Protocols and callables without parameters are covered as they are."""
    HostileTargets().assert_covers(package("LIMIT", "type_alias", "Sink", "Empty"))


def test_a_name_neither_driven_nor_exempt_fails() -> None:
    table = HostileTargets()
    table.add(checked, "k")
    with pytest.raises(AssertionError, match=r"Store: neither driven nor exempt"):
        table.assert_covers(package("checked", "Store", "LIMIT"))


def test_a_method_target_drives_its_class_and_drives_counts() -> None:
    table = HostileTargets()
    table.add(Store().get, "k")

    @table.drives("checked", "Colour")
    def test_elsewhere() -> None: ...

    table.assert_covers(package("checked", "Store", "Colour"))
    assert table.driven() == {"Store.get", "checked", "Colour"}


def test_a_name_given_to_drives_must_be_public() -> None:
    table = HostileTargets()
    table.add(checked, "k")

    @table.drives("Store.gett", "Gone")
    def test_elsewhere() -> None: ...

    with pytest.raises(AssertionError, match=r"Gone: named in drives\(\)") as raised:
        table.assert_covers(package("checked", "Store"), exempt={"Store": "why"})
    assert "Store.gett: named in drives()" in str(raised.value)


def test_an_exemption_needs_a_reason_and_a_name_that_needs_driving() -> None:
    table = HostileTargets()
    table.add(checked, "k")
    table.assert_covers(package("checked", "Store"), exempt={"Store": "built by the application only"})
    for exempt, problem in [
        ({"Store": " "}, "Store: exempt without a reason"),
        ({"Store": "why", "Gone": "removed"}, "Gone: exempt, but it is not a public name"),
        ({"Store": "why", "LIMIT": "a constant"}, "LIMIT: exempt, but it is not a public name"),
        ({"Store": "why", "checked": "why"}, "checked: exempt, but driven"),
    ]:
        with pytest.raises(AssertionError, match=problem):
            table.assert_covers(package("checked", "Store", "LIMIT"), exempt=exempt)


def test_methods_asks_for_every_public_method_with_parameters() -> None:
    table = HostileTargets()
    table.add(Store, size=1)
    table.add(Store().get, "k")
    module = package("Store", "Colour")
    table.assert_covers(module, exempt={"Colour": "an enum"})
    with pytest.raises(AssertionError, match=r"Store\.named: neither") as raised:
        table.assert_covers(module, exempt={"Colour": "an enum"}, methods=True)
    assert "Store.put: neither" in str(raised.value)
    assert "Store.clear" not in str(raised.value)  # no parameters
    table.assert_covers(
        module,
        exempt={"Colour": "an enum", "Store.put": "driven by the conformance suite", "Store.named": "x"},
        methods=True,
    )
    other = HostileTargets()
    other.add(checked, "k")
    other.assert_covers(package("checked", "Store"), exempt={"Store": "driven elsewhere"}, methods=True)
