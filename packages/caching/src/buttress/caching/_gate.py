"""`Gate`: a first-come, first-served bound on calls in flight whose free entry does not await."""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class Gate:
    """At most ``limit`` holders at once; the others wait in arrival order.

    Like ``asyncio.Semaphore`` (which it replaces on the caches' hot paths), with `try_enter`: when a
    place is free and nobody waits, it is taken without an ``await``, so a cache hit under the
    bound costs two attribute updates. A place is handed straight to the first waiter when it is
    left, so a newcomer never overtakes a waiter.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_enter(self) -> bool:
        """Take a place if one is free and nobody waits; return whether it was taken."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def enter(self) -> None:
        """Take a place, waiting behind the earlier arrivals for one."""
        if self.try_enter():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # the place was handed over as the caller was cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        """Give the place back: to the first waiter, or to the free ones."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.enter()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.leave()
