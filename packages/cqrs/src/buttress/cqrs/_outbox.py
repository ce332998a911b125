"""Durable events: the `EventOutbox` Protocol, `MemoryOutbox` (the embedded default) and `OutboxRelay`."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from buttress.core import AsyncResource, BackgroundTask, EventHandler, check_count, check_seconds

from ._events import check_event_handler
from ._metrics import OUTBOX_RELAYED
from ._transactions import MemoryUnitOfWork, UnitOfWork
from .exceptions import CQRSConfigurationError, CQRSTypeError

__all__ = ["EventOutbox", "MemoryOutbox", "OutboxEntry", "OutboxRelay"]

logger = logging.getLogger(__name__)

_MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One event stored in an outbox.

    Attributes:
        id: Unique within the outbox; `EventOutbox.ack` takes it.
        event: The event, as it was put.
        position: Its place in the outbox's order: entries are claimed by increasing position.
    """

    id: str
    event: object
    position: int


class EventOutbox(Protocol):
    """**Protocol**: durable storage of domain events between a command's commit and their delivery.

    `TransactionMiddleware` puts a command's events in the command's unit of work, so they are
    stored exactly when its work is; an `OutboxRelay` then claims them in order, publishes them and
    acks them. Delivery is at least once: an entry claimed but not acked (the relay crashed, a
    handler failed) is claimed again. `buttress.testing.EventOutboxContract` checks an
    implementation.

    Methods:
        put: Store events inside ``unit_of_work``: claimable once it commits, gone if it rolls back.
        claim: Up to ``limit`` unacked entries, oldest first (the same ones again until acked).
        ack: Mark entries delivered, so they are never claimed again; unknown ids are ignored.
    """

    async def put(self, events: Sequence[object], unit_of_work: UnitOfWork) -> None:
        """Store ``events``, in order, as part of ``unit_of_work``."""
        ...

    async def claim(self, limit: int) -> Sequence[OutboxEntry]:
        """Return up to ``limit`` unacked entries by increasing position."""
        ...

    async def ack(self, ids: Sequence[str]) -> None:
        """Mark these entries delivered."""
        ...


def check_limit(limit: object) -> int:
    """``limit`` for `EventOutbox.claim`: an int from 1 to 10,000."""
    return check_count("limit", limit, minimum=1, maximum=_MAX_BATCH, error=CQRSConfigurationError)


def check_ids(ids: object) -> list[str]:
    """``ids`` for `EventOutbox.ack`: a sequence of str."""
    if (
        isinstance(ids, str | bytes)
        or not isinstance(ids, Sequence)
        or not all(isinstance(i, str) for i in ids)
    ):
        raise CQRSTypeError("ids", "a sequence of str", ids)
    return list(ids)


class MemoryOutbox:
    """An `EventOutbox` in memory, joined to `MemoryUnitOfWork` (one process; lost on exit).

    It shows the outbox's semantics without a server: events become claimable only when their unit
    of work commits. It is not durable; a durable outbox stores events in the same database
    transaction as the command's work.
    """

    __slots__ = ("_entries", "_next")

    def __init__(self) -> None:
        self._entries: dict[str, OutboxEntry] = {}
        self._next = 0

    @property
    def pending(self) -> int:
        """How many entries are not acked."""
        return len(self._entries)

    async def put(self, events: Sequence[object], unit_of_work: UnitOfWork) -> None:
        """Store ``events`` when ``unit_of_work`` (a `MemoryUnitOfWork`) commits.

        Raises:
            CQRSTypeError: ``events`` is not a sequence, or ``unit_of_work`` is not a `MemoryUnitOfWork`.
        """
        if isinstance(events, str | bytes) or not isinstance(events, Sequence):
            raise CQRSTypeError("events", "a sequence of events", events)
        if not isinstance(unit_of_work, MemoryUnitOfWork):
            raise CQRSTypeError("unit_of_work", "a MemoryUnitOfWork", unit_of_work)
        staged = list(events)
        unit_of_work.on_commit(lambda: self._store(staged))

    def _store(self, events: list[object]) -> None:
        for event in events:
            entry = OutboxEntry(secrets.token_hex(8), event, self._next)
            self._next += 1
            self._entries[entry.id] = entry

    async def claim(self, limit: int) -> list[OutboxEntry]:
        """Return up to ``limit`` unacked entries, oldest first.

        Raises:
            CQRSConfigurationError: ``limit`` is not an int from 1 to 10,000.
        """
        count = check_limit(limit)
        found: list[OutboxEntry] = []
        for entry in self._entries.values():  # insertion order is position order
            if len(found) == count:
                break
            found.append(entry)
        return found

    async def ack(self, ids: Sequence[str]) -> None:
        """Forget these entries; unknown ids are ignored.

        Raises:
            CQRSTypeError: ``ids`` is not a sequence of str.
        """
        for entry_id in check_ids(ids):
            self._entries.pop(entry_id, None)


class OutboxRelay(AsyncResource):
    """Publishes an outbox's events, in order, at least once, and acks what was delivered.

    Call `relay_once` yourself (after each command, from a scheduler), or `start` a background loop
    that `aclose` stops. A batch stops at the first event whose publication raises: it and those
    after it stay in the outbox, to be claimed again, so order is kept.

    Args:
        outbox: The `EventOutbox` to drain.
        events: Where each event goes: an `EventBus`, or any core `EventHandler`.
        batch: How many entries one `relay_once` claims (1 to 10,000).
    """

    __slots__ = ("_batch", "_events", "_outbox", "_task")

    def __init__(self, outbox: EventOutbox, events: EventHandler[object], *, batch: int = 100) -> None:
        super().__init__()
        for method in ("put", "claim", "ack"):
            if not callable(getattr(outbox, method, None)):
                raise CQRSTypeError("outbox", "an EventOutbox (put, claim, ack)", outbox)
        self._outbox = outbox
        self._events = check_event_handler("events", events)
        self._batch = check_limit(batch)
        self._task: BackgroundTask | None = None

    async def relay_once(self) -> int:
        """Claim one batch, publish it in order, ack what was delivered; return how many were.

        A publication that raises is logged and counted; that entry and the rest wait for the next
        call.
        """
        entries = await self._outbox.claim(self._batch)
        delivered: list[str] = []
        try:
            for entry in entries:
                try:
                    await self._events.handle(entry.event)
                except Exception as exc:  # noqa: BLE001 - kept for the next claim: at least once
                    logger.warning(
                        "outbox entry %s stays for a retry: %s", entry.position, type(exc).__name__
                    )
                    OUTBOX_RELAYED.add(1, {"cqrs.outcome": "failed"})
                    break
                delivered.append(entry.id)
                OUTBOX_RELAYED.add(1, {"cqrs.outcome": "delivered"})
        finally:
            if delivered:
                await self._outbox.ack(delivered)
        return len(delivered)

    def start(self, interval: float = 1.0) -> None:
        """Relay in the background: a full batch is followed at once by the next, else ``interval`` waits.

        Raises:
            CQRSConfigurationError: ``interval`` is not a positive number of seconds.
        """
        pause = check_seconds("interval", interval, error=CQRSConfigurationError)
        if self._task is not None:
            return

        async def loop() -> None:
            while True:
                if await self.relay_once() < self._batch:
                    await asyncio.sleep(pause)

        self._task = BackgroundTask("buttress.cqrs outbox relay", loop, logger=logger, restart_delay=pause)
        self._task.start()

    async def _aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await task.aclose()
