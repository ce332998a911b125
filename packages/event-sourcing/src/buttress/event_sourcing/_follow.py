"""What `Subscription` and `PostgresProjectionRunner` share: following the log in a supervised task."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, ClassVar

from buttress.core import BackgroundTask

from .exceptions import EventSourcingConfigurationError, EventSourcingError, EventSourcingUnavailableError

__all__ = ["Follower"]

logger = logging.getLogger(__name__)


class Follower:
    """Catches up with the log, then waits for more, in core's `BackgroundTask` once `start`-ed.

    A mixin for an `AsyncResource` (``class Subscription(Follower, AsyncResource)``): its `_aclose`
    stops the task. Subclasses give `catch_up` (process what is stored now), `_wait` (until there may
    be more, at most ``poll_interval`` seconds) and `_label` (their name in messages and the task's).
    """

    #: What the follower is called in messages ("subscription", "projection runner").
    _kind: ClassVar[str]
    #: The parameter named when it is started twice.
    _parameter: ClassVar[str]
    #: The prefix of the background task's name.
    _task_prefix: ClassVar[str]

    poll_interval: float
    _task: BackgroundTask | None

    if TYPE_CHECKING:

        @property
        def closed(self) -> bool:
            """`AsyncResource.closed`."""
            ...

    @property
    def _label(self) -> str:
        raise NotImplementedError

    async def catch_up(self) -> int:
        """Process every event stored now past the checkpoint; return how many were processed."""
        raise NotImplementedError

    async def _wait(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Catch up, then follow new events until cancelled.

        While the store is unreachable (`EventSourcingUnavailableError`) it logs a warning and retries,
        ``poll_interval`` seconds apart at first, backing off up to 30 s as failures repeat; any other
        exception (from the handler or the projection) ends the run.
        """
        failures = 0
        while True:
            try:
                await self.catch_up()
                await self._wait()
                failures = 0
            except EventSourcingUnavailableError as exc:
                failures += 1
                logger.warning(
                    "%s %r cannot reach the store (%s); retrying", self._kind, self._label, exc.reason
                )
                await asyncio.sleep(min(30.0, self.poll_interval * 2 ** min(failures - 1, 5)))

    @property
    def running(self) -> bool:
        """Whether `start` started the background task and it has not ended."""
        return self._task is not None and self._task.running

    @property
    def crashes(self) -> int:
        """How many times the background task failed (a handler or projection raised) and restarted."""
        return 0 if self._task is None else self._task.crashes

    def start(self) -> None:
        """Run `run` in a supervised background task, until `aclose`.

        Raises:
            EventSourcingConfigurationError: It is running already.
            EventSourcingError: It was closed, or there is no running event loop.
        """
        label = self._label
        if self.closed:
            raise EventSourcingError(f"{self._kind} {label!r} was closed; make a new one")
        if self.running:
            raise EventSourcingConfigurationError(self._parameter, label, "is running already")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise EventSourcingError(
                f"{self._kind} {label!r} must be started inside a running event loop"
            ) from None
        self._task = BackgroundTask(f"{self._task_prefix}:{label}", self.run, logger=logger)
        self._task.start()

    async def _aclose(self) -> None:
        """Cancel the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            await task.aclose()
