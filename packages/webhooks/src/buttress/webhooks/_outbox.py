"""The `Outbox` Protocol the worker delivers from, its records, and `MemoryOutbox` (the embedded default).

An outbox holds messages and one delivery per (message, endpoint). The worker's side is a small
state machine: a delivery is ``pending`` until an attempt succeeds (``delivered``), its endpoint goes
away (``cancelled``) or it has no attempt left (``dead``). A claimed delivery stays ``pending`` under
a lease and is due again only when the lease runs out. Every path back to the queue -- a lease that
ran out, a failed attempt, a release -- keeps ``attempts <= schedule.attempts``; only ``requeue`` and
``recover``, an operator's deliberate acts, start a delivery's count again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

from buttress.core import Clock

from ._checks import aware_datetime, clock_or_system, positive_int, positive_number, printable_ascii, text
from ._delivery import Attempt, DeadDelivery, Delivery, DeliveryStatus, Message
from ._endpoints import EndpointStore, MemoryEndpointStore, endpoint_key
from ._schedule import RetrySchedule
from ._standard import new_message_id
from .exceptions import MessageNotFoundError, WebhooksConfigurationError, WebhooksTypeError

__all__ = [
    "MAX_BATCH",
    "Claim",
    "MemoryOutbox",
    "Outbox",
    "Outcome",
    "SendSignal",
    "check_claim",
    "check_claims",
    "check_outbox_parts",
    "check_outcomes",
    "encode_payload",
    "message_key",
]

# The most deliveries one claim or one result batch may carry.
MAX_BATCH: Final = 10_000


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery a worker holds a lease on: what to send and the token that proves the lease."""

    delivery_id: int
    message_id: str
    endpoint_id: str
    attempt: int
    event_type: str
    body: bytes
    token: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result, for `Outbox.settle`.

    Attributes:
        claim: The claim the attempt was made under.
        status: The delivery's new status.
        next_attempt_at: When a ``PENDING`` delivery is due again (required then; ignored otherwise).
        attempt: The attempt to log, or ``None`` when nothing was sent (a cancelled delivery).

    Raises:
        WebhooksTypeError: A field has the wrong type.
        WebhooksConfigurationError: A pending outcome has no due time.
    """

    claim: Claim
    status: DeliveryStatus
    next_attempt_at: datetime | None
    attempt: Attempt | None

    def __post_init__(self) -> None:
        if not isinstance(self.claim, Claim):
            raise WebhooksTypeError("claim", "a Claim", self.claim)
        if not isinstance(self.status, DeliveryStatus):
            raise WebhooksConfigurationError("status", self.status, "must be a DeliveryStatus")
        if self.next_attempt_at is not None:
            aware_datetime("next_attempt_at", self.next_attempt_at)
        elif self.status is DeliveryStatus.PENDING:
            raise WebhooksConfigurationError(
                "next_attempt_at", None, "a PENDING outcome needs the time its next attempt is due"
            )
        if self.attempt is not None and not isinstance(self.attempt, Attempt):
            raise WebhooksTypeError("attempt", "an Attempt or None", self.attempt)


@runtime_checkable
class Outbox(Protocol):
    """**Protocol**: where `DeliveryWorker` takes deliveries from and records their results.

    `MemoryOutbox` (one process) and `PostgresOutbox` (durable, many workers) implement it; the
    ``OutboxContract`` suite of buttress-testing checks an implementation of your own.

    ``claim`` hands each due delivery to one worker at a time under a lease, and buries the ones with
    no attempt left under ``schedule`` (dead: "lease expired on the last attempt" when the worker that
    held it never recorded a result). ``settle`` records results where the claim's token still holds
    the lease (and logs every attempt either way). ``release`` gives unsent claims back without using
    their attempt. ``cancel_endpoint`` cancels the pending deliveries of a disabled endpoint.
    """

    @property
    def clock(self) -> Clock:
        """The outbox's time source, which the worker uses too."""
        ...

    @property
    def schedule(self) -> RetrySchedule:
        """The retry schedule: how many attempts a delivery gets, and the delays between them."""
        ...

    @property
    def endpoints(self) -> EndpointStore:
        """Where the endpoints the deliveries go to are stored."""
        ...

    async def claim(self, *, limit: int, lease: float, token: str) -> tuple[list[Claim], list[DeadDelivery]]:
        """Lease up to ``limit`` due deliveries under ``token``; return them and those found dead."""
        ...

    async def settle(self, outcomes: Sequence[Outcome]) -> tuple[set[int], dict[str, datetime]]:
        """Record results; return the delivery ids whose lease held, and failing endpoints' start."""
        ...

    async def release(self, claims: Sequence[Claim], *, until: datetime | None = None) -> int:
        """Give unsent claims back without using their attempt; return how many were held."""
        ...

    async def cancel_endpoint(self, endpoint_id: str) -> int:
        """Cancel every pending delivery to ``endpoint_id``; return how many."""
        ...


