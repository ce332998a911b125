"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`).

Attributes are bounded: a channel's kind (``email``, ``push``, ``sms``, ``webhook``, ``apprise``, or
``custom`` for a channel of the application's own), an outcome or a decision. Never an address, a
recipient, a notification id or a channel's configured name.
"""

from __future__ import annotations

from typing import Final, Literal

from buttress.core import Telemetry

from ._version import __version__

__all__ = [
    "CLAIMS",
    "DEAD",
    "DECISIONS",
    "FAILED",
    "LEASE_LOSSES",
    "RATE_LIMIT_WAITS",
    "SEND_DURATION",
    "SENT",
    "TELEMETRY",
    "channel_kind",
]

TELEMETRY: Final = Telemetry("buttress.notifications", __version__)

SENT: Final = TELEMETRY.counter(
    "buttress.notifications.sent",
    unit="{message}",
    description="Messages a channel accepted (a digest counts once).",
)
FAILED: Final = TELEMETRY.counter(
    "buttress.notifications.failed",
    unit="{message}",
    description="Messages a channel could not deliver, by outcome (transient: retried; permanent: not).",
)
SEND_DURATION: Final = TELEMETRY.histogram(
    "buttress.notifications.send.duration",
    unit="s",
    description="Time a channel took to prepare and deliver one message, whatever the outcome.",
)
DECISIONS: Final = TELEMETRY.counter(
    "buttress.notifications.decisions",
    unit="{job}",
    description="What Notifier.send decided for each channel: send now, hold, suppress or digest.",
)
RATE_LIMIT_WAITS: Final = TELEMETRY.counter(
    "buttress.notifications.rate_limit.waits",
    unit="{message}",
    description="Messages put back because a channel's or a recipient's rate limit was spent.",
)
CLAIMS: Final = TELEMETRY.counter(
    "buttress.notifications.outbox.claims",
    unit="{claim}",
    description="Claims a delivery worker took from the outbox (a single job or a digest group).",
)
DEAD: Final = TELEMETRY.counter(
    "buttress.notifications.outbox.dead",
    unit="{job}",
    description="Jobs moved to the dead letter after their retries ran out.",
)
LEASE_LOSSES: Final = TELEMETRY.counter(
    "buttress.notifications.worker.lease_losses",
    unit="{claim}",
    description=(
        "Claims a worker gave up: too little lease left to start the send (expiring), or an outcome "
        "the outbox could not record (unavailable), so the lease runs out and the claim is retaken."
    ),
)

type ChannelKind = Literal["email", "push", "sms", "webhook", "apprise", "custom"]

# The package's own channels, by class; any other class is "custom" (the set stays bounded).
_KINDS: Final[dict[str, ChannelKind]] = {
    "buttress.notifications._smtp.SmtpChannel": "email",
    "buttress.notifications._webpush.WebPushChannel": "push",
    "buttress.notifications._http.SmsChannel": "sms",
    "buttress.notifications._http.WebhookChannel": "webhook",
    "buttress.notifications._apprise.AppriseChannel": "apprise",
}


def channel_kind(channel: object) -> ChannelKind:
    """The kind of ``channel`` for metric attributes: one of a fixed set, never its name."""
    cls = type(channel)
    return _KINDS.get(f"{cls.__module__}.{cls.__qualname__}", "custom")
