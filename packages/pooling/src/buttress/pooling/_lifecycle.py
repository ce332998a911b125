"""What every part of a pool shares: its state, and the life of one resource.

A resource is created (with backoff after failures), offered to the first waiter or made idle, and
destroyed, every step through the `Ledger`. `_acquire` (handing out and taking back) and
`_maintenance` (health passes, drain, resize) build on this; `Pool` puts them together.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from buttress.core import AsyncResource, BackgroundTask, Clock

from ._accounting import Ledger, Slot, State
from ._config import PoolConfig
from ._metrics import ACQUIRE_OUTCOMES, CREATED, DESTROYED, FAILURES
from ._protocol import ResourceFactory

logger = logging.getLogger(__name__)

_Check = Callable[[Any], Awaitable[object]]


class PoolCore[R](AsyncResource):
    """The state of a pool and the steps of a resource's life. Not used alone: see `Pool`."""

    def __init__(
        self,
        factory: ResourceFactory[R],
        config: PoolConfig,
        clock: Clock,
        rng: Callable[[], float] | None,
    ) -> None:
        super().__init__()
        self._factory: Final = factory
        self._check_fn: _Check | None = getattr(factory, "check", None)
        self._reset_fn: _Check | None = getattr(factory, "reset", None)
        # Optional and synchronous: whether a released resource needs `reset` at all.
        self._needs_reset: Callable[[R], bool] | None = getattr(factory, "needs_reset", None)
        self._config = config
        self._lifo: Final = config.order == "lifo"
        self._check_on_acquire: Final = config.check_on_acquire and self._check_fn is not None
        self._clock: Final = clock
        self._random: Final[Callable[[], float]] = rng if rng is not None else random.random
        self._books: Final[Ledger[R]] = Ledger(config.max_size)
        self._idle: deque[Slot[R]] = deque()
        self._waiters: deque[asyncio.Future[Slot[R]]] = deque()
        # Each waiting caller's deadline (loop time), and one timer for the whole line, armed at the
        # earliest of them: a wait adds no timer of its own (see `Acquiring._wait`).
        self._deadlines: dict[asyncio.Future[Slot[R]], float] = {}
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_at = math.inf
        self._expiry_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._numbers = 0
        self._generation = 0
        self._attempts = 0
        self._last_create_error: BaseException | None = None
        self._retry: asyncio.Task[None] | None = None
        self._health: BackgroundTask | None = None
        self._opened = False
        self._closing = False
        self._forced: set[int] = set()
        self._attributes: Final = {"pool.name": config.name}
        # Made once: an acquire records its duration with one of these, allocating nothing.
        self._outcomes: Final = {
            outcome: {**self._attributes, "outcome": outcome} for outcome in ACQUIRE_OUTCOMES
        }

    @property
    def name(self) -> str:
        """The pool's name, from its config."""
        return self._config.name

    @property
    def config(self) -> PoolConfig:
        """The pool's settings now (`Pool.resize` replaces the sizes)."""
        return self._config

    async def open(self, *, wait: bool = True) -> None:
        """Start the pool: see `Pool.open`."""
        raise NotImplementedError

    def _closed_error_message(self) -> str:
        return f"pool {self.name!r} is closed"

    def _live_waiters(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    # --- a resource's life -----------------------------------------------------------------------

    def _offer(self, slot: Slot[R]) -> None:
        """Hand ``slot`` to the first live waiter, or make it idle."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            if slot.state is not State.IN_USE:
                self._books.move(slot, State.IN_USE)
            waiter.set_result(slot)
            return
        self._books.move(slot, State.IDLE)
        slot.idle_since = self._clock.monotonic()
        self._idle.append(slot)

    def _grow(self) -> None:
        """Start creations for waiters that no creation in progress will serve."""
        if self._closing or len(self._books.slots) >= self._books.max_size:
            return  # nothing can start: no need to count the live waiters (a walk of the line)
        wanted = self._live_waiters() - self._books.counts[State.CREATING]
        while wanted > 0 and len(self._books.slots) < self._books.max_size:
            self._start_create()
            wanted -= 1

    def _fill_min(self) -> list[asyncio.Task[None]]:
        """Start the creations that bring the pool up to ``min_size``; return them."""
        if self._closing:
            return []
        missing = self._config.min_size - len(self._books.slots)
        return [self._start_create() for _ in range(max(missing, 0))]

    def _start_create(self) -> asyncio.Task[None]:
        self._numbers += 1
        slot: Slot[R] = Slot(self._numbers, generation=self._generation)
        self._books.move(slot, State.CREATING)
        return self._spawn(self._create(slot))

    async def _create(self, slot: Slot[R]) -> None:
        try:
            resource = await self._factory.create()
        except Exception as exc:  # noqa: BLE001 - counted, reported to waiters, retried with backoff
            self._books.totals.create_errors += 1
            self._failed("create", exc)
            self._last_create_error = exc
            logger.warning("%s: creating a resource failed: %s: %s", self.name, type(exc).__name__, exc)
            self._books.move(slot, None)
            self._schedule_retry()
            return
        except asyncio.CancelledError:
            self._books.move(slot, None)
            raise
        self._books.totals.created += 1
        CREATED.add(1, self._attributes)
        self._attempts = 0
        self._last_create_error = None
        slot.resource = resource
        self._books.by_resource[id(resource)] = slot
        lifetime = self._config.max_lifetime
        if lifetime is not None:
            jitter = self._config.lifetime_jitter * self._random()
            slot.expires_at = self._clock.monotonic() + lifetime * (1.0 - jitter)
        if self._closing:
            await self._destroy(slot)
            return
        self._offer(slot)

    def _failed(self, operation: str, exc: BaseException | None) -> None:
        """Count a failed factory call; ``exc=None``: a check that answered ``False``."""
        if exc is None:
            error_type = "unhealthy"
        else:
            kind = type(exc)
            error_type = f"{kind.__module__}.{kind.__qualname__}"
        FAILURES.add(1, {**self._attributes, "pool.operation": operation, "error.type": error_type})

    def _schedule_retry(self) -> None:
        if self._closing or (self._retry is not None and not self._retry.done()):
            return
        self._attempts += 1
        config = self._config
        # The exponent stops growing long before 2**n overflows a float: the ceiling is backoff_max by then.
        ceiling = min(config.backoff_max, config.backoff_initial * 2.0 ** min(self._attempts - 1, 64))
        delay = ceiling * (0.5 + 0.5 * self._random())  # "equal jitter": never less than half the step

        async def retry() -> None:
            await asyncio.sleep(delay)
            self._retry = None
            self._grow()
            await gather(self._fill_min())

        self._retry = asyncio.get_running_loop().create_task(retry(), name=f"{self.name}:retry")

    def _after_loss(self) -> None:
        """After a resource was destroyed outside a health pass: keep waiters served and min_size met."""
        if self._closing:
            return
        self._grow()
        self._fill_min()

    async def _destroy(self, slot: Slot[R]) -> None:
        if slot.state is State.DESTROYING or slot.state is None:
            return
        self._books.move(slot, State.DESTROYING)
        try:
            await self._factory.destroy(slot.resource)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - logged and counted, never raised (see aclose())
            self._books.totals.destroy_errors += 1
            self._failed("destroy", exc)
            logger.warning("%s: destroying a resource failed: %s: %s", self.name, type(exc).__name__, exc)
        finally:
            self._books.totals.destroyed += 1
            DESTROYED.add(1, self._attributes)
            self._books.move(slot, None)

    async def _retire(self, slot: Slot[R]) -> None:
        await self._destroy(slot)
        self._after_loss()

    def _spawn[T](self, work: Coroutine[Any, Any, T], *, eager: bool = False) -> asyncio.Task[T]:
        """Run ``work`` in a task of the pool's; ``eager`` runs it at once, up to its first wait."""
        loop = asyncio.get_running_loop()
        task = asyncio.Task(work, loop=loop, eager_start=True) if eager else loop.create_task(work)
        if not task.done():
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    async def _settle(self) -> None:
        """Await every task the pool started (creations, destructions, releases) until none is left."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)


async def gather(tasks: list[asyncio.Task[None]]) -> None:
    """Await ``tasks``, whose errors are their own business (counted and logged where they happen)."""
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
