"""Google's CSP Evaluator (the npm package ``csp_evaluator``, run by node) on the presets.

Install it once with ``npm ci --prefix packages/csp/tests/evaluator``. Without node or the package
the tests skip, or fail when ``BUTTRESS_REQUIRE_SERVICES=1`` (as in CI).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from buttress.csp import Policy, compatible, generate_nonce, strict

HERE = Path(__file__).with_name("evaluator")
SCRIPT = HERE / "evaluate.js"
PACKAGE = HERE / "node_modules" / "csp_evaluator" / "dist" / "evaluator.js"

# csp_evaluator's Severity: lower is worse. INFO is 60 and NONE 100.
HIGH, SYNTAX, MEDIUM, HIGH_MAYBE, STRICT_CSP, MEDIUM_MAYBE, INFO = 10, 20, 30, 40, 45, 50, 60


@pytest.fixture
def evaluate(unavailable: Any) -> Any:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed; the CSP Evaluator runs on it (apt-get install nodejs npm)")
    if not PACKAGE.is_file():
        unavailable(f"csp_evaluator is not installed: npm ci --prefix {HERE}")

    def run(*policies: Policy | str) -> list[list[dict[str, Any]]]:
        lines = [p if isinstance(p, str) else p.serialize(generate_nonce()) for p in policies]
        result = subprocess.run(
            [node, str(SCRIPT)],
            input="\n".join(lines),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        findings: list[list[dict[str, Any]]] = json.loads(result.stdout)
        assert len(findings) == len(lines)
        return findings

    return run


def test_the_evaluator_catches_a_weak_policy(evaluate: Any) -> None:
    """The check can fail: an unquoted keyword and 'unsafe-inline' without a nonce are flagged."""
    (findings,) = evaluate("script-src self 'unsafe-inline'")
    assert min(f["severity"] for f in findings) <= SYNTAX


@pytest.mark.parametrize(
    "policy",
    [
        strict(),
        strict(trusted_types=True),
        strict(report_uri="/csp", report_to=("csp", "/csp")),
        strict(report_only=True),
    ],
    ids=["default", "trusted-types", "reporting", "report-only"],
)
def test_strict_preset_has_no_finding_above_info(evaluate: Any, policy: Policy) -> None:
    (findings,) = evaluate(policy)
    above_info = [f for f in findings if f["severity"] < INFO]
    assert above_info == [], json.dumps(above_info, indent=2)


def test_compatible_preset_has_no_high_finding(evaluate: Any) -> None:
    """The compatible preset is weaker by design ('self' allowlist), but nothing HIGH or a syntax error."""
    (findings,) = evaluate(compatible())
    assert all(f["severity"] > MEDIUM for f in findings), findings
