"""The package's OpenTelemetry instruments (bound on first use; no-ops without opentelemetry-api).

Attributes are few and bounded: a scheme, an outcome, a reason. Endpoint URLs and ids, message ids
and webhook ids never become attributes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final

from buttress.core import Telemetry

from ._verify import Headers, VerifiedWebhook
from .exceptions import (
    InvalidBodyError,
    MalformedHeaderError,
    MissingHeaderError,
    SignatureMismatchError,
    TimestampOutsideToleranceError,
    WebhookVerificationError,
)

__all__ = [
    "CLAIM_SIZE",
    "DEAD",
    "DELIVERIES",
    "DELIVERY_DURATION",
    "ENDPOINT_HEALTH",
    "REFUSALS",
    "TELEMETRY",
    "UNAVAILABLE",
    "VERIFICATIONS",
    "counted_verifications",
    "verification_outcome",
]

__version__: Final = "0.1.0"

TELEMETRY: Final = Telemetry("buttress.webhooks", __version__)

VERIFICATIONS: Final = TELEMETRY.counter(
    "buttress.webhooks.verifications",
    unit="{webhook}",
    description="Received webhooks verified, by scheme and outcome.",
)
REFUSALS: Final = TELEMETRY.counter(
    "buttress.webhooks.replay.refusals",
    unit="{webhook}",
    description="Authentic webhooks the replay guard refused: a replay, or a copy in flight.",
)
DELIVERIES: Final = TELEMETRY.counter(
    "buttress.webhooks.delivery.attempts",
    unit="{attempt}",
    description="Delivery attempts made by workers, by outcome.",
)
DELIVERY_DURATION: Final = TELEMETRY.histogram(
    "buttress.webhooks.delivery.duration",
    unit="s",
    description="Time from sending a delivery attempt to its answer or error.",
)
DEAD: Final = TELEMETRY.counter(
    "buttress.webhooks.delivery.dead",
    unit="{delivery}",
    description="Deliveries that died: their last attempt failed, or its lease ran out.",
)
CLAIM_SIZE: Final = TELEMETRY.histogram(
    "buttress.webhooks.outbox.claimed",
    unit="{delivery}",
    description="Due deliveries one worker round took from the outbox (claimed or found dead).",
)
ENDPOINT_HEALTH: Final = TELEMETRY.counter(
    "buttress.webhooks.endpoint.health_changes",
    unit="{change}",
    description="Endpoints that started failing, or that a worker disabled.",
)
UNAVAILABLE: Final = TELEMETRY.counter(
    "buttress.webhooks.unavailable",
    unit="{error}",
    description="Operations that found the outbox or the replay guard unreachable.",
)

_OUTCOMES: Final = (
    (MissingHeaderError, "missing_header"),
    (MalformedHeaderError, "malformed_header"),
    (InvalidBodyError, "invalid_body"),
    (TimestampOutsideToleranceError, "timestamp"),
    (SignatureMismatchError, "signature_mismatch"),
)
_REJECTED: Final = "rejected"

type _Verify[V] = Callable[[V, Headers, bytes | str], VerifiedWebhook]


def verification_outcome(error: WebhookVerificationError) -> str:
    """The ``webhooks.outcome`` attribute of a failed verification."""
    for kind, outcome in _OUTCOMES:
        if isinstance(error, kind):
            return outcome
    return _REJECTED


def counted_verifications[V](scheme: str) -> Callable[[_Verify[V]], _Verify[V]]:
    """Decorate a verifier's ``verify`` so each call counts in `VERIFICATIONS` with its outcome.

    ``verify`` is a hot path: the attribute sets are built here, once per scheme, and the wrapper takes
    ``verify``'s own arguments, so counting a call allocates nothing.
    """

    def attributes(outcome: str) -> dict[str, str]:
        return {"webhooks.scheme": scheme, "webhooks.outcome": outcome}

    verified: Final = attributes("verified")
    failed: Final = {outcome: attributes(outcome) for _, outcome in (*_OUTCOMES, (None, _REJECTED))}

    def decorate(verify: _Verify[V]) -> _Verify[V]:
        @functools.wraps(verify)
        def counted(self: V, headers: Headers, body: bytes | str) -> VerifiedWebhook:
            try:
                result = verify(self, headers, body)
            except WebhookVerificationError as exc:
                VERIFICATIONS.add(1, failed[verification_outcome(exc)])
                raise
            VERIFICATIONS.add(1, verified)
            return result

        return counted

    return decorate
