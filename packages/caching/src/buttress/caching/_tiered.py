"""`TieredStorage`: a per-process L1 in front of a shared L2, kept coherent by Redis pub/sub.

`TieredCache` is the cache over a memory L1 and a Redis L2 (extra ``redis``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Self, Unpack

from buttress.core import AsyncResource, Clock, JsonSerializer, Owned, Serializer, SystemClock, open_redis

from ._cache import Cache
from ._entry import Entry
from ._memory import MemoryStorage
from ._policy import CachePolicy, CachePolicyOptions, resolve_policy, with_concurrency
from ._redis import InvalidationChannel, RedisClient, RedisStorage
from ._stats import CacheStats
from ._storage import CacheStorage, StoredItem
from ._validation import (
    MAX_SECONDS,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_storage_key,
    check_stored_items,
    check_tag_list,
    check_text,
)
from .exceptions import CachingConfigurationError

__all__ = ["TieredCache", "TieredStorage"]

logger = logging.getLogger(__name__)

_MAX_BACKOFF = 5.0
# Recently changed keys remembered to keep overlapping reads out of L1; far more than reads in flight.
_MAX_MARKS = 10_000


class TieredStorage[V](AsyncResource):
    """A `CacheStorage` that keeps an L1 (per process) in front of an L2 (shared), both `CacheStorage`.

    Reads try L1, then L2 (filling L1). Writes and removals go to L2 first, then L1, then a message
    on a Redis pub/sub channel makes every other process drop its L1 copy. It reaches both storages
    through the `CacheStorage` Protocol only, so any L1 and L2 compose; locks are the L2's.

    **Staleness bound.** An L1 copy is never older than ``l1_ttl``. An L2 read that overlapped a
    write or an invalidation (local or received) does not fill L1, so a late read cannot put an old
    value back. While the invalidation subscription is connected, a write in another process evicts
    it within pub/sub delivery time (sub-millisecond on one host). L1 is not used until the
    subscription is confirmed, and is emptied whenever the subscription connection is lost or
    re-established, since messages may have been missed meanwhile; so a process cut off from the
    channel serves nothing older than ``l1_ttl``.

    Args:
        l1: The per-process storage, usually a `MemoryStorage`. Closed by `aclose`.
        l2: The shared storage, usually a `RedisStorage`. Closed by `aclose`.
        client: The Redis client that carries the invalidation messages (never closed here).
        channel: The pub/sub channel. Processes sharing an L2 must use the same one.
        l1_ttl: The longest an L1 copy is served without going back to L2.
        warn_interval: The least time between two warnings about the subscription being lost.
        name: Name for logs.
        clock: Time source: ``now()`` on the axis of the entries' expiry, ``monotonic()`` for warnings.

    Raises:
        CachingConfigurationError: A storage, client or setting of the wrong kind.
    """

    def __init__(
        self,
        l1: CacheStorage[V],
        l2: CacheStorage[V],
        *,
        client: RedisClient,
        channel: str,
        l1_ttl: float = 30.0,
        warn_interval: float = 30.0,
        max_concurrency: int | None = None,
        name: str = "tiered",
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        for parameter, storage in (("l1", l1), ("l2", l2)):
            if isinstance(storage, type) or not isinstance(storage, CacheStorage):
                raise CachingConfigurationError(parameter, storage, "must be a CacheStorage")
        self.channel = check_text("channel", channel)
        self._channel = InvalidationChannel(client, channel=self.channel)  # checks the client
        self._client = client
        self._l1_ttl = check_positive("l1_ttl", l1_ttl)
        self._warn_interval = check_non_negative("warn_interval", warn_interval)
        self.name = check_text("name", name)
        if clock is not None and (isinstance(clock, type) or not isinstance(clock, Clock)):
            raise CachingConfigurationError(
                "clock", clock, "must have now() and monotonic(), like SystemClock()"
            )
        self._clock: Clock = clock if clock is not None else SystemClock()
        wall = self._clock
        self._now: Callable[[], float] = (
            time.time if isinstance(wall, SystemClock) else lambda: wall.now().timestamp()
        )
        self.l1 = l1
        self.l2 = l2
        self._owned: Owned[RedisClient] = Owned(client)
        self._origin = secrets.token_hex(8)
        # An L2 read that overlapped a change of its key (a write, a delete, an invalidation message)
        # or a broad invalidation (tags, pattern, clear, reconnect) must not fill L1: _marks holds a
        # sequence number per recently changed key, _epoch counts broad invalidations.
        self._epoch = 0
        self._marks: OrderedDict[str, int] = OrderedDict()
        self._sequence = 0
        self._received = 0
        self._l1_hits = 0
        self._l1_misses = 0
        self._l1_on = False
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        # Callers of wait_until_subscribed, told the outcome of the next subscription attempt.
        self._outcome_waiters: list[asyncio.Future[bool]] = []
        self._retry_now = asyncio.Event()
        self._last_warning = -math.inf
        self._failures = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "cache:",
        l1_max_size: int = 10_000,
        l1_ttl: float = 30.0,
        channel: str | None = None,
        socket_timeout: float = 1.0,
        max_connections: int = 50,
        pool_timeout: float = 5.0,
        cluster: bool = False,
        warn_interval: float = 30.0,
        max_concurrency: int | None = None,
        name: str = "tiered",
        clock: Clock | None = None,
    ) -> TieredStorage[bytes]:
        """A `MemoryStorage` L1 over a `RedisStorage` L2 on its own client for ``url`` (closed by `aclose`).

        The channel defaults to ``<prefix>__invalidate__``. See `RedisStorage.from_url` for the
        connection options.

        Raises:
            CachingConfigurationError: A bad URL (never quoted) or option.
        """
        client = open_redis(
            url,
            socket_timeout=socket_timeout,
            max_connections=max_connections,
            pool_timeout=pool_timeout,
            cluster=cluster,
            errors=InvalidationChannel.errors,
        )
        storage = _over_redis(
            client,
            prefix=prefix,
            l1_max_size=l1_max_size,
            l1_ttl=l1_ttl,
            channel=channel,
            warn_interval=warn_interval,
            max_concurrency=max_connections,
            name=name,
            clock=clock,
        )
        storage._owned = Owned(client, client.aclose)
        return storage

    @property
    def l1_stats(self) -> CacheStats:
        """Reads in this process that L1 answered (``hits``) or passed on to L2 (``misses``)."""
        return CacheStats(hits=self._l1_hits, misses=self._l1_misses)

    @property
    def l1_active(self) -> bool:
        """Whether L1 is in use: true only while the invalidation subscription is connected."""
        return self._l1_on

    @property
    def invalidations_received(self) -> int:
        """How many invalidation messages from other processes this storage has applied."""
        return self._received

    @property
    def subscription_failures(self) -> int:
        """How many times the invalidation subscription failed (L1 was off until it came back)."""
        return self._failures

    async def wait_until_subscribed(self, within: float = 5.0) -> bool:
        """Return whether the invalidation subscription is up, trying to make it if it is not.

        Starts the listener if needed (or wakes it from its back-off), then waits for the outcome of
        its attempt to subscribe, at most ``within`` seconds. When Redis cannot be reached the
        attempt fails at once, and so does this call: it returns ``False`` without waiting out
        ``within``.

        Raises:
            CachingConfigurationError: ``within`` is not a finite number of seconds >= 0.
        """
        within = check_non_negative("within", within, maximum=MAX_SECONDS)
        if self._subscribed.is_set():
            return True
        if self.closed:
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

    # --- the storage -----------------------------------------------------------------------------

    async def read(self, key: str) -> Entry[V] | None:
        """Return L1's copy of ``key``, or L2's entry (copied into L1 unless a change overlapped the read)."""
        key = check_storage_key(key)
        self._ensure_listening()
        if self._l1_on:
            cached = await self.l1.read(key)
            if cached is not None:
                self._l1_hits += 1
                return cached
            self._l1_misses += 1
        before = self._version(key)
        entry = await self.l2.read(key)
        if entry is not None and before == self._version(key):
            await self._fill([(key, entry, None)], ())
        return entry

    async def read_many(self, keys: Sequence[str]) -> list[Entry[V] | None]:
        """Return the entries under ``keys``: L1's copies, the rest from L2 in one call."""
        wanted = [check_storage_key(key) for key in _sequence("keys", keys)]
        self._ensure_listening()
        found: dict[str, Entry[V]] = {}
        if self._l1_on and wanted:
            copies = await self.l1.read_many(wanted)
            found = {key: copy for key, copy in zip(wanted, copies, strict=True) if copy is not None}
            self._l1_hits += len(found)
            self._l1_misses += len(wanted) - len(found)
        missing = [k for k in wanted if k not in found]
        if missing:
            before = [self._version(k) for k in missing]
            entries = await self.l2.read_many(missing)
            fills = []
            for key, entry, version in zip(missing, entries, before, strict=True):
                if entry is not None:
                    found[key] = entry
                    if version == self._version(key):
                        fills.append((key, entry, None))
            await self._fill(fills, ())
        return [found.get(k) for k in wanted]

    async def write(self, items: Sequence[StoredItem[V]], tags: Sequence[str] = ()) -> None:
        """Write to L2, then L1 (only what L2 took), then tell the other processes."""
        checked = check_stored_items(items)
        labels = check_tag_list(tags)
        self._ensure_listening()
        for key, _, _ in checked:
            self._mark(key)
        try:
            await self.l2.write(checked, labels)
        except BaseException:
            for key, _, _ in checked:
                await self.l1.remove(key)  # L1 holds only what L2 holds
            raise
        await self._fill(checked, labels)
        await self._publish("keys", [key for key, _, _ in checked])

    async def remove(self, key: str) -> bool:
        """Remove ``key`` from L2 and L1, and from the other processes' L1."""
        key = check_storage_key(key)
        self._mark(key)
        try:
            held = await self.l2.remove(key)
        finally:
            await self.l1.remove(key)
        await self._publish("keys", [key])
        return held

    async def remove_tags(self, tags: Sequence[str]) -> list[str]:
        """Remove the keys L2 holds under any of ``tags``, and their copies in every L1."""
        labels = check_tag_list(tags)
        # L1 copies filled from L2 reads carry no tags: evict them, here and elsewhere, by the keys L2 had.
        self._epoch += 1
        try:
            keys = await self.l2.remove_tags(labels)
        finally:
            await self.l1.remove_tags(labels)
        for key in keys:
            await self.l1.remove(key)
        await self._publish("keys", keys)
        return keys

    async def remove_pattern(self, pattern: str) -> int:
        """Remove the keys matching ``pattern`` from L2 and from every L1."""
        pattern = check_text("pattern", pattern)
        self._epoch += 1
        try:
            removed = await self.l2.remove_pattern(pattern)
        finally:
            await self.l1.remove_pattern(pattern)
        await self._publish("pattern", [pattern])
        return removed

    async def clear(self) -> None:
        """Empty L2 and every L1."""
        self._epoch += 1
        try:
            await self.l2.clear()
        finally:
            await self.l1.clear()
        await self._publish("clear", [])

    async def lock(self, key: str, token: str, ttl: float) -> bool | None:
        """The L2's lock."""
        return await self.l2.lock(key, token, ttl)

    async def unlock(self, key: str, token: str) -> None:
        """Release the L2's lock."""
        await self.l2.unlock(key, token)

    async def _aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._l1_on = False
        await self.l1.aclose()
        await self.l2.aclose()
        await self._owned.release()

    # --- L1 and invalidation ----------------------------------------------------------------------

    def _mark(self, key: str) -> None:
        self._sequence += 1
        self._marks[key] = self._sequence
        self._marks.move_to_end(key)
        if len(self._marks) > _MAX_MARKS:
            self._marks.popitem(last=False)

    def _version(self, key: str) -> tuple[int, int | None]:
        return self._epoch, self._marks.get(key)

    async def _fill(
        self, entries: Sequence[tuple[str, Entry[V], float | None]], tags: tuple[str, ...]
    ) -> None:
        """Copy entries into L1 for at most ``l1_ttl``, never past their expiry or their ``keep_for``."""
        if not self._l1_on or not entries:
            return
        now = self._now()
        items: list[StoredItem[V]] = []
        for key, entry, keep_for in entries:
            until = entry.stale_until if entry.stale_until is not None else entry.expires_at
            life = self._l1_ttl if until is None else min(self._l1_ttl, until - now)
            if keep_for is not None:
                life = min(life, keep_for)
            if life > 0:
                items.append((key, entry, life))
        if items:
            await self.l1.write(items, tags)

    async def _publish(self, op: str, args: list[str]) -> None:
        message = json.dumps({"o": self._origin, "op": op, "a": args})
        await self._channel.publish(message)

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
                    await self.l1.remove(key)
            elif op == "tags":
                await self.l1.remove_tags(args)
            elif op == "pattern":
                for pattern in args:
                    await self.l1.remove_pattern(pattern)
            else:
                await self.l1.clear()
        except CachingConfigurationError:  # a key no L1 can hold (too long): nothing to evict
            logger.warning("%s: ignoring an invalid invalidation message on %s", self.name, self.channel)

    def _ensure_listening(self) -> None:
        if self._listener is None and not self.closed:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=f"{self.name}:invalidations"
            )

    async def _listen(self) -> None:
        backoff = 0.05
        while True:
            pubsub: Any = None
            try:
                pubsub = await self._channel.pubsub()
                await pubsub.subscribe(self.channel)
                connection: Any = pubsub.connection  # set by subscribe()
                connection.register_connect_callback(self._on_reconnect)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        # Confirmed by the server: from here on no message on the channel is missed.
                        # Any (re)connection may have missed some before: start L1 empty.
                        await self.l1.clear()
                        self._l1_on = True
                        self._subscribed.set()
                        self._tell_waiters(True)
                        backoff = 0.05
                    elif kind == "message":
                        await self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the subscription disables L1 until it is back
                self._failures += 1
                self._warn_lost(exc)
            finally:
                self._l1_on = False
                self._subscribed.clear()
                await self.l1.clear()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
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
        if now - self._last_warning >= self._warn_interval:
            self._last_warning = now
            logger.warning(
                "%s: invalidation subscription lost (%s); L1 disabled until it is back",
                self.name,
                type(exc).__name__,
            )

    async def _on_reconnect(self, connection: object) -> None:
        self._epoch += 1
        await self.l1.clear()

    def __repr__(self) -> str:
        return f"TieredStorage(name={self.name!r}, channel={self.channel!r}, l1_ttl={self._l1_ttl})"


