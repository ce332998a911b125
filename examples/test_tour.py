"""The tour runs, on embedded defaults and with the real servers configured.

What each section must print lives beside it, in ``examples/sections/<package>.py`` (``EMBEDDED`` and
``REAL``), so a package's section and its checks change together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent
TOUR = EXAMPLES / "tour.py"
sys.path.insert(0, str(EXAMPLES))

from sections import MODULES  # noqa: E402 - the sections live beside this file, not on sys.path


def run_tour(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOUR), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BUTTRESS_")}


def section_output(stdout: str, name: str) -> str:
    """The lines the section ``name`` printed (between its ``==`` heading and the next)."""
    _, _, rest = stdout.partition(f"== {name}\n")
    return rest.split("\n== ", 1)[0]


def missing(stdout: str, expected: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    found = {
        name: [line for line in lines if line not in section_output(stdout, name)]
        for name, lines in expected.items()
    }
    return {name: lines for name, lines in found.items() if lines}


def test_tour_on_embedded_defaults() -> None:
    result = run_tour(clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Redis: not set: embedded defaults only" in result.stdout
    assert missing(result.stdout, {name: module.EMBEDDED for name, module in MODULES.items()}) == {}
    assert f"tour finished: {len(MODULES)} section(s)" in result.stdout


def test_tour_with_real_backends(redis_url: str, postgres_dsn: str) -> None:
    env = {**clean_env(), "BUTTRESS_REDIS_URL": redis_url, "BUTTRESS_POSTGRES_DSN": postgres_dsn}
    result = run_tour(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Redis: {redis_url}" in result.stdout
    expected = {name: module.REAL for name, module in MODULES.items()}
    assert missing(result.stdout, expected) == {}


def test_every_package_has_a_section() -> None:
    packages = {f"buttress-{path.name}" for path in (EXAMPLES.parent / "packages").iterdir() if path.is_dir()}
    assert packages - {"buttress-testing"} <= set(MODULES)


def test_the_tour_names_its_sections_in_order() -> None:
    listed = TOUR.read_text().split("The sections, in order:", 1)[1].split('"""', 1)[0]
    assert [name.strip() for name in listed.split(",")] == list(MODULES)


def test_tour_rejects_an_unknown_section() -> None:
    result = run_tour(clean_env(), "buttress-nope")
    assert result.returncode == 2
    assert "unknown section" in result.stdout


@pytest.mark.parametrize("section", list(MODULES))
def test_each_section_runs_alone(section: str) -> None:
    result = run_tour(clean_env(), section)
    assert result.returncode == 0, result.stderr
    assert f"== {section}" in result.stdout
    assert missing(result.stdout, {section: MODULES[section].EMBEDDED}) == {}
