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
