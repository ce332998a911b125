"""The package's OpenTelemetry instruments (listed on the suite's telemetry page).

They bind when the application has ``opentelemetry-api``; without it each costs a flag check.
Attributes are bounded: a middleware kind, a report's type and outcome, a CSP directive name (any
other name a browser sends counts as ``other``); never a URL, a nonce or a report's content.
"""

from __future__ import annotations

from typing import Final, Literal

from buttress.core import Attributes, Telemetry

from ._directives import Directive
from ._version import __version__

__all__ = [
    "NONCES",
    "REPORTS",
    "RESPONSES",
    "TELEMETRY",
    "VIOLATIONS",
    "ReportOutcome",
    "count_report",
    "count_violation",
    "report_type",
    "response_attributes",
]

TELEMETRY: Final = Telemetry("buttress.csp", __version__)

RESPONSES: Final = TELEMETRY.counter(
    "buttress.csp.responses",
    unit="{response}",
    description="Responses the middleware gave a policy header, by middleware and disposition.",
)
NONCES: Final = TELEMETRY.counter(
    "buttress.csp.nonces",
    unit="{nonce}",
    description="Nonces drawn, one per request the middleware handles.",
)
REPORTS: Final = TELEMETRY.counter(
    "buttress.csp.reports",
    unit="{report}",
    description="Report bodies received, by type and outcome.",
)
VIOLATIONS: Final = TELEMETRY.counter(
    "buttress.csp.violations",
    unit="{violation}",
    description="CSP violations read from accepted reports, by effective directive.",
)

type ReportOutcome = Literal["accepted", "too_large", "unsupported", "malformed"]

_TYPES: Final = {
    "application/csp-report": "csp-report",
    "application/reports+json": "reports+json",
    "application/json": "json",
}
_REPORTS: Final[dict[tuple[str, str], Attributes]] = {
    (kind, outcome): {"csp.report.type": kind, "csp.report.outcome": outcome}
    for kind in (*_TYPES.values(), "other")
    for outcome in ("accepted", "too_large", "unsupported", "malformed")
}
_DIRECTIVES: Final[dict[str, Attributes]] = {
    name: {"csp.directive": name} for name in (*(d.value for d in Directive), "other")
}


def report_type(content_type: object) -> str:
    """A report body's content type, bounded: ``csp-report``, ``reports+json``, ``json`` or ``other``."""
    if not isinstance(content_type, str):
        return "other"
    return _TYPES.get(content_type.split(";", 1)[0].strip().lower(), "other")


def count_report(kind: str, outcome: ReportOutcome) -> None:
    """Count one report body of type ``kind`` (from `report_type`) with its outcome."""
    REPORTS.add(1, _REPORTS[kind, outcome])


def count_violation(directive: str) -> None:
    """Count one violation of ``directive``; a name that is not a CSP directive counts as ``other``."""
    VIOLATIONS.add(1, _DIRECTIVES.get(directive) or _DIRECTIVES["other"])


def response_attributes(middleware: Literal["asgi", "wsgi"], *, report_only: bool) -> Attributes:
    """The attributes of `RESPONSES` for one middleware, made once when it is."""
    return {"csp.middleware": middleware, "csp.disposition": "report" if report_only else "enforce"}
