"""The package's OpenTelemetry instruments (see the suite's telemetry page).

They are recorded once per campaign, when its report is made, so the execution loop pays nothing.
"""

from __future__ import annotations

from buttress.core import Telemetry

TELEMETRY = Telemetry("buttress.fuzzing")

EXECUTIONS = TELEMETRY.counter(
    "buttress.fuzzing.executions",
    unit="{execution}",
    description="Target executions, by phase (campaign, minimize).",
)
CRASHES = TELEMETRY.counter(
    "buttress.fuzzing.crashes",
    unit="{signature}",
    description="Distinct crash signatures a campaign hit, by novelty (new to the crash store, known).",
)
TIMEOUTS = TELEMETRY.counter(
    "buttress.fuzzing.timeouts",
    unit="{input}",
    description="Inputs that ran past the per-input timeout.",
)
CAMPAIGN_DURATION = TELEMETRY.histogram(
    "buttress.fuzzing.campaign.duration",
    unit="s",
    description="How long each campaign ran, by outcome (done, interrupted).",
)