class TieredCache[T](Cache[T]):
    """A `Cache` over a `TieredStorage`: a memory L1 per process in front of a shared Redis L2.

    Every setting of the cache's `CachePolicy` (TTL, jitter, XFetch, stale serving, locking,
    strictness, breaker) applies to both tiers; see `TieredStorage` for the staleness bound of L1 copies.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` for L2 and the invalidation channel
            (never closed by the cache; `from_url` makes one it owns), or a `TieredStorage` (closed
            by the cache; its own prefix, L1 and channel apply).
        prefix: Prepended to every L2 key; `clear` removes exactly the keys under it.
        l1_max_size: The most keys the L1 holds in this process.
        l1_ttl: The longest an L1 copy is served without going back to L2.
        channel: The pub/sub channel; default ``<prefix>__invalidate__``. Processes sharing an L2
            must use the same one.
        policy: TTLs, jitter, early refresh, locking and failure handling (default: `CachePolicy()`);
            its ``warn_interval`` also paces warnings about the invalidation subscription.
        serializer: How values become bytes; default `JsonSerializer`.
        name: Name for logs and metrics.
        clock: Time source (``now()`` is the axis every process shares).
        rng: Source of floats in [0, 1) for jitter and XFetch.
        **options: Settings of `CachePolicy` given one by one (``ttl=60``); they override ``policy``.
    """

    def __init__(
        self,
        client: RedisClient | TieredStorage[bytes],
        *,
        prefix: str = "cache:",
        l1_max_size: int = 10_000,
        l1_ttl: float = 30.0,
        channel: str | None = None,
        policy: CachePolicy | None = None,
        serializer: Serializer[T] | None = None,
        name: str = "tiered",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **options: Unpack[CachePolicyOptions],
    ) -> None:
        settings = resolve_policy(policy, options)
        if isinstance(client, TieredStorage):
            storage = client
        else:
            storage = _over_redis(
                client,
                prefix=prefix,
                l1_max_size=l1_max_size,
                l1_ttl=l1_ttl,
                channel=channel,
                warn_interval=settings.warn_interval,
                max_concurrency=None,
                name=name,
                clock=clock,
            )
        super().__init__(
            storage,
            policy=settings,
            serializer=serializer if serializer is not None else JsonSerializer[T](),
            name=name,
            clock=clock,
            rng=rng,
        )
        self._tiers = storage

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "cache:",
        l1_max_size: int = 10_000,
        l1_ttl: float = 30.0,
        channel: str | None = None,
        socket_timeout: float = 1.0,
        max_connections: int = 50,
        pool_timeout: float = 5.0,
        cluster: bool = False,
        policy: CachePolicy | None = None,
        serializer: Serializer[T] | None = None,
        name: str = "tiered",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **options: Unpack[CachePolicyOptions],
    ) -> Self:
        """Make a cache with its own client for ``url`` (``redis://``, ``rediss://``, ``unix://``).

        The client is closed by `aclose`; see `RedisStorage.from_url` for the connection options.
        The other arguments are `TieredCache`'s; the policy's ``max_concurrency`` defaults to
        ``max_connections``.

        Raises:
            CachingConfigurationError: A bad URL (never quoted), option or setting.
        """
        settings = with_concurrency(resolve_policy(policy, options), max_connections)
        storage = TieredStorage.from_url(
            url,
            prefix=prefix,
            l1_max_size=l1_max_size,
            l1_ttl=l1_ttl,
            channel=channel,
            socket_timeout=socket_timeout,
            max_connections=max_connections,
            pool_timeout=pool_timeout,
            cluster=cluster,
            warn_interval=settings.warn_interval,
            name=name,
            clock=clock,
        )
        return cls(storage, policy=settings, serializer=serializer, name=name, clock=clock, rng=rng)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of this cache's counters; ``errors`` includes lost invalidation subscriptions."""
        snapshot = self._counters.snapshot()
        return replace(snapshot, errors=snapshot.errors + self._tiers.subscription_failures)

    @property
    def l1_stats(self) -> CacheStats:
        """Reads in this process that L1 answered (``hits``) or passed on to L2 (``misses``)."""
        return self._tiers.l1_stats

    @property
    def l1_active(self) -> bool:
        """Whether L1 is in use: true only while the invalidation subscription is connected."""
        return self._tiers.l1_active

    @property
    def invalidations_received(self) -> int:
        """How many invalidation messages from other processes this cache has applied."""
        return self._tiers.invalidations_received

    @property
    def channel(self) -> str:
        """The pub/sub channel of the invalidation messages."""
        return self._tiers.channel

    async def wait_until_subscribed(self, within: float = 5.0) -> bool:
        """Return whether the invalidation subscription is up, trying to make it if it is not.

        See `TieredStorage.wait_until_subscribed`.

        Raises:
            CachingConfigurationError: ``within`` is not a finite number of seconds >= 0.
        """
        return await self._tiers.wait_until_subscribed(within)

    def __repr__(self) -> str:
        return f"TieredCache(name={self.name!r}, storage={self._tiers!r})"


def _over_redis(
    client: RedisClient,
    *,
    prefix: str,
    l1_max_size: int,
    l1_ttl: float,
    channel: str | None,
    warn_interval: float,
    max_concurrency: int | None,
    name: str,
    clock: Clock | None,
) -> TieredStorage[bytes]:
    """A `MemoryStorage` L1 over a `RedisStorage` L2 on ``client``, which also carries the invalidations."""
    check_text("prefix", prefix)
    check_text("name", name)
    check_positive_int("l1_max_size", l1_max_size)
    return TieredStorage[bytes](
        MemoryStorage[bytes](max_size=l1_max_size, name=f"{name}.l1", clock=clock),
        RedisStorage(client, prefix=prefix, max_concurrency=max_concurrency),
        client=client,
        channel=f"{prefix}__invalidate__" if channel is None else channel,
        l1_ttl=l1_ttl,
        warn_interval=warn_interval,
        name=name,
        clock=clock,
    )


def _sequence(name: str, values: object) -> Sequence[Any]:
    if not isinstance(values, list | tuple):
        raise CachingConfigurationError(name, values, "must be a list or tuple")
    return values
