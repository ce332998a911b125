"""Delivery records and the rules that turn an HTTP outcome into the next step."""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from ._checks import aware_datetime
from ._schedule import RetrySchedule
from .exceptions import WebhooksConfigurationError

__all__ = [
    "RETRY_AFTER_STATUSES",
    "Attempt",
    "DeadDelivery",
    "Decision",
    "Delivery",
    "DeliveryStatus",
    "Message",
    "decide",
    "parse_retry_after",
]

# Statuses whose Retry-After header sets the next attempt's time.
RETRY_AFTER_STATUSES: Final = frozenset({429, 502, 503, 504})


class DeliveryStatus(StrEnum):
    """Where one message's delivery to one endpoint stands."""

    PENDING = "pending"
    """Waiting for its next attempt (or being attempted now, under a lease)."""
    DELIVERED = "delivered"
    """An attempt got a 2xx answer."""
    DEAD = "dead"
    """Every attempt of the schedule failed."""
    CANCELLED = "cancelled"
    """The endpoint was disabled (410 Gone, failing too long, by hand) or deleted."""

    @classmethod
    def _missing_(cls, value: object) -> DeliveryStatus:
        # DeliveryStatus("x") raises this typed error (a ValueError, as Enum's own would be).
        raise WebhooksConfigurationError(
            "status", value, f"must be one of {', '.join(repr(s.value) for s in cls)}"
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One event, as sent: its id (the ``webhook-id``), type, exact body and creation time."""

    id: str
    event_type: str
    body: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message's delivery to one endpoint.

    Attributes:
        id: The delivery's id.
        message_id: The message.
        endpoint_id: The endpoint.
        status: Where it stands.
        attempts: Attempts made (or started) so far.
        next_attempt_at: When it is due (pending deliveries only).
        last_attempt_at: When the last attempt started.
        last_status_code: The last HTTP status, or ``None`` (no answer).
        last_error: The last transport error, or ``None``.
        created_at: When it was queued.
        finished_at: When it was delivered, died or was cancelled.
    """

    id: int
    message_id: str
    endpoint_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt, as logged.

    Attributes:
        delivery_id: The delivery it belongs to.
        message_id: The message.
        endpoint_id: The endpoint.
        attempt: Its number (1 for the first).
        started_at: When it started (the worker's clock).
        status_code: The HTTP status, or ``None`` when there was no answer.
        latency: Seconds from sending to the answer (or the error).
        response_body: The start of the answer's body (``response_body_limit`` bytes, decoded leniently).
        error: The transport error (timeout, refused, SSRF guard), or ``None``.
        outcome: ``"delivered"``, ``"retry"``, ``"dead"`` or ``"gone"``.
    """

    delivery_id: int
    message_id: str
    endpoint_id: str
    attempt: int
    started_at: datetime
    status_code: int | None
    latency: float
    response_body: str
    error: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class DeadDelivery:
    """What the ``on_dead`` callback receives when a delivery's last attempt fails."""

    delivery_id: int
    message_id: str
    endpoint_id: str
    event_type: str
    attempts: int
    last_status_code: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    """What follows an attempt: the delivery's new status, when to try again, and the logged outcome."""

    status: DeliveryStatus
    next_attempt_at: datetime | None
    outcome: str


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return the seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date), or ``None``.

    An unparseable value is ``None`` (the schedule applies); so is one that is not a str.

    Raises:
        WebhooksConfigurationError: ``now`` is not a timezone-aware datetime.
    """
    aware_datetime("now", now)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text[:12]))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def decide(
    *,
    status_code: int | None,
    retry_after: str | None,
    attempt: int,
    schedule: RetrySchedule,
    now: datetime,
    max_retry_after: float,
) -> Decision:
    """Apply the outcome rules to one attempt.

    2xx is success. 410 Gone ends the delivery and disables the endpoint. Anything else (3xx
    included: redirects are not followed) is a failure: the next attempt follows the schedule, or the
    ``Retry-After`` of a 429/502/503/504 (capped at ``max_retry_after``); after the last attempt the
    delivery is dead.
    """
    if status_code is not None and 200 <= status_code < 300:
        return Decision(DeliveryStatus.DELIVERED, None, "delivered")
    if status_code == 410:
        return Decision(DeliveryStatus.CANCELLED, None, "gone")
    delay = schedule.delay_after(attempt)
    if delay is None:
        return Decision(DeliveryStatus.DEAD, None, "dead")
    if status_code in RETRY_AFTER_STATUSES:
        asked = parse_retry_after(retry_after, now)
        if asked is not None and math.isfinite(asked):
            delay = min(asked, max_retry_after)
    return Decision(DeliveryStatus.PENDING, now + timedelta(seconds=delay), "retry")
