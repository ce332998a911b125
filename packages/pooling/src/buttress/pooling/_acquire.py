"""Handing resources out and taking them back: `AcquireContext`, waiting in line, release."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Generator
from types import TracebackType
from typing import Any

from ._accounting import Slot, State
from ._config import check_flag, check_pool_seconds
from ._lifecycle import PoolCore
from ._metrics import ACQUIRE_DURATION, EXHAUSTED, TIMEOUTS
from .exceptions import (
    ForeignResourceError,
    PoolClosedError,
    PoolExhaustedError,
    PoolTimeoutError,
    PoolTypeError,
)

logger = logging.getLogger(__name__)


class _Expired(Exception):  # noqa: N818 - private: what the line's timer sets on a waiter past its deadline
    """A waiter's deadline came before a resource did; `Acquiring._wait` raises `PoolTimeoutError`."""


class AcquireContext[R]:
    """What `Pool.acquire` returns: await it for a resource, or use it with ``async with``.

    ``async with pool.acquire() as resource:`` gives the resource back when the block ends, however
    it ends. ``resource = await pool.acquire()`` leaves that to you: call `Pool.release`.
    """

    __slots__ = ("_pool", "_resource", "_timeout")

    def __init__(self, pool: Acquiring[R], timeout: float | None) -> None:
        if not isinstance(pool, Acquiring):
            raise PoolTypeError("pool", "a Pool", pool)
        self._pool = pool
        self._timeout = None if timeout is None else check_pool_seconds("timeout", timeout)
        self._resource: R | None = None

    def __await__(self) -> Generator[Any, None, R]:
        return self._pool._acquire(self._timeout).__await__()

    async def __aenter__(self) -> R:
        self._resource = await self._pool._acquire(self._timeout)
        return self._resource

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        resource, self._resource = self._resource, None
        if resource is not None:
            await self._pool.release(resource)


