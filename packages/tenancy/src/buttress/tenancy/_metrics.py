"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`; free without the API).

Attributes are bounded: an outcome or a reason. Never a tenant id, a table's rows or a URL.
"""

from __future__ import annotations

from typing import Final, Literal

from buttress.core import Telemetry

from ._version import __version__

__all__ = ["REFUSALS", "REQUESTS", "TELEMETRY", "Outcome", "Reason", "refused"]

TELEMETRY: Final = Telemetry("buttress.tenancy", __version__)

type Outcome = Literal["resolved", "missing", "unknown", "suspended", "unauthenticated", "unavailable"]
type Reason = Literal["cross_tenant", "unscoped_statement", "no_tenant", "unsafe_connection"]

REQUESTS: Final = TELEMETRY.counter(
    "buttress.tenancy.requests",
    unit="{request}",
    description="Requests seen by the tenant middleware, by outcome: resolved, missing, unknown, "
    "suspended, unauthenticated or unavailable.",
)
REFUSALS: Final = TELEMETRY.counter(
    "buttress.tenancy.refusals",
    unit="{refusal}",
    description="Work the enforcement layers refused, by reason: cross_tenant, unscoped_statement, "
    "no_tenant or unsafe_connection.",
)


def refused(reason: Reason) -> None:
    """Count one refusal of an enforcement layer."""
    REFUSALS.add(1, {"tenancy.reason": reason})
