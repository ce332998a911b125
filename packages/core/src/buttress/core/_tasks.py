"""A supervised background task: started once, restarted after a crash, stopped cleanly.

Workers, refreshers, reapers and listeners of the suite all need the same thing: run a coroutine in
the background, log and restart it (with capped exponential backoff) when it fails, and stop it on
``aclose()`` without leaving a task behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ._checks import check_seconds, check_text
from ._resources import AsyncResource
from .exceptions import ArgumentTypeError, ButtressError

__all__ = ["BackgroundTask"]


class BackgroundTask(AsyncResource):
    """Run ``work`` in the background until it returns or the task is stopped.

    Args:
        name: Names the asyncio task and the log lines.
        work: The coroutine function to run. If it raises, the error is logged with its traceback
            and ``work`` runs again after ``restart_delay`` seconds, doubling up to
            ``max_restart_delay`` while it keeps failing; a run that returns ends the task.
        logger: Where crashes are logged (the package's ``logging.getLogger(__name__)``).
        restart_delay: The first wait before a restart.
        max_restart_delay: The longest wait between restarts.

    Examples:
        >>> async def refresh() -> None: ...
        >>> task = BackgroundTask("refresher", refresh, logger=logging.getLogger("example"))
    """

    __slots__ = ("_logger", "_max_delay", "_restart_delay", "_task", "_work", "crashes", "name")

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        *,
        logger: logging.Logger,
        restart_delay: float = 1.0,
        max_restart_delay: float = 30.0,
    ) -> None:
        super().__init__()
        self.name = check_text("name", name)
        if not callable(work):
            raise ArgumentTypeError("work", "a coroutine function", work)
        if not isinstance(logger, logging.Logger):
            raise ArgumentTypeError("logger", "a logging.Logger", logger)
        self._work = work
        self._logger = logger
        self._restart_delay = check_seconds("restart_delay", restart_delay, allow_zero=True)
        self._max_delay = max(self._restart_delay, check_seconds("max_restart_delay", max_restart_delay))
        self._task: asyncio.Task[None] | None = None
        self.crashes = 0

    @property
    def running(self) -> bool:
        """Whether the task has been started and has not finished."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the task on the running event loop (once).

        Raises:
            ButtressError: The task was stopped, or there is no running event loop.
        """
        if self.closed:
            raise ButtressError(f"background task {self.name!r} was stopped; make a new one")
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ButtressError(f"background task {self.name!r} needs a running event loop") from None
        self._task = loop.create_task(self._supervise(), name=self.name)

    async def _supervise(self) -> None:
        delay = self._restart_delay
        while True:
            try:
                await self._work()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.crashes += 1
                self._logger.exception("%s failed; restarting in %.3g s", self.name, delay)
                await asyncio.sleep(delay)
                delay = min(max(delay * 2, 0.001), self._max_delay)
            else:
                return

    async def _aclose(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