class Acquiring[R](PoolCore[R]):
    """`acquire` and `release`, over the shared state of `PoolCore`."""

    def acquire(self, *, timeout: float | None = None) -> AcquireContext[R]:
        """Get a resource: ``async with pool.acquire() as r:`` or ``r = await pool.acquire()``.

        The first acquire of a pool that was not opened starts it (health loop, ``min_size``
        creations in the background).

        Args:
            timeout: Seconds to wait; default the config's ``timeout``.

        Raises:
            PoolTimeoutError: No resource within the timeout (the message gives the last creation
                error when creating failed, and ``__cause__`` is that error).
            PoolExhaustedError: ``max_waiting`` callers are already waiting.
            PoolClosedError: The pool is closing or closed.
            PoolConfigurationError: ``timeout`` is not a number of seconds above 0 (raised at once).
        """
        return AcquireContext(self, timeout)

    async def _acquire(self, timeout: float | None) -> R:
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = "error"
        try:
            slot = await self._get(timeout, loop, started)
            outcome = "acquired"
        except PoolTimeoutError:
            outcome = "timeout"
            raise
        except PoolExhaustedError:
            outcome = "exhausted"
            raise
        except PoolClosedError:
            outcome = "closed"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            ACQUIRE_DURATION.record(loop.time() - started, self._outcomes[outcome])
        self._books.totals.acquired += 1
        return slot.resource  # type: ignore[return-value] # set before a slot is offered (no cast: a call)

    async def _get(self, timeout: float | None, loop: asyncio.AbstractEventLoop, started: float) -> Slot[R]:
        if self._closing:
            raise PoolClosedError(self._closed_error_message())
        if not self._opened:
            await self.open(wait=False)
        slot = self._take_idle()
        while slot is not None and self._check_on_acquire and not await self._passes_check(slot):
            slot = self._take_idle()
        if slot is None:
            slot = await self._wait(self._config.timeout if timeout is None else timeout, loop, started)
        return slot

    def _take_idle(self) -> Slot[R] | None:
        if not self._idle:
            return None  # under contention the usual case: no clock read
        now = self._clock.monotonic()
        while self._idle:
            slot = self._idle.pop() if self._lifo else self._idle.popleft()
            if slot.expires_at <= now or slot.generation != self._generation:
                # Retired, not just destroyed: a replacement starts once the slot is gone, or a caller
                # who finds only stale resources at max_size would wait for the next health pass.
                self._spawn(self._retire(slot))
                continue
            self._books.move(slot, State.IN_USE)
            return slot
        return None

    async def _passes_check(self, slot: Slot[R]) -> bool:
        """Check a slot the caller holds (IN_USE); destroy it if it fails."""
        check = self._check_fn
        if check is None:
            return True
        failure: Exception | None = None
        try:
            healthy = bool(await check(slot.resource))
        except asyncio.CancelledError:
            self._offer(slot)
            raise
        except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy resource
            healthy, failure = False, exc
        if not healthy:
            self._failed("check", failure)
            self._books.totals.check_failures += 1
            self._books.move(slot, State.UNHEALTHY)
            await self._spawn(self._destroy(slot))
            self._after_loss()
        return healthy

    async def _wait(self, timeout: float, loop: asyncio.AbstractEventLoop, started: float) -> Slot[R]:
        books = self._books
        pool_full = len(books.slots) >= books.max_size
        max_waiting = self._config.max_waiting
        if max_waiting is not None and pool_full and len(self._waiters) >= max_waiting:
            books.totals.exhausted += 1
            EXHAUSTED.add(1, self._attributes)
            raise PoolExhaustedError(f"pool {self.name!r}: {len(self._waiters)} callers are waiting already")
        waiter: asyncio.Future[Slot[R]] = loop.create_future()
        self._waiters.append(waiter)
        # No timer per wait (asyncio.timeout would push one on the loop's heap and cancel it on every
        # handoff): the line's one timer is moved only when this deadline comes before it.
        deadline = self._deadlines[waiter] = started + timeout
        if deadline < self._expiry_at or self._expiry_loop is not loop:
            self._arm_expiry(loop, deadline)
        self._grow()
        got: Slot[R] | None = None
        try:
            got = await waiter
        except _Expired:
            books.totals.timeouts += 1
            TIMEOUTS.add(1, self._attributes)
            raise PoolTimeoutError(timeout, self._why_waiting()) from self._last_create_error
        finally:
            del self._deadlines[waiter]
            waited = loop.time() - started
            books.totals.wait_time_total += waited
            books.totals.wait_time_max = max(books.totals.wait_time_max, waited)
            if got is None:
                self._abandon(waiter)
        return got

    def _arm_expiry(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Move the line's timer to ``when`` (loop time)."""
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = loop.call_at(when, self._expire)
        self._expiry_at = when
        self._expiry_loop = loop

    def _expire(self) -> None:
        """The line's timer: fail every waiter whose deadline has come, re-arm for the next one."""
        loop, due = self._expiry_loop, self._expiry_at
        self._expiry, self._expiry_at = None, math.inf
        if loop is None:
            return
        # The loop runs a timer up to its clock resolution early: what it was armed for is due too.
        now = max(loop.time(), due)
        earliest = math.inf
        for waiter, deadline in self._deadlines.items():
            if waiter.done():
                continue
            if deadline <= now:
                waiter.set_exception(_Expired())
            elif deadline < earliest:
                earliest = deadline
        if earliest < math.inf:
            self._arm_expiry(loop, earliest)

    def _abandon(self, waiter: asyncio.Future[Slot[R]]) -> None:
        """Clean up after a wait that ends without a resource (timeout, cancellation, close).

        A resource handed over in the same instant the caller gave up goes back to the pool, so a
        cancelled or timed-out waiter never leaks one.
        """
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            self._offer(waiter.result())  # handed over: `_offer` took it out of the line
            return
        # Still in the line (cancelled, or failed by its deadline): take it out, or max_waiting
        # would count it until a release reached it.
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _why_waiting(self) -> str:
        max_size = self._books.max_size
        if self._last_create_error is not None and len(self._books.slots) < max_size:
            error = self._last_create_error
            return f"creating a resource failed: {type(error).__name__}: {error}"
        return f"all {max_size} resources are in use"

    async def release(self, resource: R, *, discard: bool = False) -> None:
        """Give ``resource`` back; with ``discard=True`` it is destroyed instead of reused.

        The resource is reset (when the factory has ``reset``) and handed to the first waiter or made
        idle. One that is past its lifetime, failed its reset, or was handed out before `drain` is
        destroyed. The work finishes even if the caller is cancelled meanwhile.

        Raises:
            ForeignResourceError: ``resource`` was not handed out by this pool, or was given back already.
            PoolTypeError: ``discard`` is not a bool.
        """
        if discard is not False:
            check_flag("discard", discard)
        key = id(resource)
        if key in self._forced:
            self._forced.discard(key)
            return  # aclose() destroyed it after its timeout; nothing left to do
        slot = self._books.by_resource.get(key)
        if slot is None or slot.resource is not resource or slot.state is not State.IN_USE:
            raise ForeignResourceError(
                f"pool {self.name!r} did not hand out this resource, or it was released"
            )
        self._books.totals.released += 1
        if not discard and self._clean(resource) and self._reusable(slot):
            self._offer(slot)  # nothing to await: no task, no trip around the event loop
            return
        # The work runs in a task of the pool's, and the caller waits on a future of its own that the
        # task completes: cancelling the caller cancels only that future, so the resource is never
        # stranded in IN_USE (what asyncio.shield does, without its two callbacks per release). Eager:
        # the reset's first round trip starts now, not one trip around the event loop later.
        returned: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._spawn(self._give_back(slot, discard, returned), eager=True)
        await returned

    def _clean(self, resource: R) -> bool:
        """Whether ``resource`` goes back without a reset: the factory has none, or says none is needed."""
        if self._reset_fn is None:
            return True
        needs_reset = self._needs_reset
        if needs_reset is None:
            return False
        try:
            return not needs_reset(resource)
        except Exception as exc:  # noqa: BLE001 - a hook that fails: reset, as without it
            logger.warning("%s: needs_reset failed (%s); resetting", self.name, type(exc).__name__)
            return False

    def _reusable(self, slot: Slot[R]) -> bool:
        return (
            not self._closing
            and len(self._books.slots) <= self._books.max_size
            and slot.generation == self._generation
            and slot.expires_at > self._clock.monotonic()
        )

    async def _give_back(self, slot: Slot[R], discard: bool, returned: asyncio.Future[None]) -> None:
        """Reset and offer (or destroy) ``slot``, then complete ``returned``, which `release` awaits."""
        try:
            await self._put_back(slot, discard)
        except asyncio.CancelledError:
            returned.cancel()
            raise
        except Exception as exc:  # a bug (PoolInvariantViolation): raised to the caller, as it happened
            if returned.done():  # the caller was cancelled: nobody is left to raise it to
                logger.exception("%s: giving a resource back failed", self.name)
            else:
                returned.set_exception(exc)
            return
        if not returned.done():
            returned.set_result(None)

    async def _put_back(self, slot: Slot[R], discard: bool) -> None:
        if discard or not self._reusable(slot):
            await self._destroy(slot)
            self._after_loss()
            return
        if self._reset_fn is not None:
            try:
                await self._reset_fn(slot.resource)
            except Exception as exc:  # noqa: BLE001 - a failed reset means the resource is not reused
                self._books.totals.reset_failures += 1
                self._failed("reset", exc)
                logger.warning(
                    "%s: reset failed (%s: %s); destroying the resource", self.name, type(exc).__name__, exc
                )
                await self._destroy(slot)
                self._after_loss()
                return
        if self._closing:  # aclose() may have begun while the reset ran
            await self._destroy(slot)
            return
        self._offer(slot)
