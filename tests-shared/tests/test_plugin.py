"""The plugin's switch between skipping and failing when a service is missing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from buttress.testing import CONFORMANCE_ENV, REDIS_ENV, REQUIRE_ENV, find_conformance_dir, free_port

NEEDS_REDIS = """
def test_needs_redis(redis_url):
    assert redis_url
"""

NEEDS_POSTGRES = """
def test_needs_postgres(postgres_dsn):
    assert postgres_dsn
"""


@pytest.fixture
def dead_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point both services at ports nothing listens on."""
    monkeypatch.setenv(REDIS_ENV, f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("BUTTRESS_POSTGRES_DSN", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    monkeypatch.delenv(REQUIRE_ENV, raising=False)


@pytest.mark.usefixtures("dead_services")
def test_a_missing_service_skips_with_a_reason(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(NEEDS_REDIS + NEEDS_POSTGRES)
    result = run_inner("-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no Redis server for the tests*BUTTRESS_REDIS_URL=*does not answer*"])
    result.stdout.fnmatch_lines(["*no PostgreSQL server for the tests*BUTTRESS_POSTGRES_DSN=*"])


@pytest.mark.usefixtures("dead_services")
def test_require_services_turns_a_missing_service_into_a_failure(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(NEEDS_REDIS + NEEDS_POSTGRES)
    result = run_inner("--require-services")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*no Redis server for the tests*services are required*"])
    assert result.ret != 0


@pytest.mark.usefixtures("dead_services")
def test_the_environment_variable_requires_services_too(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "1")
    pytester.makepyfile(NEEDS_REDIS)
    result = run_inner()
    result.assert_outcomes(errors=1)


def test_a_test_without_services_is_unaffected(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REDIS_ENV, f"redis://127.0.0.1:{free_port()}/0")
    pytester.makepyfile("def test_plain(fake_clock):\n    assert fake_clock.monotonic() == 0.0\n")
    run_inner("--require-services").assert_outcomes(passed=1)


def test_the_plugin_registers_its_markers_and_option(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.redis\n@pytest.mark.postgres\ndef test_marked():\n    pass\n"
    )
    run_inner("--strict-markers").assert_outcomes(passed=1)
    result = run_inner("--help")
    result.stdout.fnmatch_lines(["*--require-services*"])


def test_hypothesis_profiles_are_registered_and_ci_is_derandomized() -> None:
    ci = settings.get_profile("ci")
    dev = settings.get_profile("dev")
    assert ci.derandomize is True
    assert ci.deadline is None
    assert ci.max_examples > dev.max_examples


NEEDS_CONFORMANCE = """
def test_needs_suites(conformance_dir):
    assert (conformance_dir / "marker.txt").read_text() == "here"
"""


def test_the_conformance_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    monkeypatch.setenv(CONFORMANCE_ENV, str(suites))
    assert find_conformance_dir(tmp_path / "elsewhere") == suites
    monkeypatch.setenv(CONFORMANCE_ENV, str(tmp_path / "missing"))
    assert find_conformance_dir(tmp_path) is None


def test_conformance_suites_are_found_beside_a_parent_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONFORMANCE_ENV, raising=False)
    suites = tmp_path / "shared" / "conformance"
    suites.mkdir(parents=True)
    checkout = tmp_path / "main" / "packages" / "flags"
    checkout.mkdir(parents=True)
    assert find_conformance_dir(checkout) == suites


def test_missing_conformance_suites_skip_or_fail_like_a_service(
    pytester: pytest.Pytester,
    run_inner: Callable[..., pytest.RunResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    monkeypatch.setenv(CONFORMANCE_ENV, str(tmp_path / "absent"))
    pytester.makepyfile(NEEDS_CONFORMANCE)
    skipped = run_inner("-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines([f"*conformance suites not found: set {CONFORMANCE_ENV}*"])
    run_inner("--require-services").assert_outcomes(errors=1)

    present = tmp_path / "present"
    present.mkdir()
    (present / "marker.txt").write_text("here")
    monkeypatch.setenv(CONFORMANCE_ENV, str(present))
    run_inner("--require-services").assert_outcomes(passed=1)


NEEDS_A_TOOL = """
import shutil

def test_needs_a_tool(unavailable):
    if shutil.which("no-such-tool-anywhere") is None:
        unavailable("no-such-tool-anywhere is not installed")
"""


def test_a_missing_tool_skips_or_fails_like_a_service(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    pytester.makepyfile(NEEDS_A_TOOL)
    skipped = run_inner("-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*no-such-tool-anywhere is not installed*"])
    failed = run_inner("--require-services")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*no-such-tool-anywhere is not installed*services are required*"])


EXPLORED = """
from hypothesis import Phase, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule


def test_plain():
    pass


@given(st.integers())
def test_property(n):
    assert settings.default.derandomize is False
    assert Phase.explicit not in settings.default.phases


class Machine(RuleBasedStateMachine):
    @rule()
    def step(self):
        pass


TestMachine = Machine.TestCase
"""


def test_explore_runs_only_hypothesis_tests_under_the_random_profile(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(EXPLORED)
    result = run_inner("--explore", "--hypothesis-seed=7")
    result.assert_outcomes(passed=2, deselected=1)


def test_without_explore_every_test_runs(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    run_inner().assert_outcomes(passed=1)


def test_the_ci_profile_named_on_the_command_line_is_ours(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    """nox passes --hypothesis-profile=ci: it must load our ci (200 examples), not hypothesis's own."""
    pytester.makepyfile(
        "from hypothesis import settings\n\n"
        "def test_profile():\n"
        "    assert settings.default.max_examples == 200\n"
        "    assert settings.default.derandomize is True\n"
    )
    # A subprocess: in this process the plugin has long been imported and configured.
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hypothesis-profile=ci").assert_outcomes(
        passed=1
    )


def test_the_explore_profile_can_be_named_on_the_command_line(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        "from hypothesis import settings\n\n"
        "def test_profile():\n"
        "    assert settings.default.derandomize is False\n"
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hypothesis-profile=explore").assert_outcomes(
        passed=1
    )
