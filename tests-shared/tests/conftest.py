"""Shared fixtures for buttress-testing's own tests."""

from __future__ import annotations

from collections.abc import Callable, Collection

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def run_inner(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """Run pytest on the files made with ``pytester``, with the settings our own suite uses."""

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-o",
            "asyncio_mode=auto",
            *args,
        )

    return run


def _failed(result: pytest.RunResult) -> set[str]:
    """The names, without parametrize ids, of the tests that failed in a ``run_inner`` run."""
    reports = result.reprec.getfailures()  # type: ignore[attr-defined]
    return {report.nodeid.split("::")[-1].split("[")[0] for report in reports}


@pytest.fixture
def contract_catches(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> Callable[..., set[str]]:
    """Run a conformance suite over a broken implementation and fail unless the named checks fail.

    Called as ``contract_catches(failing, *pytest_args, **modules)``: each keyword of ``modules``
    names a module written before the run (its value is the source); ``failing`` is one test name or
    several, without parametrize ids. Returns the names of every test that failed, for the callers
    that want the exact set.
    """

    def run(failing: str | Collection[str], *args: str, **modules: str) -> set[str]:
        pytester.makepyfile(**modules)
        result = run_inner("-q", *args)
        failed = _failed(result)
        wanted = {failing} if isinstance(failing, str) else set(failing)
        assert wanted <= failed, (
            f"the suite passed a broken implementation in {sorted(wanted - failed)}:\n{result.stdout.str()}"
        )
        return failed

    return run


@pytest.fixture
def contract_passes(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> Callable[..., int]:
    """Run a conformance suite over a correct implementation and fail on any failure or error.

    Called as ``contract_passes(*pytest_args, **modules)`` (as `contract_catches`, without the
    names); returns how many tests passed.
    """

    def run(*args: str, **modules: str) -> int:
        pytester.makepyfile(**modules)
        result = run_inner("-q", *args)
        outcomes = result.parseoutcomes()
        assert result.ret == 0, result.stdout.str()
        assert outcomes.get("failed", 0) == outcomes.get("errors", 0) == 0, result.stdout.str()
        return int(outcomes.get("passed", 0))

    return run