class SendSignal:
    """Wakes the workers of this process that wait on an outbox when a send has made work due.

    An outbox that has one (`MemoryOutbox`, `PostgresOutbox`) calls `notify` once a sent message is
    stored for good; `DeliveryWorker.run` then claims at once instead of at its next poll. The poll
    stays: it finds what other processes sent, and what a caller's own transaction committed later.
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}

    def subscribe(self) -> asyncio.Event:
        """A new event, set by every later `notify` (call from the loop that waits on it)."""
        event = asyncio.Event()
        self._waiters[event] = asyncio.get_running_loop()
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        """Stop setting ``event``."""
        self._waiters.pop(event, None)

    def notify(self) -> None:
        """Set every subscribed event (from its own loop when the sender runs in another thread)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for event, loop in list(self._waiters.items()):
            if loop is running:
                event.set()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(event.set)


def check_outbox_parts(
    endpoints: object, schedule: object, clock: object
) -> tuple[EndpointStore, RetrySchedule, Clock]:
    """The constructor arguments every outbox shares, checked."""
    if not isinstance(endpoints, EndpointStore):
        raise WebhooksTypeError("endpoints", "an EndpointStore", endpoints)
    if schedule is not None and not isinstance(schedule, RetrySchedule):
        raise WebhooksTypeError("schedule", "a RetrySchedule", schedule)
    return endpoints, schedule if schedule is not None else RetrySchedule(), clock_or_system(clock)


def check_claim(limit: object, lease: object, token: object) -> tuple[int, float, str]:
    """The arguments of ``claim``, checked."""
    return (
        positive_int("limit", limit, maximum=MAX_BATCH),
        positive_number("lease", lease),
        printable_ascii("token", token),
    )


def check_send(event_type: object, payload: object, message_id: object) -> tuple[str, bytes, str]:
    """The arguments of ``send``, checked: the event type, the encoded body and the message id."""
    text("event_type", event_type)
    body = encode_payload(payload)
    msg_id = new_message_id() if message_id is None else printable_ascii("message_id", message_id)
    return str(event_type), body, msg_id


def encode_payload(payload: object) -> bytes:
    """``payload`` as the body sent: bytes as they are, anything else as compact JSON."""
    if isinstance(payload, bytes):
        return payload
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except RecursionError:
        raise WebhooksConfigurationError("payload", type(payload).__name__, "nests too deeply") from None
    except (TypeError, ValueError) as exc:
        raise WebhooksConfigurationError(
            "payload", type(payload).__name__, f"is not JSON-serializable: {exc}"
        ) from None


def message_key(message_id: object) -> str | None:
    """``message_id`` if a message could have it (1 to 256 printable ASCII), else ``None``."""
    if isinstance(message_id, str) and 0 < len(message_id) <= 256 and message_id.isascii():
        return message_id if message_id.isprintable() else None
    return None


def check_claims(claims: object) -> list[Claim]:
    """The claims of ``release``, checked (one `Claim` is taken as a list of one)."""
    if isinstance(claims, Claim):
        claims = [claims]
    if isinstance(claims, str | bytes) or not isinstance(claims, Sequence):
        raise WebhooksTypeError("claims", "a sequence of Claim", claims)
    if len(claims) > MAX_BATCH or not all(isinstance(c, Claim) for c in claims):
        raise WebhooksConfigurationError(
            "claims", type(claims).__name__, f"must be at most {MAX_BATCH} Claim objects"
        )
    return list(claims)


