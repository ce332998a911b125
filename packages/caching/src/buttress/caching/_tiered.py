"""`TieredCache`: a per-process memory L1 in front of a shared Redis L2, kept coherent by pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from buttress.core import MISSING, Clock

from ._base import BaseCache
from ._entry import Entry
from ._memory import MemoryCache
from ._redis import RedisCache
from ._stats import CacheStats
from ._validation import MAX_SECONDS, TTL, check_non_negative, check_positive, check_positive_int, check_text
from .exceptions import CacheConfigurationError

logger = logging.getLogger("buttress.caching")

_MAX_BACKOFF = 5.0
# Recently changed keys remembered to keep overlapping reads out of L1; far more than reads in flight.
_MAX_MARKS = 10_000


class TieredCache[T](BaseCache[T]):
    """A memory L1 (per process) in front of a Redis L2 (shared), with cross-process invalidation.

    Reads try L1, then L2 (filling L1). Writes and invalidations go to L2 first, then L1, then a
    message on a Redis pub/sub channel makes every other process evict its L1 copy.

    **Staleness bound.** An L1 copy is never older than ``l1_ttl``. An L2 read that overlapped a
    write or an invalidation (local or received) does not fill L1, so a late read cannot put an old
    value back. While the invalidation
    subscription is connected, a write in another process evicts it within pub/sub delivery time
    (sub-millisecond on one host). L1 is not used until the subscription is confirmed, and is emptied
    whenever the subscription connection is lost or re-established, since messages may have been
    missed meanwhile; so a process cut off from the channel serves nothing older than ``l1_ttl``.

    Args:
        l2: The shared `RedisCache`. Its serializer, prefix, lock and failure handling apply.
        l1_max_size: The most keys the L1 holds in this process.
        l1_ttl: The longest an L1 copy is served without going back to L2.
        channel: The pub/sub channel; default ``<l2 prefix>__invalidate__``. Processes sharing an
            L2 must use the same one.
        default_ttl: TTL for writes that give none.
        jitter: Band by which each TTL is shortened at random; default 5-15 %.
        xfetch_beta: Eagerness of probabilistic early refresh (0 disables).
        stale_ttl: Serve values this long past expiry from `get_or_compute` while refreshing.
        name: Name for logs and metrics.
        clock: Time source (the L2's axis: ``now()``).
        rng: Source of floats in [0, 1) for jitter and XFetch.
    """

    def __init__(
        self,
        l2: RedisCache[T],
        *,
        l1_max_size: int = 10_000,
        l1_ttl: float = 30.0,
        channel: str | None = None,
        default_ttl: TTL | None = None,
        jitter: tuple[float, float] | float | None = (0.05, 0.15),
        xfetch_beta: float = 1.0,
        stale_ttl: TTL | None = None,
        name: str = "tiered",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(l2, RedisCache):
            raise CacheConfigurationError("l2", l2, "must be a RedisCache")
        super().__init__(
            name=name,
            default_ttl=default_ttl,
            jitter=jitter,
            xfetch_beta=xfetch_beta,
            stale_ttl=stale_ttl,
            max_key_bytes=l2._max_key_bytes,
            clock=clock,
            rng=rng,
        )
        self.l2 = l2
        self._l1 = MemoryCache[Entry[T]](
            max_size=check_positive_int("l1_max_size", l1_max_size),
            jitter=None,
            xfetch_beta=0.0,
            name=f"{name}.l1",
            max_key_bytes=l2._max_key_bytes,
            clock=self._clock,
        )
        self._l1_ttl = check_positive("l1_ttl", l1_ttl)
        self.channel = f"{l2.prefix}__invalidate__" if channel is None else check_text("channel", channel)
        self._origin = secrets.token_hex(8)
        # An L2 read that overlapped a change of its key (a write, a delete, an invalidation message)
        # or a broad invalidation (tags, pattern, clear, reconnect) must not fill L1: _marks holds a
        # sequence number per recently changed key, _epoch counts broad invalidations.
        self._epoch = 0
        self._marks: OrderedDict[str, int] = OrderedDict()
        self._sequence = 0
        self._received = 0
        self._l1_on = False
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        # Callers of wait_until_subscribed, told the outcome of the next subscription attempt.
        self._outcome_waiters: list[asyncio.Future[bool]] = []
        self._retry_now = asyncio.Event()
        self._last_warning = -math.inf

    @property
    def l1_stats(self) -> CacheStats:
        """The L1's counters in this process (hits there never reach L2)."""
        return self._l1.stats

    @property
    def l1_active(self) -> bool:
        """Whether L1 is in use: true only while the invalidation subscription is connected."""
        return self._l1_on

    @property
    def invalidations_received(self) -> int:
        """How many invalidation messages from other processes this cache has applied."""
        return self._received

    async def wait_until_subscribed(self, within: float = 5.0) -> bool:
        """Return whether the invalidation subscription is up, trying to make it if it is not.

        Starts the listener if needed (or wakes it from its back-off), then waits for the outcome of
        its attempt to subscribe, at most ``within`` seconds. When Redis cannot be reached the
        attempt fails at once, and so does this call: it returns ``False`` without waiting out
        ``within``.

        Raises:
            CacheConfigurationError: ``within`` is not a finite number of seconds >= 0.
        """
        within = check_non_negative("within", within, maximum=MAX_SECONDS)
        if self._subscribed.is_set():
            return True
        if self._closed:
            return False
        outcome = asyncio.get_running_loop().create_future()
        self._outcome_waiters.append(outcome)
        self._ensure_listening()
        self._retry_now.set()
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), within)
        except TimeoutError:
            return self._subscribed.is_set()
        finally:
            if outcome in self._outcome_waiters:
                self._outcome_waiters.remove(outcome)

    # --- primitives -------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @property
    def _lock_wait(self) -> float:
        return self.l2._lock_wait

    async def _read(self, key: str) -> Entry[T] | None:
        self._ensure_listening()
        if self._l1_on:
            cached = await self._l1.get(key)
            if cached is not MISSING:
                return cached
        before = self._version(key)
        entry = await self.l2._read(key)
        if entry is not None and before == self._version(key):
            await self._fill(key, entry, ())
        return entry

    async def _read_many(self, keys: list[str]) -> list[Entry[T] | None]:
        self._ensure_listening()
        found: dict[str, Entry[T]] = {}
        if self._l1_on:
            found = await self._l1.get_many(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            before = [self._version(k) for k in missing]
            entries = await self.l2._read_many(missing)
            for key, entry, version in zip(missing, entries, before, strict=True):
                if entry is not None:
                    found[key] = entry
                    if version == self._version(key):
                        await self._fill(key, entry, ())
        return [found.get(k) for k in keys]

    async def _write(self, key: str, entry: Entry[T], keep_for: float | None, tags: tuple[str, ...]) -> None:
        self._ensure_listening()
        self._mark(key)
        if await self.l2.store(key, entry, keep_for, tags):
            await self._fill(key, entry, tags)
        else:
            await self._l1.delete(key)  # L1 holds only what L2 holds
        await self._publish("keys", [key])

    async def _write_many(
        self, items: list[tuple[str, Entry[T], float | None]], tags: tuple[str, ...]
    ) -> None:
        self._ensure_listening()
        for key, _, _ in items:
            self._mark(key)
        stored = await self.l2.store_many(items, tags)
        for key, entry, _ in items:
            if stored:
                await self._fill(key, entry, tags)
            else:
                await self._l1.delete(key)
        await self._publish("keys", [key for key, _, _ in items])

    async def _remove(self, key: str) -> None:
        self._mark(key)
        await self.l2._remove(key)
        await self._l1.delete(key)
        await self._publish("keys", [key])

    async def _remove_all(self) -> None:
        self._epoch += 1
        await self.l2._remove_all()
        await self._l1.clear()
        await self._publish("clear", [])

    async def _remove_tags(self, tags: tuple[str, ...]) -> int:
        # L1 copies filled from L2 reads carry no tags: evict them, here and elsewhere, by the keys L2 had.
        self._epoch += 1
        removed, keys = await self.l2.remove_tagged(tags)
        for key in keys:
            await self._l1.delete(key)
        await self._l1.invalidate_tags(*tags)
        await self._publish("keys", keys)
        return removed

    async def _remove_pattern(self, pattern: str) -> int:
        self._epoch += 1
        removed = await self.l2._remove_pattern(pattern)
        await self._l1.delete_pattern(pattern)
        await self._publish("pattern", [pattern])
        return removed

    async def _lock(self, key: str, token: str) -> bool | None:
        return await self.l2._lock(key, token)

    async def _unlock(self, key: str, token: str) -> None:
        await self.l2._unlock(key, token)

    async def _close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._l1_on = False
        await self._l1.clear()
        await self.l2.aclose()

    # --- L1 and invalidation ----------------------------------------------------------------------

    def _mark(self, key: str) -> None:
        self._sequence += 1
        self._marks[key] = self._sequence
        self._marks.move_to_end(key)
        if len(self._marks) > _MAX_MARKS:
            self._marks.popitem(last=False)

    def _version(self, key: str) -> tuple[int, int | None]:
        return self._epoch, self._marks.get(key)

    async def _fill(self, key: str, entry: Entry[T], tags: tuple[str, ...]) -> None:
        if not self._l1_on:
            return
        until = entry.stale_until if entry.stale_until is not None else entry.expires_at
        life = self._l1_ttl if until is None else min(self._l1_ttl, until - self._now())
        if life > 0:
            await self._l1.set(key, entry, ttl=life, tags=tags)

    async def _publish(self, op: str, args: list[str]) -> None:
        message = json.dumps({"o": self._origin, "op": op, "a": args})
        await self.l2._guard("publish", lambda: self.l2.client.publish(self.channel, message), 0)

    async def _apply(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
            origin, op, args = message["o"], message["op"], message["a"]
        except (ValueError, KeyError, TypeError):
            origin = op = args = None
        if not isinstance(args, list) or not all(isinstance(a, str) and a for a in args):
            logger.warning("%s: ignoring a malformed invalidation message on %s", self.name, self.channel)
            return
        if origin == self._origin:
            return
        self._received += 1
        if op != "keys":
            self._epoch += 1
        try:
            if op == "keys":
                for key in args:
                    self._mark(key)
                    await self._l1.delete(key)
            elif op == "tags":
                await self._l1.invalidate_tags(*args)
            elif op == "pattern":
                for pattern in args:
                    await self._l1.delete_pattern(pattern)
            else:
                await self._l1.clear()
        except CacheConfigurationError:  # a key no L1 can hold (too long): nothing to evict
            logger.warning("%s: ignoring an invalid invalidation message on %s", self.name, self.channel)

    def _ensure_listening(self) -> None:
        if self._listener is None and not self._closed:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=f"{self.name}:invalidations"
            )

    async def _listen(self) -> None:
        backoff = 0.05
        while True:
            pubsub = self.l2.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                connection: Any = pubsub.connection  # set by subscribe()
                connection.register_connect_callback(self._on_reconnect)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        # Confirmed by the server: from here on no message on the channel is missed.
                        # Any (re)connection may have missed some before: start L1 empty.
                        await self._l1.clear()
                        self._l1_on = True
                        self._subscribed.set()
                        self._tell_waiters(True)
                        backoff = 0.05
                    elif kind == "message":
                        await self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the subscription disables L1 until it is back
                self._counters.errors += 1
                self._warn_lost(exc)
            finally:
                self._l1_on = False
                self._subscribed.clear()
                await self._l1.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            self._tell_waiters(False)
            # Back off before the next attempt, unless a caller of wait_until_subscribed asks for one now.
            self._retry_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_now.wait(), backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _tell_waiters(self, subscribed: bool) -> None:
        waiters, self._outcome_waiters = self._outcome_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(subscribed)

    def _warn_lost(self, exc: BaseException) -> None:
        # At most one warning per the L2's warn_interval, however often the listener retries.
        now = self._clock.monotonic()
        if now - self._last_warning >= self.l2._warn_interval:
            self._last_warning = now
            logger.warning(
                "%s: invalidation subscription lost (%s); L1 disabled until it is back",
                self.name,
                type(exc).__name__,
            )

    async def _on_reconnect(self, connection: object) -> None:
        self._epoch += 1
        await self._l1.clear()

    def __repr__(self) -> str:
        return f"TieredCache(name={self.name!r}, l2={self.l2!r}, l1_ttl={self._l1_ttl})"
