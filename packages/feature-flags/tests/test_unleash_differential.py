"""Property 16: agreement with Unleash's reference engine is 100.00 % on random flags and contexts.

UnleashClient (the official Python SDK, on yggdrasil, the engine every Unleash SDK shares) and
buttress evaluate the same randomly generated flags for the same random contexts; every
``isEnabled`` and ``getVariant`` answer is compared (see `_unleash_differential`). The run is seeded
and its size fixed, so it measures the same thing on every run and prints the agreement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest

from ._unleash_differential import run

SEED = 20_260_117
FLAG_SETS, FLAGS, CONTEXTS = 2, 40, 30  # 2 x 40 x 30 x 3 = 7,200 comparisons


@pytest.fixture
def quiet_unleash() -> Iterator[None]:
    # UnleashClient logs (with tracebacks) the evaluations its engine fails, which zero weights do.
    loggers = [
        logging.getLogger(name) for name in ("UnleashClient", "yggdrasil_engine", "yggdrasil_engine.engine")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def test_agreement_with_unleash_client_is_100_percent(
    unavailable: Callable[[str], NoReturn], quiet_unleash: None, request: pytest.FixtureRequest
) -> None:
    """Property 16: Reference agreement: every answer equals UnleashClient's (100.00 %)."""
    try:
        import UnleashClient  # noqa: F401, PLC0415 - the peer, from this package's test group
    except ImportError:
        unavailable("UnleashClient is not installed (it is in buttress-feature-flags' test group)")
    report = run(seed=SEED, flag_sets=FLAG_SETS, flags=FLAGS, contexts=CONTEXTS)
    _show(request, f"buttress-feature-flags {report.line()}")
    assert report.compared == FLAG_SETS * FLAGS * CONTEXTS * 3
    assert not report.disagreements, "\n\n".join(report.disagreements)
    assert f"{report.agreement:.2f}" == "100.00"


def _show(request: pytest.FixtureRequest, line: str) -> None:
    """Print ``line`` on the terminal, past pytest's output capture: the measurement this test is for."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n{line}")
