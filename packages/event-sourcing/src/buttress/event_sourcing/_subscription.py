"""`Subscription`: an asyncio catch-up subscription over the global log, with a checkpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from buttress.core import AsyncResource

from ._follow import Follower
from ._metrics import EVENTS_HANDLED
from ._records import RecordedEvent, check_interval, check_name, check_position
from ._store import CheckpointStore, EventStore, NotifyingEventStore
from .exceptions import EventSourcingTypeError

__all__ = ["Subscription"]


type Handler = Callable[[RecordedEvent], Awaitable[None]]


class Subscription(Follower, AsyncResource):
    """Feeds every event of the global log, in position order, to ``handler``, and remembers how far it got.

    It starts after the position saved under ``name`` in ``checkpoints``, reads `EventStore.read_all`
    in pages, calls ``handler`` for each event, and saves the position after each page. When it has
    caught up it waits: on `NotifyingEventStore.wait_for_events` (LISTEN/NOTIFY on PostgreSQL) if the
    store has it, else by polling every ``poll_interval`` seconds.

    `start` runs it in a supervised background task (core's `BackgroundTask`) and `aclose` (or leaving
    ``async with``) stops it; `catch_up` runs it once in the caller's task.

    Delivery is at-least-once: a crash after the handler ran but before the checkpoint was saved
    replays those events. For exactly-once into PostgreSQL tables use `PostgresProjectionRunner`,
    which commits the projection's writes and the checkpoint in one transaction.

    Args:
        store: The store to follow.
        handler: Called with each `RecordedEvent`. An exception ends `catch_up`; under `start`, it is
            logged and the subscription tries that event again after a pause (1 s, doubling up to
            30 s while it keeps failing); `crashes` counts the failures.
        name: The checkpoint's name.
        checkpoints: Where the checkpoint lives (both stores are checkpoint stores).
        batch_size: Events per ``read_all`` page.
        poll_interval: Seconds between checks when the store cannot notify (and the longest wait for a
            notification).
    """

    _kind = "subscription"
    _parameter = "subscription"
    _task_prefix = "subscription"

    def __init__(
        self,
        store: EventStore,
        handler: Handler,
        *,
        name: str,
        checkpoints: CheckpointStore,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        if not isinstance(store, EventStore):
            raise EventSourcingTypeError("store", "an EventStore", store)
        if not callable(handler):
            raise EventSourcingTypeError("handler", "an async callable", handler)
        if not isinstance(checkpoints, CheckpointStore):
            raise EventSourcingTypeError("checkpoints", "a CheckpointStore", checkpoints)
        check_name(name)
        check_position(batch_size, "batch_size", 1)
        super().__init__()
        self.store = store
        self.handler = handler
        self.name = name
        self.checkpoints = checkpoints
        self.batch_size = batch_size
        self.poll_interval = check_interval(poll_interval, "poll_interval")
        self.position: int | None = None
        self._attributes = {"subscription.name": name, "subscription.kind": "subscription"}
        self._task = None

    async def catch_up(self) -> int:
        """Process every event stored now past the checkpoint; return how many were handled."""
        if self.position is None:
            self.position = await self.checkpoints.load_checkpoint(self.name)
        handled = 0
        while True:
            page = await self.store.read_all(self.position, self.batch_size)
            if not page:
                return handled
            done = 0
            try:
                for record in page:
                    await self.handler(record)
                    self.position = record.position
                    done += 1
            finally:
                handled += done
                if done:
                    EVENTS_HANDLED.add(done, self._attributes)
            await self.checkpoints.save_checkpoint(self.name, self.position)

    @property
    def _label(self) -> str:
        return self.name

    async def _wait(self) -> None:
        if isinstance(self.store, NotifyingEventStore):
            await self.store.wait_for_events(self.position or 0, self.poll_interval)
        else:
            await asyncio.sleep(self.poll_interval)

    def __repr__(self) -> str:
        return f"Subscription(name={self.name!r}, position={self.position})"
