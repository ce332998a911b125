"""`Pool`: a generic async resource pool whose state counters are checked after every change."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self, cast, runtime_checkable

from buttress.core import Clock, SystemClock, check_count, check_seconds, check_text

from ._telemetry import telemetry
from .exceptions import (
    ForeignResourceError,
    PoolClosedError,
    PoolConfigurationError,
    PoolExhaustedError,
    PoolInvariantViolation,
    PoolTimeoutError,
    PoolTypeError,
)

logger = logging.getLogger("buttress.pooling")

MAX_SIZE = 100_000
"""The largest ``max_size`` (and ``min_size``) a pool accepts: more is a misconfiguration, not a pool."""


@runtime_checkable
class ResourceFactory[R](Protocol):
    """**Protocol**: makes and disposes of the resources a `Pool` holds.

    Two optional methods are used when present (they are looked up on the factory, so a plain class
    with just ``create`` and ``destroy`` is a factory too):

    - ``async check(resource) -> bool``: whether an idle resource still works (the health loop calls
      it; ``False`` or an exception means it is destroyed);
    - ``async reset(resource) -> None``: make a returned resource clean for the next user (an
      exception means it is destroyed instead of reused).

    Methods:
        create: Make a new resource. Exceptions are counted, and creation is retried with backoff.
        destroy: Dispose of a resource. Exceptions are logged and counted, never raised to callers.
    """

    async def create(self) -> R:
        """Make a new resource."""
        ...

    async def destroy(self, resource: R) -> None:
        """Dispose of ``resource``."""
        ...


class State(enum.Enum):
    """Where a pooled resource is. Every resource the pool tracks is in exactly one."""

    IDLE = "idle"
    """Ready to be handed out."""
    IN_USE = "in_use"
    """Handed out to a caller, or being checked or reset by the pool."""
    CREATING = "creating"
    """``create()`` is running for it."""
    DESTROYING = "destroying"
    """``destroy()`` is running for it."""
    UNHEALTHY = "unhealthy"
    """It failed its check and is about to be destroyed."""

    # Members are singletons compared by identity; Enum's own __hash__ is Python code, and the
    # counters look states up several times per acquire and release.
    __hash__ = object.__hash__

    @classmethod
    def _missing_(cls, value: object) -> State:
        names = ", ".join(repr(state.value) for state in cls)
        raise PoolConfigurationError("state", value, f"not a State; use one of {names}")


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool.

    Attributes:
        idle: Resources ready to hand out.
        in_use: Resources handed out (or being checked or reset).
        creating: Resources being created.
        destroying: Resources being destroyed.
        unhealthy: Resources that failed a check, about to be destroyed.
        total: All of the above; never more than ``max_size``.
        min_size: The configured minimum.
        max_size: The configured maximum.
        waiting: Callers waiting for a resource now.
        acquired: Resources handed out since the pool was made.
        released: Resources given back.
        timeouts: Acquires that timed out.
        exhausted: Acquires refused because ``max_waiting`` callers were already waiting.
        created: Resources created.
        destroyed: Resources destroyed.
        create_errors: ``create()`` calls that failed.
        destroy_errors: ``destroy()`` calls that failed.
        check_failures: Health checks that failed.
        reset_failures: Resets that failed.
        wait_time_total: Seconds callers spent waiting in ``acquire``, summed.
        wait_time_max: The longest single wait, in seconds.
    """

    idle: int
    in_use: int
    creating: int
    destroying: int
    unhealthy: int
    total: int
    min_size: int
    max_size: int
    waiting: int
    acquired: int
    released: int
    timeouts: int
    exhausted: int
    created: int
    destroyed: int
    create_errors: int
    destroy_errors: int
    check_failures: int
    reset_failures: int
    wait_time_total: float
    wait_time_max: float


@dataclass(eq=False, slots=True)
class _Slot[R]:
    number: int
    state: State | None = None
    resource: R | None = None
    expires_at: float = math.inf
    idle_since: float = 0.0
    generation: int = 0


@dataclass(slots=True)
class _Counters:
    """The running totals behind `PoolStats`."""

    acquired: int = 0
    released: int = 0
    timeouts: int = 0
    exhausted: int = 0
    created: int = 0
    destroyed: int = 0
    create_errors: int = 0
    destroy_errors: int = 0
    check_failures: int = 0
    reset_failures: int = 0
    wait_time_total: float = 0.0
    wait_time_max: float = 0.0


