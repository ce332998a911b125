"""`HealthCheckContract`: what a check for buttress-health's ``HealthRegistry`` must do.

The suite reads a check's result structurally (``status``, ``observed_value``, ``observed_unit``,
``output``, ``component_type``), so it needs no buttress-health import.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["HealthCheckContract"]

_STATUSES = frozenset({"pass", "warn", "fail"})


def _status(result: Any) -> str:
    status = getattr(result, "status", None)
    value = getattr(status, "value", status)
    assert value in _STATUSES, f"check() returned {result!r}: its status is not pass, warn or fail"
    return str(value)


def _assert_wellformed(result: Any) -> None:
    """A result the draft's format can carry: JSON scalars, text without NUL."""
    _status(result)
    observed = getattr(result, "observed_value", None)
    assert observed is None or isinstance(observed, str | int | float | bool), f"observed_value {observed!r}"
    if isinstance(observed, float):
        assert math.isfinite(observed), "observed_value must be finite: JSON has no NaN"
    for name in ("observed_unit", "output", "component_type"):
        value = getattr(result, name, None)
        assert value is None or (isinstance(value, str) and "\x00" not in value), f"{name} {value!r}"
    json.dumps({"observedValue": observed, "output": getattr(result, "output", None)})


class HealthCheckContract:
    """Conformance suite for a health check (``async def check() -> CheckResult``).

    Subclass it (as ``TestSomething``) and implement `make_check`, which returns a check whose
    dependency is healthy. A check that can be made unhealthy (a server it cannot reach, a breaker
    open, a disk over its threshold) also implements `make_failing_check`; its ``check()`` must then
    report ``fail`` (or raise, which the registry reports as ``fail``) rather than hang or pass.
    Checks with ``aclose()`` or ``close()`` are closed after each test.

    Attributes:
        healthy: The statuses a healthy check may report (``pass`` by default; a check that reports
            a measurement near its threshold may say ``warn`` too).
        patience: Seconds a check may take here before the test gives up (the registry's own
            timeout is what bounds a check in use; this only keeps a broken check from hanging the
            suite).
    """

    healthy: ClassVar[frozenset[str]] = frozenset({"pass"})
    patience: ClassVar[float] = 30.0

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_check(self) -> Any:
        """Return a check whose dependency is healthy. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_check()")

    async def make_failing_check(self) -> Any:
        """Return a check whose dependency is unhealthy; ``None`` (the default) skips those tests."""
        return None

    @pytest_asyncio.fixture
    async def check(self) -> AsyncIterator[Any]:
        """The check from `make_check`, closed after the test."""
        made = await self.make_check()
        try:
            yield made
        finally:
            await close_quietly(made)

    async def _run(self, check: Any) -> Any:
        async with asyncio.timeout(self.patience):
            return await check.check()

    async def test_check_is_a_coroutine_method(self, check: Any) -> None:
        assert inspect.iscoroutinefunction(getattr(check, "check", None)), "check() must be async"

    async def test_a_healthy_dependency_is_reported_healthy(self, check: Any) -> None:
        result = await self._run(check)
        _assert_wellformed(result)
        assert _status(result) in self.healthy, f"a healthy dependency was reported {result!r}"

    async def test_every_call_measures_again(self, check: Any) -> None:
        for _ in range(3):
            assert _status(await self._run(check)) in self.healthy

    async def test_concurrent_calls_are_safe(self, check: Any) -> None:
        async with asyncio.timeout(self.patience):
            results = await asyncio.gather(*(check.check() for _ in range(8)))
        assert all(_status(result) in self.healthy for result in results)

    async def test_a_cancelled_call_leaves_the_check_usable(self, check: Any) -> None:
        task = asyncio.ensure_future(check.check())
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert _status(await self._run(check)) in self.healthy, "a cancelled run broke the check"

    async def test_downstream_is_a_bool_when_declared(self, check: Any) -> None:
        downstream = getattr(check, "downstream", False)
        assert isinstance(downstream, bool), "downstream must be a bool (True keeps a check out of liveness)"

    async def test_an_unhealthy_dependency_fails(self) -> None:
        failing = await self.make_failing_check()
        if failing is None:
            pytest.skip("make_failing_check() returns None")
        try:
            try:
                result = await self._run(failing)
            except TimeoutError:
                pytest.fail(f"check() of an unhealthy dependency hung past {self.patience} s")
            except Exception:  # noqa: BLE001 - raising is an acceptable way to fail a check
                return
            _assert_wellformed(result)
            assert _status(result) == "fail", f"an unhealthy dependency was reported {result!r}"
            assert getattr(result, "output", None), "a failure says why (output)"
        finally:
            await close_quietly(failing)

    async def test_an_unhealthy_dependency_keeps_failing_without_breaking(self) -> None:
        failing = await self.make_failing_check()
        if failing is None:
            pytest.skip("make_failing_check() returns None")
        try:
            for _ in range(2):
                try:
                    result = await self._run(failing)
                except Exception:  # noqa: BLE001, S112 - raising is an acceptable way to fail
                    continue
                assert _status(result) == "fail"
        finally:
            await close_quietly(failing)
