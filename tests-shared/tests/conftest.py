"""Shared fixtures for buttress-testing's own tests."""

from __future__ import annotations

from collections.abc import Callable

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


@pytest.fixture
def failed_tests() -> Callable[[pytest.RunResult], set[str]]:
    """The names, without parametrize ids, of the tests that failed in a ``run_inner`` run."""

    def names(result: pytest.RunResult) -> set[str]:
        reports = result.reprec.getfailures()  # type: ignore[attr-defined]
        return {report.nodeid.split("::")[-1].split("[")[0] for report in reports}

    return names
