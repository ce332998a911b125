"""The package's OpenTelemetry instruments and spans (through core's `Telemetry`; free without the API).

Attributes are bounded: a bus kind, a message or event type name (the application's classes), an
outcome, an error type. Never a message's field values.
"""

from __future__ import annotations

from typing import Final

from buttress.core import Telemetry

from ._version import __version__

__all__ = [
    "CACHE_INVALIDATIONS",
    "CACHE_REQUESTS",
    "DISPATCH_DURATION",
    "EVENT_DELIVERIES",
    "OUTBOX_RELAYED",
    "RETRIES",
    "TELEMETRY",
]

TELEMETRY: Final = Telemetry("buttress.cqrs", __version__)

DISPATCH_DURATION: Final = TELEMETRY.histogram(
    "buttress.cqrs.dispatch.duration",
    unit="s",
    description="Duration of one send or ask through TelemetryMiddleware, by kind, message and error type.",
)
RETRIES: Final = TELEMETRY.counter(
    "buttress.cqrs.retries",
    unit="{retry}",
    description="Attempts RetryMiddleware started again after a declared transient error.",
)
EVENT_DELIVERIES: Final = TELEMETRY.counter(
    "buttress.cqrs.event.deliveries",
    unit="{delivery}",
    description="Calls of an event handler by EventBus, by event type and outcome (delivered, failed).",
)
CACHE_REQUESTS: Final = TELEMETRY.counter(
    "buttress.cqrs.cache.requests",
    unit="{request}",
    description="Asks of a cached query, by query type and outcome (hit, miss, error).",
)
CACHE_INVALIDATIONS: Final = TELEMETRY.counter(
    "buttress.cqrs.cache.invalidations",
    unit="{entry}",
    description="Cached answers deleted because an event declared to invalidate them was published.",
)
OUTBOX_RELAYED: Final = TELEMETRY.counter(
    "buttress.cqrs.outbox.relayed",
    unit="{event}",
    description="Outbox entries OutboxRelay published, by outcome (delivered, failed).",
)
