"""Keeping a pool healthy: health passes (expiry, idle reaping, checks, refill), drain and resize."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from ._accounting import Slot, State
from ._config import check_sizes
from ._lifecycle import PoolCore, gather
from .exceptions import PoolClosedError

logger = logging.getLogger(__name__)


class Maintaining[R](PoolCore[R]):
    """Health passes, `drain` and `resize`, over the shared state of `PoolCore`."""

    async def run_health_check(self) -> None:
        """Run one health pass now: retire expired and long-idle resources, check the rest, refill.

        Destructions are awaited before it returns. The health loop calls it every
        ``health_check_interval``; tests call it after moving a FakeClock.
        """
        if self._closing:
            return
        doomed = self._expired_or_idle_too_long()
        for slot in doomed:
            self._idle.remove(slot)
        await asyncio.gather(*(self._spawn(self._destroy(s)) for s in doomed))
        if self._check_fn is not None:
            await self._check_idle()
        await gather(self._fill_min())
        self._grow()

    def _expired_or_idle_too_long(self) -> list[Slot[R]]:
        now = self._clock.monotonic()
        keep = [s for s in self._idle if s.expires_at > now and s.generation == self._generation]
        doomed = [s for s in self._idle if s not in keep]
        max_idle = self._config.max_idle
        if max_idle is None:
            return doomed
        spare = len(self._books.slots) - len(doomed) - self._config.min_size
        for slot in sorted(keep, key=lambda s: s.idle_since):  # the longest-idle go first
            if spare <= 0:
                break
            if now - slot.idle_since >= max_idle:
                doomed.append(slot)
                spare -= 1
        return doomed

    async def _check_idle(self) -> None:
        check = self._check_fn
        if check is None:
            return
        for slot in list(self._idle):
            if slot not in self._idle or self._closing:
                continue
            self._idle.remove(slot)
            self._books.move(slot, State.IN_USE)
            failure: Exception | None = None
            try:
                healthy = bool(await check(slot.resource))
            except asyncio.CancelledError:
                self._offer(slot)
                raise
            except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy resource
                logger.info("%s: health check raised %s: %s", self.name, type(exc).__name__, exc)
                healthy, failure = False, exc
            if healthy and not self._closing:
                self._offer(slot)
                continue
            if not healthy:
                self._failed("check", failure)
                self._books.totals.check_failures += 1
                self._books.move(slot, State.UNHEALTHY)
            await self._spawn(self._destroy(slot))

    async def _health_loop(self) -> None:
        interval = self._config.health_check_interval
        while interval is not None and not self._closing:
            await asyncio.sleep(interval)
            try:
                await self.run_health_check()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: health pass failed", self.name)

    async def drain(self) -> None:
        """Replace every resource: idle ones now, ones in use when they come back. Refills to ``min_size``.

        Raises:
            PoolClosedError: The pool is closing or closed.
        """
        if self._closing:
            raise PoolClosedError(self._closed_error_message())
        self._generation += 1
        doomed = list(self._idle)
        self._idle.clear()
        await asyncio.gather(*(self._spawn(self._destroy(s)) for s in doomed))
        await gather(self._fill_min())

    async def resize(self, *, min_size: int | None = None, max_size: int | None = None) -> None:
        """Change the sizes; shrinking destroys surplus idle resources now, surplus in-use ones on return.

        Raises:
            PoolConfigurationError: A size is out of range (checked before anything changes).
            PoolClosedError: The pool is closing or closed.
        """
        config = self._config
        new_min, new_max = check_sizes(
            config.min_size if min_size is None else min_size,
            config.max_size if max_size is None else max_size,
        )
        if self._closing:
            raise PoolClosedError(self._closed_error_message())
        self._config = dataclasses.replace(config, min_size=new_min, max_size=new_max)
        self._books.resize(new_max)
        surplus = len(self._books.slots) - new_max
        doomed: list[Slot[R]] = []
        while surplus > 0 and self._idle:
            doomed.append(self._idle.popleft())
            surplus -= 1
        await asyncio.gather(*(self._spawn(self._destroy(s)) for s in doomed))
        await gather(self._fill_min())
        self._grow()
