"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`; free without the API).

Attributes are few and bounded: a token type, an outcome code, a fetch outcome. Never a token, a
subject, a kid chosen by a token, or a URL.
"""

from __future__ import annotations

from typing import Final

from buttress.core import Telemetry

from ._version import __version__

__all__ = ["EVICTIONS", "JWKS_FETCHES", "TELEMETRY", "VERIFICATIONS"]

TELEMETRY: Final = Telemetry("buttress.auth", __version__)

VERIFICATIONS: Final = TELEMETRY.counter(
    "buttress.auth.verifications",
    unit="{token}",
    description="Tokens verified, by token type and outcome (ok, or the failure's reason code).",
)
JWKS_FETCHES: Final = TELEMETRY.counter(
    "buttress.auth.jwks.fetches",
    unit="{fetch}",
    description="JWKS documents fetched by JWKSClient, by outcome (ok, error).",
)
EVICTIONS: Final = TELEMETRY.counter(
    "buttress.auth.store.evictions",
    unit="{entry}",
    description="Revocations MemoryTokenStore evicted while still live, to stay within max_entries.",
)
