"""`Pool`: a generic async resource pool whose state counters are checked after every change."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Unpack, cast

from buttress.core import BackgroundTask, Clock, SystemClock

from . import _metrics
from ._accounting import PoolStats, State
from ._acquire import Acquiring
from ._config import PoolConfig, PoolSettings, check_flag, check_pool_seconds, make_config
from ._lifecycle import gather
from ._maintenance import Maintaining
from ._protocol import ResourceFactory
from .exceptions import PoolClosedError, PoolConfigurationError, PoolTypeError

logger = logging.getLogger(__name__)


class Pool[R](Acquiring[R], Maintaining[R]):
    """A pool of any async resource, with its state counters checked after every change.

    Each resource is in one `State`; the counts change only in one place, after which the pool checks
    that they add up to the resources it tracks and that these are no more than ``max_size``, raising
    `PoolInvariantViolation` with every count if not.

    Making a pool does no I/O, and neither does ``async with pool:``. The first `acquire` starts it
    (the health loop, and ``min_size`` creations in the background); ``await pool.open()`` starts it
    ahead of time and waits until ``min_size`` resources are ready. `aclose` (or leaving
    ``async with``) closes it and leaves nothing behind.

    Resources live at most ``max_lifetime`` (shortened by up to ``lifetime_jitter`` at random) and
    idle at most ``max_idle`` beyond ``min_size``. A health loop every ``health_check_interval``
    seconds removes expired resources, checks idle ones and refills to ``min_size``; every
    destruction is awaited. Failed creations are retried with exponential backoff and jitter.
    Waiters are served first come, first served; a cancelled waiter never leaks a resource.

    Args:
        factory: Makes and disposes of the resources (see `ResourceFactory`).
        config: The settings (`PoolConfig`); the defaults when ``None``.
        clock: Time source for lifetimes and idle times (``monotonic()``); tests pass a FakeClock.
        rng: Source of floats in [0, 1) for lifetime and backoff jitter.
        **settings: Any `PoolConfig` field by name (``min_size=2, max_size=10``), applied over
            ``config``.

    Every method checks all of its arguments before it changes anything, so a call refused with
    `PoolConfigurationError` or `PoolTypeError` leaves the pool as it was.

    Raises:
        PoolConfigurationError: A setting is out of range or not a setting at all, or ``factory``
            lacks ``create``/``destroy``.
        PoolTypeError: ``config`` is not a `PoolConfig`, ``check_on_acquire`` not a bool, ``clock``
            not a `Clock` or ``rng`` not callable.
    """

    def __init__(
        self,
        factory: ResourceFactory[R],
        *,
        config: PoolConfig | None = None,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **settings: Unpack[PoolSettings],
    ) -> None:
        if not isinstance(factory, ResourceFactory):
            raise PoolConfigurationError("factory", factory, "must have async create() and destroy(resource)")
        checked = make_config(config, dict(settings))
        if clock is not None and not isinstance(clock, Clock):
            raise PoolTypeError("clock", "a Clock (now() and monotonic())", clock)
        if rng is not None and not callable(rng):
            raise PoolTypeError("rng", "a callable returning floats in [0, 1)", rng)
        super().__init__(factory, checked, clock if clock is not None else SystemClock(), rng)
        _metrics.track(cast("Pool[object]", self))

    async def open(self, *, wait: bool = True) -> None:
        """Start the pool now: the health loop, and the creations that fill ``min_size``.

        Optional: the first `acquire` starts a pool that was not opened. Calling it again does
        nothing.

        Args:
            wait: Wait until the ``min_size`` creations have finished (a failed one is retried in
                the background and does not raise here).

        Raises:
            PoolClosedError: The pool is closing or closed.
            PoolTypeError: ``wait`` is not a bool.
        """
        check_flag("wait", wait)
        if self._closing:
            raise PoolClosedError(self._closed_error_message())
        if self._opened:
            return
        self._opened = True
        if self._config.health_check_interval is not None:
            self._health = BackgroundTask(f"{self.name}:health", self._health_loop, logger=logger)
            self._health.start()
        filling = self._fill_min()
        if wait:
            await gather(filling)

    async def aclose(self, *, timeout: float | None = 30.0) -> None:
        """Close the pool and leave nothing behind. Calling it again finishes what is left, if anything.

        New acquires are refused at once and waiters get `PoolClosedError`. Idle resources are
        destroyed; resources in use are waited for up to ``timeout`` seconds and destroyed when they
        come back, or at the timeout even if they have not. Every destruction, including ones the
        health loop started, is awaited. Errors from ``destroy`` are logged and counted, never raised.
        Leaving ``async with pool:`` calls it with the default timeout.

        Args:
            timeout: Seconds to wait for resources in use: from 0 (destroy them now) to 100 years;
                ``None`` waits for them without limit.

        Raises:
            PoolConfigurationError: ``timeout`` is negative, not finite or not a number. It is
                checked before anything else, so the pool is left open and a later `aclose` works.
        """
        wait = None if timeout is None else check_pool_seconds("timeout", timeout, allow_zero=True)
        await super().aclose()  # the first call stops the pool taking work (`_aclose`)
        # Everything below is safe to run again: a close that was cancelled part way (or that runs
        # beside another close) still ends with every resource destroyed.
        if self._health is not None:
            await self._health.aclose()
        if self._retry is not None:
            await asyncio.gather(self._retry, return_exceptions=True)
        while self._idle:
            self._spawn(self._destroy(self._idle.popleft()))
        try:
            if not self._books.nothing_in_use.is_set():  # wait_for(..., 0) times out on a set event
                await asyncio.wait_for(self._books.nothing_in_use.wait(), wait)
        except TimeoutError:
            stragglers = self._books.in_state(State.IN_USE)
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

    async def _aclose(self) -> None:
        self._closing = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(PoolClosedError(f"pool {self.name!r} was closed while waiting"))
        self._waiters.clear()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry, self._expiry_at = None, math.inf
        if self._retry is not None:
            self._retry.cancel()

    def stats(self) -> PoolStats:
        """A snapshot of sizes per state and the counters since the pool was made."""
        return self._books.stats(self._config.min_size, self._live_waiters())

    def __repr__(self) -> str:
        s = self.stats()
        sizes = f"idle={s.idle}, in_use={s.in_use}, total={s.total}, max_size={s.max_size}"
        return f"Pool(name={self.name!r}, {sizes})"
