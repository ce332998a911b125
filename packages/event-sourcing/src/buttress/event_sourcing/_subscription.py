"""`Subscription`: an asyncio catch-up subscription over the global log, with a checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ._records import RecordedEvent, check_interval, check_name, check_position
from ._store import CheckpointStore, EventStore, NotifyingEventStore
from .exceptions import EventSourcingConfigurationError, EventStoreUnavailableError

__all__ = ["Subscription"]

logger = logging.getLogger("buttress.event_sourcing")

type Handler = Callable[[RecordedEvent], Awaitable[None]]


class Subscription:
    """Feeds every event of the global log, in position order, to ``handler``, and remembers how far it got.

    It starts after the position saved under ``name`` in ``checkpoints``, reads `EventStore.read_all`
    in pages, calls ``handler`` for each event, and saves the position after each page. When it has
    caught up it waits: on `NotifyingEventStore.wait_for_events` (LISTEN/NOTIFY on PostgreSQL) if the
    store has it, else by polling every ``poll_interval`` seconds.

    Delivery is at-least-once: a crash after the handler ran but before the checkpoint was saved
    replays those events. For exactly-once into PostgreSQL tables use `PostgresProjectionRunner`,
    which commits the projection's writes and the checkpoint in one transaction.

    Args:
        store: The store to follow.
        handler: Called with each `RecordedEvent`; an exception stops the subscription (the events
            after the last saved checkpoint are delivered again on the next start).
        name: The checkpoint's name.
        checkpoints: Where the checkpoint lives (both stores are checkpoint stores).
        batch_size: Events per ``read_all`` page.
        poll_interval: Seconds between checks when the store cannot notify (and the longest wait for a
            notification).
    """

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
            raise EventSourcingConfigurationError("store", type(store).__name__, "must be an EventStore")
        if not callable(handler):
            raise EventSourcingConfigurationError("handler", handler, "must be an async callable")
        if not isinstance(checkpoints, CheckpointStore):
            raise EventSourcingConfigurationError(
                "checkpoints", type(checkpoints).__name__, "must be a CheckpointStore"
            )
        check_name(name)
        check_position(batch_size, "batch_size", 1)
        self.store = store
        self.handler = handler
        self.name = name
        self.checkpoints = checkpoints
        self.batch_size = batch_size
        self.poll_interval = check_interval(poll_interval, "poll_interval")
        self.position: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def catch_up(self) -> int:
        """Process every event stored now past the checkpoint; return how many were handled."""
        if self.position is None:
            self.position = await self.checkpoints.load_checkpoint(self.name)
        handled = 0
        while True:
            page = await self.store.read_all(self.position, self.batch_size)
            if not page:
                return handled
            for record in page:
                await self.handler(record)
                self.position = record.position
                handled += 1
            await self.checkpoints.save_checkpoint(self.name, self.position)

    async def run(self) -> None:
        """Catch up, then follow new events until cancelled.

        While the store is unreachable (`EventStoreUnavailableError`), it logs a warning and retries
        every ``poll_interval`` seconds (up to 30 s apart as failures repeat); a handler's own exception
        ends the run.
        """
        failures = 0
        while True:
            try:
                await self.catch_up()
                if isinstance(self.store, NotifyingEventStore):
                    await self.store.wait_for_events(self.position or 0, self.poll_interval)
                else:
                    await asyncio.sleep(self.poll_interval)
                failures = 0
            except EventStoreUnavailableError as exc:
                failures += 1
                logger.warning("subscription %r cannot reach the store (%s); retrying", self.name, exc.reason)
                await asyncio.sleep(min(30.0, self.poll_interval * 2 ** min(failures - 1, 5)))

    def start(self) -> asyncio.Task[None]:
        """Run `run` in a background task and return it."""
        if self._task is not None and not self._task.done():
            raise EventSourcingConfigurationError("subscription", self.name, "is running already")
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"subscription:{self.name}")
        return self._task

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def __repr__(self) -> str:
        return f"Subscription(name={self.name!r}, position={self.position})"
