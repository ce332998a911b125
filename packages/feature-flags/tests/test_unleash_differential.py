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

from buttress.feature_flags import Context, FlagClient, FlagSet, MemoryFlagSource, flag_to_dict

from ._unleash_differential import _unleash_client, run
from .conftest import rollout_flag

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


# Group ids where Unleash's rule language escapes or breaks out of the quoted id. The first is the
# example the randomized pass (explore, seed 579076567) shrank a wrong test oracle to: the
# engine agreed with UnleashClient, the property's closed form did not.
AWKWARD_GROUP_IDS = ['\\"', 'a"b', "ab\\", 'x\\"y', '\\\\"', '"', "\\", 'say "hi"', "c:\\dir\\"]
USERS = ["K;", "u1", "u2", "user-3", "zz", "", "ünï", "42"]


@pytest.mark.parametrize("group_id", AWKWARD_GROUP_IDS)
def test_group_ids_with_quotes_and_backslashes_agree_with_unleash_client(
    group_id: str, unavailable: Callable[[str], NoReturn], quiet_unleash: None
) -> None:
    """Property 16 on the escapes: every rollout answer for these group ids equals UnleashClient's."""
    try:
        import UnleashClient  # noqa: F401, PLC0415 - the peer, from this package's test group
    except ImportError:
        unavailable("UnleashClient is not installed (it is in buttress-feature-flags' test group)")
    for rollout in (7, 50, 93):
        flag = rollout_flag("awkward", rollout, group_id=group_id)
        theirs = _unleash_client({"version": 1, "features": [flag_to_dict(flag)]})
        ours = FlagClient(MemoryFlagSource(), bootstrap=FlagSet(flags={flag.key: flag}))
        for user in USERS:
            expected = theirs.is_enabled("awkward", {"userId": user})
            assert ours.is_enabled("awkward", Context(user_id=user)) is expected, (group_id, rollout, user)
