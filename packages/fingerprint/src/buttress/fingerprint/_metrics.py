"""The package's OpenTelemetry instruments (listed on the suite's telemetry page).

They bind when the application has ``opentelemetry-api``; without it each costs a flag check.
Attributes are bounded: where a request came from and how a verification ended, never a header,
an address, a digest or a key id.
"""

from __future__ import annotations

from typing import Final

from buttress.core import Attributes, Telemetry

from ._version import __version__

__all__ = [
    "COMPUTED",
    "DURATION",
    "MEMO_HITS",
    "MEMO_MISSES",
    "SOURCES",
    "TELEMETRY",
    "VERIFICATIONS",
    "VERIFIED",
]

TELEMETRY: Final = Telemetry("buttress.fingerprint", __version__)

COMPUTED: Final = TELEMETRY.counter(
    "buttress.fingerprint.computed",
    unit="{fingerprint}",
    description="Fingerprints made, by what they were made from.",
)
DURATION: Final = TELEMETRY.histogram(
    "buttress.fingerprint.duration",
    unit="s",
    description="Time to make one fingerprint, from reading the request to the digest.",
)
MEMO_HITS: Final = TELEMETRY.counter(
    "buttress.fingerprint.memo.hits",
    unit="{hit}",
    description="Requests whose whole fingerprint was found in the memo (no hashing).",
)
MEMO_MISSES: Final = TELEMETRY.counter(
    "buttress.fingerprint.memo.misses",
    unit="{miss}",
    description="Requests whose whole fingerprint was looked for in the memo and not found.",
)
VERIFICATIONS: Final = TELEMETRY.counter(
    "buttress.fingerprint.verifications",
    unit="{verification}",
    description="Fingerprints verified, by outcome: match, old_key (a key before a rotation), mismatch.",
)

SOURCES: Final[dict[str, Attributes]] = {
    source: {"fingerprint.source": source} for source in ("components", "scope", "environ", "headers")
}
"""The attributes of `COMPUTED` and `DURATION`, made once."""
VERIFIED: Final[dict[str, Attributes]] = {
    outcome: {"fingerprint.outcome": outcome} for outcome in ("match", "old_key", "mismatch")
}
"""The attributes of `VERIFICATIONS`, made once."""