def check_outcomes(outcomes: object) -> list[Outcome]:
    """The outcomes of ``settle``, checked."""
    if isinstance(outcomes, str | bytes) or not isinstance(outcomes, Sequence):
        raise WebhooksTypeError("outcomes", "a sequence of Outcome", outcomes)
    if len(outcomes) > MAX_BATCH or not all(isinstance(o, Outcome) for o in outcomes):
        raise WebhooksConfigurationError(
            "outcomes", type(outcomes).__name__, f"must be at most {MAX_BATCH} Outcome objects"
        )
    return list(outcomes)


def lease_expired_reason(attempts: int, allowed: int) -> str:
    """``last_error`` of a delivery whose last attempt's lease ran out with no result recorded."""
    return f"lease expired on the last attempt ({attempts} of {allowed}): the worker recorded no result"


def no_attempt_left_reason(allowed: int) -> str:
    """``last_error`` of a delivery found due with every attempt used and no lease held."""
    return f"no attempt left under the retry schedule ({allowed} attempts)"


@dataclass(slots=True)
class _Row:
    """A delivery as `MemoryOutbox` keeps it (`Delivery` plus the lease token)."""

    delivery: Delivery
    token: str | None = None


class MemoryOutbox:
    """An `Outbox` in memory: the embedded default for one process (lost on exit).

    It follows `PostgresOutbox`'s rules exactly (the same conformance suite runs on both), so code
    written against it moves to PostgreSQL unchanged; use it for a first try, tests and single-process
    tools.

    Args:
        endpoints: Where subscribers are found (any `EndpointStore`; a new `MemoryEndpointStore`
            when omitted).
        schedule: The retry schedule; its first delay sets when a new message is first due.
        clock: The time source.

    Examples:
        >>> outbox = MemoryOutbox()
        >>> outbox.schedule.attempts
        8
    """

    def __init__(
        self,
        endpoints: EndpointStore | None = None,
        *,
        schedule: RetrySchedule | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._endpoints, self._schedule, self._clock = check_outbox_parts(
            MemoryEndpointStore() if endpoints is None else endpoints, schedule, clock
        )
        self._messages: dict[str, Message] = {}
        self._rows: dict[int, _Row] = {}
        self._by_pair: dict[tuple[str, str], int] = {}
        self._attempts: list[Attempt] = []
        self._failing: dict[str, datetime | None] = {}
        self._ids = itertools.count(1)
        self._sends = SendSignal()

    @property
    def clock(self) -> Clock:
        """The outbox's time source."""
        return self._clock

    @property
    def schedule(self) -> RetrySchedule:
        """The retry schedule."""
        return self._schedule

    @property
    def endpoints(self) -> EndpointStore:
        """Where subscribers are found."""
        return self._endpoints

    async def send(self, event_type: str, payload: object, *, message_id: str | None = None) -> Message:
        """Record a message and a delivery to every enabled endpoint subscribed to ``event_type``.

        Args:
            event_type: The event's type, matched against each endpoint's ``event_types``.
            payload: ``bytes`` sent as they are, or a JSON-serializable value (encoded compactly).
            message_id: An id for idempotency: sending the same id twice records it once and returns
                the message already stored. A fresh ``msg_...`` id by default.

        Raises:
            WebhooksConfigurationError: ``event_type``, ``payload`` or ``message_id`` is invalid.
        """
        event_type, body, msg_id = check_send(event_type, payload, message_id)
        targets = [e.id for e in await self._endpoints.list(event_type=event_type, enabled=True)]
        stored = self._messages.get(msg_id)
        if stored is not None:
            return stored
        now = self._clock.now()
        message = self._messages[msg_id] = Message(msg_id, event_type, body, now)
        due = now + timedelta(seconds=self._schedule.first_delay)
        for endpoint_id in targets:
            self._add(msg_id, endpoint_id, due, now)
        if targets:
            self._sends.notify()
        return message

    def _add(self, message_id: str, endpoint_id: str, due: datetime, now: datetime) -> None:
        delivery_id = next(self._ids)
        self._rows[delivery_id] = _Row(
            Delivery(
                id=delivery_id,
                message_id=message_id,
                endpoint_id=endpoint_id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=due,
                last_attempt_at=None,
                last_status_code=None,
                last_error=None,
                created_at=now,
                finished_at=None,
            )
        )
        self._by_pair[message_id, endpoint_id] = delivery_id

    async def message(self, message_id: str) -> Message:
        """Return a stored message.

        Raises:
            MessageNotFoundError: There is none with this id.
        """
        message = self._messages.get(message_key(message_id) or "")
        if message is None:
            raise MessageNotFoundError(str(message_id))
        return message

    async def deliveries(self, message_id: str) -> list[Delivery]:
        """Return the deliveries of one message, ordered by endpoint id."""
        key = message_key(message_id)
        found = [r.delivery for r in self._rows.values() if r.delivery.message_id == key]
        return sorted(found, key=lambda d: d.endpoint_id)

    async def attempts(self, message_id: str) -> list[Attempt]:
        """Return every attempt logged for one message, oldest first."""
        key = message_key(message_id)
        return [a for a in self._attempts if a.message_id == key]

    async def counts(self) -> dict[DeliveryStatus, int]:
        """Return how many deliveries are in each status."""
        found = dict.fromkeys(DeliveryStatus, 0)
        for row in self._rows.values():
            found[row.delivery.status] += 1
        return found

    async def requeue(self, message_id: str, *, endpoint_id: str | None = None) -> int:
        """Send a message again: its finished deliveries (or the one to ``endpoint_id``) restart now.

        See `PostgresOutbox.requeue`.

        Raises:
            MessageNotFoundError: There is no such message.
            EndpointNotFoundError: ``endpoint_id`` names no endpoint.
        """
        message = await self.message(message_id)
        now = self._clock.now()
        if endpoint_id is None:
            rows = [r for r in self._rows.values() if r.delivery.message_id == message.id]
            return sum(self._restart(row, now) for row in rows)
        await self._endpoints.get(endpoint_id)
        delivery_id = self._by_pair.get((message.id, endpoint_id))
        if delivery_id is None:
            self._add(message.id, endpoint_id, now, now)
            return 1
        return int(self._restart(self._rows[delivery_id], now))

    async def recover(self, since: datetime, *, endpoint_id: str | None = None) -> int:
        """Restart every delivery that died or was cancelled at or after ``since`` (or one endpoint's).

        See `PostgresOutbox.recover`.
        """
        aware_datetime("since", since)
        if endpoint_id is not None and endpoint_key(endpoint_id) is None:
            return 0
        now = self._clock.now()
        restarted = 0
        for row in self._rows.values():
            d = row.delivery
            if (
                d.status in (DeliveryStatus.DEAD, DeliveryStatus.CANCELLED)
                and d.finished_at is not None
                and d.finished_at >= since
                and (endpoint_id is None or d.endpoint_id == endpoint_id)
            ):
                restarted += self._restart(row, now)
        return restarted

    @staticmethod
    def _restart(row: _Row, now: datetime) -> bool:
        if row.delivery.status is DeliveryStatus.PENDING:
            return False
        row.delivery = replace(
            row.delivery, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, finished_at=None
        )
        row.token = None
        return True

    async def claim(self, *, limit: int, lease: float, token: str) -> tuple[list[Claim], list[DeadDelivery]]:
        """Lease due deliveries for ``lease`` seconds, and bury those with no attempt left.

        The rules are `PostgresOutbox.claim`'s.
        """
        limit, seconds, token = check_claim(limit, lease, token)
        now = self._clock.now()
        allowed = self._schedule.attempts
        due = sorted(
            (
                r
                for r in self._rows.values()
                if r.delivery.status is DeliveryStatus.PENDING
                and r.delivery.next_attempt_at is not None
                and r.delivery.next_attempt_at <= now
            ),
            key=lambda r: (r.delivery.next_attempt_at or now, r.delivery.id),
        )[:limit]
        claims: list[Claim] = []
        dead: list[DeadDelivery] = []
        for row in due:
            d = row.delivery
            message = self._messages[d.message_id]
            if d.attempts < allowed:
                row.delivery = replace(
                    d,
                    attempts=d.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=seconds),
                    last_attempt_at=now,
                )
                row.token = token
                claims.append(
                    Claim(
                        d.id,
                        d.message_id,
                        d.endpoint_id,
                        d.attempts + 1,
                        message.event_type,
                        message.body,
                        token,
                    )
                )
                continue
            expired = row.token is not None
            row.delivery = replace(
                d,
                status=DeliveryStatus.DEAD,
                next_attempt_at=None,
                finished_at=now,
                last_status_code=None if expired else d.last_status_code,
                last_error=lease_expired_reason(d.attempts, allowed)
                if expired
                else no_attempt_left_reason(allowed),
            )
            row.token = None
            dead.append(
                DeadDelivery(
                    delivery_id=d.id,
                    message_id=d.message_id,
                    endpoint_id=d.endpoint_id,
                    event_type=message.event_type,
                    attempts=d.attempts,
                    last_status_code=row.delivery.last_status_code,
                    last_error=row.delivery.last_error,
                )
            )
        return claims, dead

    async def settle(self, outcomes: Sequence[Outcome]) -> tuple[set[int], dict[str, datetime]]:
        """Record a batch of results: applied where the lease is still held, every attempt logged.

        The rules are `PostgresOutbox.settle`'s.
        """
        outcomes = check_outcomes(outcomes)
        if not outcomes:
            return set(), {}
        now = self._clock.now()
        allowed = self._schedule.attempts
        held: set[int] = set()
        for outcome in outcomes:
            row = self._rows.get(outcome.claim.delivery_id)
            if row is None or row.token is None or row.token != outcome.claim.token:
                continue
            held.add(row.delivery.id)
            status, due = outcome.status, outcome.next_attempt_at
            finished: datetime | None = None if status is DeliveryStatus.PENDING else now
            if status is not DeliveryStatus.PENDING:
                due = None
            elif row.delivery.attempts >= allowed:
                # A delivery with no attempt left is never queued again, whatever the caller asked.
                status, due, finished = DeliveryStatus.DEAD, None, now
            attempt = outcome.attempt
            row.delivery = replace(
                row.delivery,
                status=status,
                next_attempt_at=due,
                finished_at=finished,
                last_status_code=attempt.status_code if attempt else None,
                last_error=attempt.error if attempt else None,
            )
            row.token = None
        self._attempts.extend(o.attempt for o in outcomes if o.attempt is not None)
        healthy = {o.claim.endpoint_id for o in outcomes if o.status is DeliveryStatus.DELIVERED}
        failing = {o.claim.endpoint_id for o in outcomes if o.attempt is not None} - healthy
        for endpoint_id in healthy:
            if endpoint_id in self._failing:
                self._failing[endpoint_id] = None
        since: dict[str, datetime] = {}
        for endpoint_id in failing:
            started = self._failing.get(endpoint_id) or now
            self._failing[endpoint_id] = since[endpoint_id] = started
        return held, since

    async def release(self, claims: Sequence[Claim], *, until: datetime | None = None) -> int:
        """Give claimed deliveries back without counting their attempt (see `PostgresOutbox.release`)."""
        items = check_claims(claims)
        due = self._clock.now() if until is None else aware_datetime("until", until)
        released = 0
        for claim in items:
            row = self._rows.get(claim.delivery_id)
            if row is None or row.token != claim.token or row.delivery.status is not DeliveryStatus.PENDING:
                continue
            row.delivery = replace(
                row.delivery, next_attempt_at=due, attempts=max(row.delivery.attempts - 1, 0)
            )
            row.token = None
            released += 1
        return released

    async def cancel_endpoint(self, endpoint_id: str) -> int:
        """Cancel every pending delivery to ``endpoint_id`` (after it was disabled); return how many."""
        if endpoint_key(endpoint_id) is None:
            return 0
        now = self._clock.now()
        cancelled = 0
        for row in self._rows.values():
            d = row.delivery
            if d.endpoint_id == endpoint_id and d.status is DeliveryStatus.PENDING:
                row.delivery = replace(
                    d, status=DeliveryStatus.CANCELLED, finished_at=now, next_attempt_at=None
                )
                row.token = None
                cancelled += 1
        return cancelled
