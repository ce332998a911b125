"""`Subscription`: an asyncio catch-up subscription over the global log, with a checkpoint."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from buttress.core import AsyncResource, BackgroundTask

from ._metrics import EVENTS_HANDLED
from ._records import RecordedEvent, check_interval, check_name, check_position
from ._store import CheckpointStore, EventStore, NotifyingEventStore
from .exceptions import (
    EventSourcingConfigurationError,
    EventSourcingError,
    EventSourcingTypeError,
    EventSourcingUnavailableError,
)

__all__ = ["Subscription"]

logger = logging.getLogger(__name__)

type Handler = Callable[[RecordedEvent], Awaitable[None]]


class Subscription(AsyncResource):
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
        self._task: BackgroundTask | None = None

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

    async def run(self) -> None:
        """Catch up, then follow new events until cancelled.

        While the store is unreachable (`EventSourcingUnavailableError`), it logs a warning and retries
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
            except EventSourcingUnavailableError as exc:
                failures += 1
                logger.warning("subscription %r cannot reach the store (%s); retrying", self.name, exc.reason)
                await asyncio.sleep(min(30.0, self.poll_interval * 2 ** min(failures - 1, 5)))

    @property
    def running(self) -> bool:
        """Whether `start` started the background task and it has not ended."""
        return self._task is not None and self._task.running

    @property
    def crashes(self) -> int:
        """How many times the background task's handler (or the store) failed and it restarted."""
        return 0 if self._task is None else self._task.crashes

    def start(self) -> None:
        """Run `run` in a supervised background task, until `aclose`.

        Raises:
            EventSourcingConfigurationError: It is running already.
            EventSourcingError: It was closed, or there is no running event loop.
        """
        if self.closed:
            raise EventSourcingError(f"subscription {self.name!r} was closed; make a new one")
        if self.running:
            raise EventSourcingConfigurationError("subscription", self.name, "is running already")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise EventSourcingError(
                f"subscription {self.name!r} must be started inside a running event loop"
            ) from None
        self._task = BackgroundTask(f"subscription:{self.name}", self.run, logger=logger)
        self._task.start()

    async def _aclose(self) -> None:
        """Cancel the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            await task.aclose()

    def __repr__(self) -> str:
        return f"Subscription(name={self.name!r}, position={self.position})"