Order = Literal["lifo", "fifo"]


class AcquireContext[R]:
    """What `Pool.acquire` returns: await it for a resource, or use it with ``async with``.

    ``async with pool.acquire() as resource:`` gives the resource back when the block ends, however
    it ends. ``resource = await pool.acquire()`` leaves that to you: call `Pool.release`.
    """

    __slots__ = ("_pool", "_resource", "_timeout")

    def __init__(self, pool: Pool[R], timeout: float | None) -> None:
        if not isinstance(pool, Pool):
            raise PoolTypeError("pool", "a Pool", pool)
        self._pool = pool
        self._timeout = None if timeout is None else _seconds("timeout", timeout)
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


class Pool[R]:
    """A pool of any async resource, with its state counters checked after every change.

    Each resource is in one `State`; the counts change only in one place, after which the pool checks
    that they add up to the resources it tracks and that these are no more than ``max_size``, raising
    `PoolInvariantViolation` with every count if not.

    Resources live at most ``max_lifetime`` (shortened by up to ``lifetime_jitter`` at random, so they
    do not all expire together) and idle at most ``max_idle`` beyond ``min_size``. A health loop every
    ``health_check_interval`` seconds removes expired resources, checks idle ones and refills to
    ``min_size``; every destruction is awaited. Failed creations are retried with exponential backoff
    and jitter. Waiters are served first come, first served; a cancelled waiter never leaks a resource.
    `close` refuses new acquires at once, waits up to its timeout for resources in use, then destroys
    everything and awaits every destruction.

    Args:
        factory: Makes and disposes of the resources (see `ResourceFactory`).
        min_size: Resources kept ready, even when idle.
        max_size: The most resources that exist at once, in every state together; at most
            `MAX_SIZE` (100,000).
        timeout: Default seconds an ``acquire`` waits before `PoolTimeoutError`.
        max_waiting: The most callers waiting at once; beyond it ``acquire`` raises
            `PoolExhaustedError` at once. ``None``: unbounded.
        max_lifetime: Seconds after creation a resource is retired. ``None``: no limit.
        lifetime_jitter: Each lifetime is shortened by a random fraction up to this (0 to 0.5).
        max_idle: Seconds an idle resource beyond ``min_size`` is kept. ``None``: no limit.
        health_check_interval: Seconds between health passes. ``None``: no health loop (call
            `run_health_check` yourself).
        check_on_acquire: Check every idle resource (with the factory's ``check``) before handing it
            out, replacing it if it fails: a dead connection never reaches a caller, at the price of
            one check per acquire.
        order: ``"lifo"`` hands out the most recently returned resource (fewer warm resources, the
            rest can idle out); ``"fifo"`` rotates through all of them.
        backoff_initial: First delay before retrying a failed creation, in seconds.
        backoff_max: The longest delay between creation attempts.
        name: Name for logs and metrics.
        clock: Time source for lifetimes and idle times (``monotonic()``); tests pass a FakeClock.
        rng: Source of floats in [0, 1) for lifetime and backoff jitter.

    Every duration is a finite number of seconds above zero and at most 100 years
    (`buttress.core.MAX_SECONDS`). Every method checks all of its arguments before it changes
    anything, so a call refused with `PoolConfigurationError` or `PoolTypeError` leaves the pool as
    it was.

    Raises:
        PoolConfigurationError: A setting is out of range or of the wrong type (numbers, sizes, names).
        PoolTypeError: ``check_on_acquire`` is not a bool, ``clock`` not a `Clock` or ``rng`` not
            callable.
    """

    def __init__(
        self,
        factory: ResourceFactory[R],
        *,
        min_size: int = 0,
        max_size: int = 10,
        timeout: float = 30.0,
        max_waiting: int | None = None,
        max_lifetime: float | None = 3600.0,
        lifetime_jitter: float = 0.05,
        max_idle: float | None = 600.0,
        health_check_interval: float | None = 30.0,
        check_on_acquire: bool = False,
        order: Order = "lifo",
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        name: str = "pool",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(factory, ResourceFactory):
            raise PoolConfigurationError("factory", factory, "must have async create() and destroy(resource)")
        self._factory = factory
        self._check_fn = getattr(factory, "check", None)
        self._reset_fn = getattr(factory, "reset", None)
        self._min_size, self._max_size = _sizes(min_size, max_size)
        self._timeout = _seconds("timeout", timeout)
        if max_waiting is not None:
            check_count("max_waiting", max_waiting, error=PoolConfigurationError)
        self._max_waiting = max_waiting
        self._max_lifetime = None if max_lifetime is None else _seconds("max_lifetime", max_lifetime)
        self._lifetime_jitter = _fraction("lifetime_jitter", lifetime_jitter)
        self._max_idle = None if max_idle is None else _seconds("max_idle", max_idle)
        self._interval = (
            None
            if health_check_interval is None
            else _seconds("health_check_interval", health_check_interval)
        )
        if not isinstance(order, str) or order not in ("lifo", "fifo"):
            raise PoolConfigurationError("order", order, "must be 'lifo' or 'fifo'")
        self._lifo = order == "lifo"
        self._check_on_acquire = _flag("check_on_acquire", check_on_acquire) and self._check_fn is not None
        self._backoff_initial = _seconds("backoff_initial", backoff_initial)
        self._backoff_max = _seconds("backoff_max", backoff_max)
        self.name = check_text("name", name, max_bytes=200, error=PoolConfigurationError)
        if clock is not None and not isinstance(clock, Clock):
            raise PoolTypeError("clock", "a Clock (now() and monotonic())", clock)
        self._clock: Clock = clock if clock is not None else SystemClock()
        if rng is not None and not callable(rng):
            raise PoolTypeError("rng", "a callable returning floats in [0, 1)", rng)
        self._random: Callable[[], float] = rng if rng is not None else random.random

        self._slots: dict[int, _Slot[R]] = {}
        self._by_resource: dict[int, _Slot[R]] = {}
        self._counts = dict.fromkeys(State, 0)
        self._capacity = self._max_size
        self._idle: deque[_Slot[R]] = deque()
        self._waiters: deque[asyncio.Future[_Slot[R]]] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._numbers = 0
        self._generation = 0
        self._attempts = 0
        self._last_create_error: BaseException | None = None
        self._retry: asyncio.Task[None] | None = None
        self._health: asyncio.Task[None] | None = None
        self._opened = False
        self._closing = False
        self._closed = False
        self._forced: set[int] = set()
        self._nothing_in_use = asyncio.Event()
        self._nothing_in_use.set()
        self._c = _Counters()
        telemetry.track(self)

    # --- lifecycle -------------------------------------------------------------------------------

    async def open(self, *, wait: bool = True) -> None:
        """Start the health loop and create ``min_size`` resources (awaited when ``wait``).

        Raises:
            PoolClosedError: The pool is closing or closed.
            PoolTypeError: ``wait`` is not a bool.
        """
        _flag("wait", wait)
        if self._closing:
            raise PoolClosedError(f"pool {self.name!r} is closed")
        if self._opened:
            return
        self._opened = True
        if self._interval is not None:
            self._health = asyncio.get_running_loop().create_task(
                self._health_loop(), name=f"{self.name}:health"
            )
        filling = self._fill_min()
        if wait:
            await _gather(filling)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether `close` has begun."""
        return self._closing

    async def close(self, timeout: float | None = 30.0) -> None:
        """Close the pool and leave nothing behind.

        New acquires are refused at once and waiters get `PoolClosedError`. Idle resources are
        destroyed; resources in use are waited for up to ``timeout`` seconds and destroyed when they
        come back, or at the timeout even if they have not. Every destruction, including ones the
        health loop started, is awaited. Errors from ``destroy`` are logged and counted, never raised.

        Args:
            timeout: Seconds to wait for resources in use: from 0 (destroy them now) to 100 years;
                ``None`` waits for them without limit.

        Raises:
            PoolConfigurationError: ``timeout`` is negative, not finite or not a number. It is
                checked before anything else, so the pool is left open and a later `close` works.
        """
        wait = None if timeout is None else _seconds("timeout", timeout, allow_zero=True)
        if not self._closing:
            self._closing = True
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(PoolClosedError(f"pool {self.name!r} was closed while waiting"))
            self._waiters.clear()
            for task in (self._health, self._retry):
                if task is not None:
                    task.cancel()
        # Everything below is safe to run again: a close that was cancelled part way (or that runs
        # beside another close) still ends with every resource destroyed.
        await asyncio.gather(
            *(t for t in (self._health, self._retry) if t is not None), return_exceptions=True
        )
        while self._idle:
            self._spawn(self._destroy(self._idle.popleft()))
        try:
            if not self._nothing_in_use.is_set():  # wait_for(..., 0) times out even on a set event
                await asyncio.wait_for(self._nothing_in_use.wait(), wait)
        except TimeoutError:
            stragglers = [s for s in self._slots.values() if s.state is State.IN_USE]
            logger.warning(
                "%s: %d resource(s) still in use after %.1fs; destroying them",
                self.name,
                len(stragglers),
                wait,
            )
            for slot in stragglers:
                self._forced.add(id(slot.resource))
                self._spawn(self._destroy(slot))
        await self._settle()
        self._closed = True

    async def _settle(self) -> None:
        """Await every task the pool started (creations, destructions, releases) until none is left."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    # --- acquire and release ---------------------------------------------------------------------

    def acquire(self, *, timeout: float | None = None) -> AcquireContext[R]:
        """Get a resource: ``async with pool.acquire() as r:`` or ``r = await pool.acquire()``.

        Args:
            timeout: Seconds to wait; default the pool's ``timeout``.

        Raises:
            PoolTimeoutError: No resource within the timeout (the message gives the last creation
                error when creating failed).
            PoolExhaustedError: ``max_waiting`` callers are already waiting.
            PoolClosedError: The pool is closing or closed.
            PoolConfigurationError: ``timeout`` is not a number of seconds above 0 (raised at once).
        """
        return AcquireContext(self, timeout)

    async def _acquire(self, timeout: float | None) -> R:
        if self._closing:
            raise PoolClosedError(f"pool {self.name!r} is closed")
        if not self._opened:
            await self.open(wait=False)
        slot = self._take_idle()
        while slot is not None and self._check_on_acquire and not await self._passes_check(slot):
            slot = self._take_idle()
        if slot is None:
            slot = await self._wait(self._timeout if timeout is None else timeout)
        self._c.acquired += 1
        return cast("R", slot.resource)

    def _take_idle(self) -> _Slot[R] | None:
        now = self._clock.monotonic()
        while self._idle:
            slot = self._idle.pop() if self._lifo else self._idle.popleft()
            if slot.expires_at <= now or slot.generation != self._generation:
                # Retired, not just destroyed: a replacement starts once the slot is gone, or a caller
                # who finds only stale resources at max_size would wait for the next health pass.
                self._spawn(self._retire(slot))
                continue
            self._transition_state(slot, State.IN_USE)
            return slot
        return None

    async def _retire(self, slot: _Slot[R]) -> None:
        await self._destroy(slot)
        self._after_loss()

    async def _wait(self, timeout: float) -> _Slot[R]:
        pool_full = len(self._slots) >= self._max_size
        if self._max_waiting is not None and pool_full and len(self._waiters) >= self._max_waiting:
            self._c.exhausted += 1
            raise PoolExhaustedError(f"pool {self.name!r}: {len(self._waiters)} callers are waiting already")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Slot[R]] = loop.create_future()
        self._waiters.append(waiter)
        self._grow()
        started = loop.time()
        got: _Slot[R] | None = None
        try:
            async with asyncio.timeout(timeout):
                got = await waiter
        except TimeoutError:
            self._c.timeouts += 1
            raise PoolTimeoutError(timeout, self._why_waiting()) from None
        finally:
            waited = loop.time() - started
            self._c.wait_time_total += waited
            self._c.wait_time_max = max(self._c.wait_time_max, waited)
            if got is None:
                self._abandon(waiter)
        return got

    def _abandon(self, waiter: asyncio.Future[_Slot[R]]) -> None:
        """Clean up after a wait that ends without a resource (timeout, cancellation, close).

        A resource handed over in the same instant the caller gave up goes back to the pool, so a
        cancelled or timed-out waiter never leaks one.
        """
        if waiter.done():
            if not waiter.cancelled() and waiter.exception() is None:
                self._offer(waiter.result())
            return
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _why_waiting(self) -> str:
        if self._last_create_error is not None and self.stats().total < self._max_size:
            error = self._last_create_error
            return f"creating a resource failed: {type(error).__name__}: {error}"
        return f"all {self._max_size} resources are in use"

    async def release(self, resource: R, *, discard: bool = False) -> None:
        """Give ``resource`` back; with ``discard=True`` it is destroyed instead of reused.

        The resource is reset (when the factory has ``reset``) and handed to the first waiter or made
        idle. One that is past its lifetime, failed its reset, or was handed out before `drain` is
        destroyed. The work finishes even if the caller is cancelled meanwhile.

        Raises:
            ForeignResourceError: ``resource`` was not handed out by this pool, or was given back already.
            PoolTypeError: ``discard`` is not a bool.
        """
        _flag("discard", discard)
        if id(resource) in self._forced:
            self._forced.discard(id(resource))
            return  # close() destroyed it after its timeout; nothing left to do
        slot = self._by_resource.get(id(resource))
        if slot is None or slot.resource is not resource or slot.state is not State.IN_USE:
            raise ForeignResourceError(
                f"pool {self.name!r} did not hand out this resource, or it was released"
            )
        self._c.released += 1
        if not discard and self._reset_fn is None and self._reusable(slot):
            self._offer(slot)  # nothing to await: no task, no trip around the event loop
            return
        # Shielded: a caller cancelled mid-release must not strand the resource in IN_USE.
        await asyncio.shield(self._spawn(self._give_back(slot, discard)))

    def _reusable(self, slot: _Slot[R]) -> bool:
        return (
            not self._closing
            and len(self._slots) <= self._max_size
            and slot.generation == self._generation
            and slot.expires_at > self._clock.monotonic()
        )

    async def _give_back(self, slot: _Slot[R], discard: bool) -> None:
        surplus = len(self._slots) > self._max_size  # the pool was shrunk while this was out
        if discard or surplus or self._closing or slot.generation != self._generation:
            await self._destroy(slot)
            self._after_loss()
            return
        if slot.expires_at <= self._clock.monotonic():
            await self._destroy(slot)
            self._after_loss()
            return
        if self._reset_fn is not None:
            try:
                await self._reset_fn(slot.resource)
            except Exception as exc:  # noqa: BLE001 - a failed reset means the resource is not reused
                self._c.reset_failures += 1
                logger.warning(
                    "%s: reset failed (%s: %s); destroying the resource", self.name, type(exc).__name__, exc
                )
                await self._destroy(slot)
                self._after_loss()
                return
        if self.closed:  # close() may have begun while the reset ran
            await self._destroy(slot)
            return
        self._offer(slot)

    # --- maintenance -----------------------------------------------------------------------------

    async def run_health_check(self) -> None:
        """Run one health pass now: retire expired and long-idle resources, check the rest, refill.

        Destructions are awaited before it returns. The health loop calls it every
        ``health_check_interval``; tests call it after moving a FakeClock.
        """
        if self._closing:
            return
        now = self._clock.monotonic()
        doomed: list[_Slot[R]] = []
        keep = [s for s in self._idle if s.expires_at > now and s.generation == self._generation]
        doomed = [s for s in self._idle if s not in keep]
        if self._max_idle is not None:
            spare = len(self._slots) - len(doomed) - self._min_size
            # The longest-idle go first.
            for slot in sorted(keep, key=lambda s: s.idle_since):
                if spare <= 0:
                    break
                if now - slot.idle_since >= self._max_idle:
                    doomed.append(slot)
                    keep.remove(slot)
                    spare -= 1
        for slot in doomed:
            self._idle.remove(slot)
        await asyncio.gather(*(self._spawn(self._destroy(s)) for s in doomed))
        if self._check_fn is not None:
            await self._check_idle()
        await _gather(self._fill_min())
        self._grow()

    async def _passes_check(self, slot: _Slot[R]) -> bool:
        """Check a slot the caller holds (IN_USE); destroy it if it fails."""
        check = cast("Callable[[R], Awaitable[object]]", self._check_fn)
        try:
            healthy = bool(await check(cast("R", slot.resource)))
        except asyncio.CancelledError:
            self._offer(slot)
            raise
        except Exception:  # noqa: BLE001 - a failing check is an unhealthy resource
            healthy = False
        if not healthy:
            self._c.check_failures += 1
            self._transition_state(slot, State.UNHEALTHY)
            await self._spawn(self._destroy(slot))
            self._after_loss()
        return healthy

    async def _check_idle(self) -> None:
        check = cast("Callable[[R], Awaitable[object]]", self._check_fn)
        for slot in list(self._idle):
            if slot not in self._idle or self._closing:
                continue
            self._idle.remove(slot)
            self._transition_state(slot, State.IN_USE)
            try:
                healthy = bool(await check(cast("R", slot.resource)))
            except asyncio.CancelledError:
                self._offer(slot)
                raise
            except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy resource
                logger.info("%s: health check raised %s: %s", self.name, type(exc).__name__, exc)
                healthy = False
            if healthy and not self._closing:
                self._offer(slot)
                continue
            if not healthy:
                self._c.check_failures += 1
                self._transition_state(slot, State.UNHEALTHY)
            await self._spawn(self._destroy(slot))

    async def _health_loop(self) -> None:
        interval = cast("float", self._interval)
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                await self.run_health_check()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: health pass failed", self.name)

    async def drain(self) -> None:
        """Replace every resource: idle ones now, ones in use when they come back. Refills to ``min_size``."""
        if self._closing:
            raise PoolClosedError(f"pool {self.name!r} is closed")
        self._generation += 1
        doomed = list(self._idle)
        self._idle.clear()
        await asyncio.gather(*(self._spawn(self._destroy(s)) for s in doomed))
        await _gather(self._fill_min())

    async def resize(self, *, min_size: int | None = None, max_size: int | None = None) -> None:
        """Change the sizes; shrinking destroys surplus idle resources now, surplus in-use ones on return.

        Raises:
            PoolConfigurationError: A size is out of range (checked before anything changes).
            PoolClosedError: The pool is closing or closed.
        """
        new_min, new_max = _sizes(
            self._min_size if min_size is None else min_size, self._max_size if max_size is None else max_size
        )
        if self._closing:
            raise PoolClosedError(f"pool {self.name!r} is closed")
        self._min_size, self._max_size = new_min, new_max
        self._capacity = max(new_max, len(self._slots))
        surplus = len(self._slots) - new_max
        doomed: list[_Slot[R]] = []
        while surplus > 0 and self._idle:
            doomed.append(self._idle.popleft())
            surplus -= 1
        await asyncio.gather(*(self._spawn(self._destroy(s)) for s in doomed))
        await _gather(self._fill_min())
        self._grow()

    def stats(self) -> PoolStats:
        """A snapshot of sizes per state and the counters since the pool was made."""
        c, n = self._c, self._counts
        return PoolStats(
            idle=n[State.IDLE],
            in_use=n[State.IN_USE],
            creating=n[State.CREATING],
            destroying=n[State.DESTROYING],
            unhealthy=n[State.UNHEALTHY],
            total=len(self._slots),
            min_size=self._min_size,
            max_size=self._max_size,
            waiting=sum(1 for w in self._waiters if not w.done()),
            acquired=c.acquired,
            released=c.released,
            timeouts=c.timeouts,
            exhausted=c.exhausted,
            created=c.created,
            destroyed=c.destroyed,
            create_errors=c.create_errors,
            destroy_errors=c.destroy_errors,
            check_failures=c.check_failures,
            reset_failures=c.reset_failures,
            wait_time_total=c.wait_time_total,
            wait_time_max=c.wait_time_max,
        )

    def __repr__(self) -> str:
        s = self.stats()
        sizes = f"idle={s.idle}, in_use={s.in_use}, total={s.total}, max_size={s.max_size}"
        return f"Pool(name={self.name!r}, {sizes})"

    # --- the state machine -----------------------------------------------------------------------

    def _transition_state(self, slot: _Slot[R], new: State | None) -> None:
        """The one place a resource's state and the counters change; checks the invariant after.

        ``new=None`` removes the slot (after destruction, or a failed creation).
        """
        old = slot.state
        if old is None:
            self._slots[slot.number] = slot
        else:
            self._counts[old] -= 1
        if new is None:
            del self._slots[slot.number]
            if slot.resource is not None:
                self._by_resource.pop(id(slot.resource), None)
            if self._capacity > self._max_size:
                self._capacity = max(self._max_size, len(self._slots))
        else:
            self._counts[new] += 1
        slot.state = new
        if self._counts[State.IN_USE] == 0:
            self._nothing_in_use.set()
        else:
            self._nothing_in_use.clear()
        self._check_invariant()

    def _check_invariant(self) -> None:
        total = len(self._slots)
        counted = sum(self._counts.values())
        if counted != total or total > self._capacity or min(self._counts.values()) < 0:
            counts = {state.value: count for state, count in self._counts.items()}
            counts |= {"total": total, "max_size": self._max_size}
            reason = (
                "idle + in_use + creating + destroying + unhealthy != total"
                if counted != total
                else "total > max_size"
                if total > self._capacity
                else "a negative count"
            )
            raise PoolInvariantViolation(reason, counts)

    def _offer(self, slot: _Slot[R]) -> None:
        """Hand ``slot`` to the first live waiter, or make it idle."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            if slot.state is not State.IN_USE:
                self._transition_state(slot, State.IN_USE)
            waiter.set_result(slot)
            return
        self._transition_state(slot, State.IDLE)
        slot.idle_since = self._clock.monotonic()
        self._idle.append(slot)

    def _grow(self) -> None:
        """Start creations for waiters that no creation in progress will serve."""
        if self._closing:
            return
        live = sum(1 for w in self._waiters if not w.done())
        wanted = live - self._counts[State.CREATING]
        while wanted > 0 and len(self._slots) < self._max_size:
            self._start_create()
            wanted -= 1

    def _fill_min(self) -> list[asyncio.Task[None]]:
        """Start the creations that bring the pool up to ``min_size``; return them."""
        if self._closing:
            return []
        return [self._start_create() for _ in range(max(self._min_size - len(self._slots), 0))]

    def _start_create(self) -> asyncio.Task[None]:
        self._numbers += 1
        slot: _Slot[R] = _Slot(self._numbers, generation=self._generation)
        self._transition_state(slot, State.CREATING)
        return self._spawn(self._create(slot))

    async def _create(self, slot: _Slot[R]) -> None:
        try:
            resource = await self._factory.create()
        except Exception as exc:  # noqa: BLE001 - counted, reported to waiters, retried with backoff
            self._c.create_errors += 1
            self._last_create_error = exc
            logger.warning("%s: creating a resource failed: %s: %s", self.name, type(exc).__name__, exc)
            self._transition_state(slot, None)
            self._schedule_retry()
            return
        except asyncio.CancelledError:
            self._transition_state(slot, None)
            raise
        self._c.created += 1
        self._attempts = 0
        self._last_create_error = None
        slot.resource = resource
        self._by_resource[id(resource)] = slot
        now = self._clock.monotonic()
        if self._max_lifetime is not None:
            slot.expires_at = now + self._max_lifetime * (1.0 - self._lifetime_jitter * self._random())
        if self._closing:
            await self._destroy(slot)
            return
        self._offer(slot)

    def _schedule_retry(self) -> None:
        if self._closing or (self._retry is not None and not self._retry.done()):
            return
        self._attempts += 1
        # The exponent stops growing long before 2**n overflows a float: the ceiling is backoff_max by then.
        ceiling = min(self._backoff_max, self._backoff_initial * 2.0 ** min(self._attempts - 1, 64))
        delay = ceiling * (0.5 + 0.5 * self._random())  # "equal jitter": never less than half the step

        async def retry() -> None:
            await asyncio.sleep(delay)
            self._retry = None
            self._grow()
            await _gather(self._fill_min())

        self._retry = asyncio.get_running_loop().create_task(retry(), name=f"{self.name}:retry")

    def _after_loss(self) -> None:
        """After a resource was destroyed outside a health pass: keep waiters served and min_size met."""
        if self._closing:
            return
        self._grow()
        self._fill_min()

    async def _destroy(self, slot: _Slot[R]) -> None:
        if slot.state is State.DESTROYING or slot.state is None:
            return
        self._transition_state(slot, State.DESTROYING)
        try:
            await self._factory.destroy(slot.resource)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - logged and counted, never raised (see close())
            self._c.destroy_errors += 1
            logger.warning("%s: destroying a resource failed: %s: %s", self.name, type(exc).__name__, exc)
        finally:
            self._c.destroyed += 1
            self._transition_state(slot, None)

    def _spawn[T](self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def _gather(tasks: list[asyncio.Task[None]]) -> None:
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    return check_seconds(name, value, allow_zero=allow_zero, error=PoolConfigurationError)


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 0.5:
        raise PoolConfigurationError(name, value, "must be a fraction from 0 to 0.5")
    return float(value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise PoolTypeError(name, "a bool", value)
    return value


def _sizes(min_size: object, max_size: object) -> tuple[int, int]:
    low = check_count("min_size", min_size, maximum=MAX_SIZE, error=PoolConfigurationError)
    high = check_count("max_size", max_size, minimum=1, maximum=MAX_SIZE, error=PoolConfigurationError)
    if high < low:
        raise PoolConfigurationError("max_size", max_size, f"must be at least min_size ({low})")
    return low, high
