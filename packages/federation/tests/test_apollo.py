"""Differential test: Apollo Federation's subgraph validation (npm, run by node) on the whole corpus.

Install it once with ``npm ci --prefix packages/federation/tests/apollo``. Without node or the package
the test skips, or fails when ``BUTTRESS_REQUIRE_SERVICES=1`` (as in CI). One node process validates
the whole corpus.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from corpus import HAND, Case, generated_corpus
from corpus_realworld import REAL_WORLD_AND_EDGES

from buttress.federation import check_subgraph

HERE = Path(__file__).with_name("apollo")
SCRIPT = HERE / "validate.js"
PACKAGE = HERE / "node_modules" / "@apollo" / "federation-internals" / "package.json"

# Apollo 2.14.4 throws a TypeError / "Unexpected element" / "Invalid URL" instead of a verdict on
# these; they are counted apart, never as agreement.
APOLLO_CRASHES = {
    "key-leaf-with-selection",
    "link-renamed-import-error",
    "link-prefixed-error",
    "edge-other-link-not-a-url",
    "edge-link-url-not-a-string",
    "edge-link-without-url",
}


@pytest.fixture(scope="module")
def corpus() -> list[Case]:
    return HAND + generated_corpus(80) + REAL_WORLD_AND_EDGES


@pytest.fixture
def apollo(unavailable: Any, corpus: list[Case]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed; Apollo's validator runs on it (apt-get install nodejs npm)")
    if not PACKAGE.is_file():
        unavailable(f"@apollo/federation-internals is not installed: npm ci --prefix {HERE}")
    result = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps([{"sdl": c.sdl, "companions": list(c.companions)} for c in corpus]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    verdicts: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(verdicts) == len(corpus)
    return verdicts


def test_corpus_is_large_enough(corpus: list[Case]) -> None:
    assert len(corpus) >= 200
    assert len({c.sdl for c in corpus}) == len(corpus)
    assert len({c.name for c in corpus}) == len(corpus)


def test_apollo_agrees_on_verdict_and_codes(corpus: list[Case], apollo: list[dict[str, Any]]) -> None:
    """Same verdict and the same multiset of error codes as Apollo on every case Apollo can judge."""
    compared = agreed = 0
    disagreements: list[str] = []
    crashed: set[str] = set()
    for case, verdict in zip(corpus, apollo, strict=True):
        if verdict.get("crashed"):
            crashed.add(case.name)
            continue
        compared += 1
        ours = sorted(e.code for e in check_subgraph(case.sdl))
        theirs = sorted(e["code"] for e in verdict["errors"])
        if ours == theirs and (not ours) == verdict["valid"]:
            agreed += 1
        else:
            disagreements.append(f"{case.name}: ours {ours}, apollo {theirs}")
    print(  # noqa: T201 - the agreement rate is this test's report
        f"\nApollo agreement: {agreed}/{compared} ({100 * agreed / compared:.1f}%); Apollo "
        f"crashed on {len(crashed)}"
    )
    assert disagreements == []
    assert crashed == APOLLO_CRASHES


def test_apollo_reports_the_codes_the_corpus_expects(
    corpus: list[Case], apollo: list[dict[str, Any]]
) -> None:
    """The corpus's expected codes are Apollo's, not only ours (the check can fail)."""
    for case, verdict in zip(corpus, apollo, strict=True):
        if not verdict.get("crashed"):
            assert tuple(sorted(e["code"] for e in verdict["errors"])) == case.codes, case.name
