"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`; free without the API).

Attribute names follow OpenTelemetry's semantic conventions for feature flags (``feature_flag.key``,
``feature_flag.result.reason``, ``feature_flag.result.variant``, ``error.type``). They stay bounded:
a flag's key and variant are recorded only for flags defined in the client's snapshot (an unknown
key, which a caller could make up, is never recorded), reasons and error codes are OpenFeature's
closed sets, and a source is named by its class.
"""

from __future__ import annotations

from typing import Final

from buttress.core import Telemetry

from ._version import __version__

__all__ = [
    "CHANGES",
    "EVALUATIONS",
    "EVALUATION_ERRORS",
    "REFRESHES",
    "REFRESH_DURATION",
    "SOURCE_FAILURES",
    "STICKY_WRITE_FAILURES",
    "TELEMETRY",
]

TELEMETRY: Final = Telemetry("buttress.feature_flags", __version__)

EVALUATIONS: Final = TELEMETRY.counter(
    "buttress.feature_flags.evaluations",
    unit="{evaluation}",
    description="Flag evaluations by a FlagClient (is_enabled, get_variant, evaluate), by OpenFeature "
    "reason and served variant.",
)
EVALUATION_ERRORS: Final = TELEMETRY.counter(
    "buttress.feature_flags.evaluation.errors",
    unit="{error}",
    description="Evaluations that answered the caller's default because of an error, by OpenFeature "
    "error code (flag_not_found, type_mismatch, invalid_context, provider_not_ready, provider_fatal).",
)
REFRESHES: Final = TELEMETRY.counter(
    "buttress.feature_flags.source.refreshes",
    unit="{refresh}",
    description="Loads of the whole flag set from the source, by outcome (success, failure).",
)
REFRESH_DURATION: Final = TELEMETRY.histogram(
    "buttress.feature_flags.source.refresh.duration",
    unit="s",
    description="Time to load a flag set from the source and swap the compiled snapshot in.",
)
SOURCE_FAILURES: Final = TELEMETRY.counter(
    "buttress.feature_flags.source.failures",
    unit="{failure}",
    description="Failed loads and broken change notifications of a source, by operation and error type.",
)
CHANGES: Final = TELEMETRY.counter(
    "buttress.feature_flags.source.changes",
    unit="{notification}",
    description="Change notifications a watchable source delivered to a client's refresher.",
)
STICKY_WRITE_FAILURES: Final = TELEMETRY.counter(
    "buttress.feature_flags.sticky.write_failures",
    unit="{write}",
    description="Sticky assignments RedisStickyStore could not write behind (they stay local).",
)
