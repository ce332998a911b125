"""`TieredStorage`: a per-process L1 in front of a shared L2, kept coherent by Redis pub/sub or tracking.

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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Literal, Self, Unpack, cast

from buttress.core import (
    MISSING,
    AsyncResource,
    Clock,
    JsonSerializer,
    Missing,
    Owned,
    Serializer,
    SystemClock,
    open_redis,
)

from ._breaker import BreakerState
from ._cache import _NO_DRAW_BEYOND, _UNREADABLE, NO_HIT, Cache, EarlyHit, _iterable
from ._entry import Entry
from ._held import DECODE, SHARE, L1Values, check_l1_values, plan
from ._memory import MemoryStorage
from ._policy import CachePolicy, CachePolicyOptions, resolve_policy, with_concurrency
from ._redis import _INTERNAL, InvalidationChannel, RedisClient, RedisStorage
from ._stats import CacheStats
from ._storage import CacheStorage, StoredItem
from ._tracking import TrackingConnection

with contextlib.suppress(ImportError):  # _redis has raised MissingExtraError already if it is missing
    from redis.asyncio import Redis
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
_CLOSED = BreakerState.CLOSED


def _DECODE_EACH(value: object) -> object:  # noqa: N802 - a marker, never called
    """Kept in place of a copier: the value is decoded on every hit (`plan` found no faithful copy)."""
    raise AssertionError  # pragma: no cover


# Recently changed keys remembered to keep overlapping reads out of L1; far more than reads in flight.
_MAX_MARKS = 10_000
_INVALIDATIONS = ("pubsub", "tracking")


class TieredStorage[V](AsyncResource):
    """A `CacheStorage` that keeps an L1 (per process) in front of an L2 (shared), both `CacheStorage`.

    Reads try L1, then L2 (filling L1). Writes and removals go to L2 first, then L1; every other
    process drops its L1 copy when told, by one of two means (``invalidation``):

    - ``"pubsub"`` (default): the writer publishes a message on a Redis pub/sub channel. Only
      writers that are `TieredStorage` on the same channel are seen; any L1 and L2 compose.
    - ``"tracking"``: Redis itself reports every change of a key under the L2's prefix (RESP3
      ``CLIENT TRACKING`` in broadcasting mode, Redis >= 6, on a connection of the storage's own).
      Writes from any client count, ``redis-cli`` included, as do expiries, evictions and
      ``FLUSHDB``; writers publish nothing. The L2 must be a `RedisStorage` on a single-node client.

    It reaches both storages through the `CacheStorage` Protocol only; locks are the L2's.

    **Staleness bound.** An L1 copy is never older than ``l1_ttl``. An L2 read that overlapped a
    write or an invalidation (local or received) does not fill L1, so a late read cannot put an old
    value back. While the invalidation subscription is connected, a write in another process evicts
    it within delivery time (sub-millisecond on one host). L1 is not used until the subscription
    (the channel, or tracking) is confirmed, and is emptied whenever its connection is lost or
    re-established, since messages may have been missed meanwhile; so a process cut off from the
    channel serves nothing older than ``l1_ttl``. The tracking connection is also pinged after a
    second of silence, so a connection that dies without a reset stops L1 within about two seconds.

    Args:
        l1: The per-process storage, usually a `MemoryStorage`. Closed by `aclose`.
        l2: The shared storage, usually a `RedisStorage`. Closed by `aclose`.
        client: The Redis client that carries the invalidation messages (never closed here); under
            tracking, the storage opens one more connection with the same settings.
        channel: The pub/sub channel (required under ``"pubsub"``, refused under ``"tracking"``).
            Processes sharing an L2 must use the same one.
        invalidation: ``"pubsub"`` or ``"tracking"``, see above. Processes sharing an L2 must use
            the same one.
        l1_ttl: The longest an L1 copy is served without going back to L2.
        warn_interval: The least time between two warnings about the subscription being lost.
        name: Name for logs.
        clock: Time source: ``now()`` on the axis of the entries' expiry, ``monotonic()`` for warnings.

    Raises:
        CachingConfigurationError: A storage, client or setting of the wrong kind; tracking over an
            L2 that is not a `RedisStorage` or over a Redis Cluster client.
    """

    def __init__(
        self,
        l1: CacheStorage[V],
        l2: CacheStorage[V],
        *,
        client: RedisClient,
        channel: str | None = None,
        invalidation: Literal["pubsub", "tracking"] = "pubsub",
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
        self.invalidation: Literal["pubsub", "tracking"] = invalidation
        self.channel, self._tracked_client = _check_invalidation(invalidation, channel, l2, client)
        self._tracked_prefix = "" if self._tracked_client is None else cast("RedisStorage", l2).prefix
        # Checks the client; under tracking it only maps the client's errors.
        self._channel = InvalidationChannel(client, channel=self.channel or "tracking")
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
        # L1's read without an await, for the cache's hit path (an L1 of another kind is awaited).
        memory: object = l1
        self._l1_now: Callable[[str], Entry[V] | None] | None = (
            memory.read_now if type(memory) is MemoryStorage else None
        )
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
        self._backoff = 0.05

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "cache:",
        l1_max_size: int = 10_000,
        l1_ttl: float = 30.0,
        channel: str | None = None,
        invalidation: Literal["pubsub", "tracking"] = "pubsub",
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

        Under ``"pubsub"`` the channel defaults to ``<prefix>__invalidate__``. See
        `RedisStorage.from_url` for the connection options.

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
            invalidation=invalidation,
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
        """How many invalidation messages this storage has applied.

        Under ``"pubsub"``, messages from other processes; under ``"tracking"``, every report of the
        server, this process's own writes included.
        """
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
        if self.invalidation == "tracking":
            # The server's report of this very write is on its way and would evict a copy made now.
            for key, _, _ in checked:
                await self.l1.remove(key)
            return
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
        if self.invalidation == "tracking":  # the server tells every process itself
            return
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
        self._backoff = 0.05
        while True:
            try:
                if self.invalidation == "tracking":
                    await self._track()
                else:
                    await self._subscribe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the subscription disables L1 until it is back
                self._failures += 1
                self._warn_lost(exc)
            finally:
                self._l1_on = False
                self._subscribed.clear()
                await self.l1.clear()
            self._tell_waiters(False)
            # Back off before the next attempt, unless a caller of wait_until_subscribed asks for one now.
            self._retry_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_now.wait(), self._backoff)
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)

    async def _subscribe(self) -> None:
        """Listen on the pub/sub channel until the subscription fails."""
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
                    await self._activate()
                elif kind == "message":
                    await self._apply(message["data"])
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _track(self) -> None:
        """Listen to the server's reports of changed keys until the tracking connection fails."""
        if self._tracked_client is None:  # pragma: no cover - set at construction under tracking
            raise CachingConfigurationError("invalidation", self.invalidation, "needs a single-node Redis")
        tracking = TrackingConnection(self._tracked_client, prefix=self._tracked_prefix)
        try:
            await tracking.open()
            # Tracking is on: from here on no change under the prefix is missed.
            await self._activate()
            async for keys in tracking.changes():
                await self._apply_tracked(keys)
        finally:
            await tracking.aclose()

    async def _activate(self) -> None:
        # Any (re)connection may have missed messages before it: start L1 empty, and keep reads that
        # began before it (their value may have changed unreported) out of L1.
        self._epoch += 1
        await self.l1.clear()
        self._l1_on = True
        self._subscribed.set()
        self._tell_waiters(True)
        self._backoff = 0.05

    async def _apply_tracked(self, names: list[bytes] | None) -> None:
        """Evict the L1 copies of the keys Redis reports changed (all of them for a flush)."""
        self._received += 1
        if names is None:
            self._epoch += 1
            await self.l1.clear()
            return
        prefix = self._tracked_prefix
        internal = prefix + _INTERNAL  # tag sets and locks: no L1 copy is stored under them
        for name in names:
            try:
                key = name.decode()
            except UnicodeDecodeError:  # not a key RedisStorage writes: no L1 copy to evict
                continue
            if not key.startswith(prefix) or key.startswith(internal):
                continue
            key = key[len(prefix) :]
            self._mark(key)
            try:
                await self.l1.remove(key)
            except CachingConfigurationError:  # a key no L1 can hold: nothing to evict
                continue

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
        where = (
            f"channel={self.channel!r}" if self.channel is not None else f"tracking={self._tracked_prefix!r}"
        )
        return f"TieredStorage(name={self.name!r}, {where}, l1_ttl={self._l1_ttl})"


class TieredCache[T](Cache[T]):
    """A `Cache` over a `TieredStorage`: a memory L1 per process in front of a shared Redis L2.

    Every setting of the cache's `CachePolicy` (TTL, jitter, XFetch, stale serving, locking,
    strictness, breaker) applies to both tiers; see `TieredStorage` for the staleness bound of L1 copies.

    **What an L1 hit hands out** (``l1_values``). The L1 holds the serialized bytes, as Redis does;
    the first hit of an L1 copy decodes them and keeps the decoded value with that copy, so later
    hits skip the serializer. The kept value goes whenever the copy goes (an invalidation, a write,
    ``l1_ttl``, the LRU), exactly as the bytes do, and it is always the decoding of the bytes Redis
    held, never the object given to `set`:

    - ``"copy"`` (default): every caller gets objects of its own, as if each hit decoded. Immutable
      values (``str``, ``bytes``, ``int``, ``float``, ``complex``, ``bool``, ``None``, and tuples
      and frozensets of those) are handed out as they are; trees of dicts, lists, sets and tuples
      over them (all JSON and msgpack give) as a fresh copy, a few times cheaper than decoding;
      anything else is decoded from the bytes on every hit.
    - ``"shared"``: every caller gets the same decoded object. Fastest; a caller that mutates it
      changes what the others get until the copy leaves L1, as with `MemoryCache`.
    - ``"bytes"``: nothing decoded is kept (every hit decodes): the least memory.

    ``l1_max_size`` bounds the number of L1 copies; under ``"copy"`` and ``"shared"`` each copy that
    has been hit also holds its decoded value (the same object under both), next to its bytes.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` for L2 and the invalidation channel
            (never closed by the cache; `from_url` makes one it owns), or a `TieredStorage` (closed
            by the cache; its own prefix, L1 and channel apply).
        prefix: Prepended to every L2 key; `clear` removes exactly the keys under it.
        l1_max_size: The most keys the L1 holds in this process.
        l1_ttl: The longest an L1 copy is served without going back to L2.
        channel: The pub/sub channel; default ``<prefix>__invalidate__`` under ``"pubsub"``, refused
            under ``"tracking"``. Processes sharing an L2 must use the same one.
        invalidation: How other processes' L1 copies are evicted: ``"pubsub"`` (the writer publishes
            on ``channel``) or ``"tracking"`` (Redis reports every change under ``prefix``, whoever
            made it; single-node Redis >= 6). See `TieredStorage`.
        l1_values: What an L1 hit hands out: ``"copy"`` (default), ``"shared"`` or ``"bytes"``,
            see above.
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
        invalidation: Literal["pubsub", "tracking"] = "pubsub",
        l1_values: L1Values = "copy",
        policy: CachePolicy | None = None,
        serializer: Serializer[T] | None = None,
        name: str = "tiered",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **options: Unpack[CachePolicyOptions],
    ) -> None:
        check_l1_values(l1_values)
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
                invalidation=invalidation,
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
        self.l1_values: L1Values = l1_values
        # The L1 hit path (get, get_or_compute, @cached) reads L1 without an await when it can.
        self._l1_now: Callable[[str], Entry[Any] | None] | None = storage._l1_now
        self._fast_key_chars = self._max_key_bytes // 4  # within max_key_bytes whatever it holds
        self._keeps = l1_values != "bytes"
        self._shares = l1_values == "shared"
        # Marks the decoded values this cache kept: another cache over the same storage (another
        # serializer or l1_values) decodes for itself rather than hand out what this one kept.
        self._keeper = object()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "cache:",
        l1_max_size: int = 10_000,
        l1_ttl: float = 30.0,
        channel: str | None = None,
        invalidation: Literal["pubsub", "tracking"] = "pubsub",
        l1_values: L1Values = "copy",
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
        check_l1_values(l1_values)
        settings = with_concurrency(resolve_policy(policy, options), max_connections)
        storage = TieredStorage.from_url(
            url,
            prefix=prefix,
            l1_max_size=l1_max_size,
            l1_ttl=l1_ttl,
            channel=channel,
            invalidation=invalidation,
            socket_timeout=socket_timeout,
            max_connections=max_connections,
            pool_timeout=pool_timeout,
            cluster=cluster,
            warn_interval=settings.warn_interval,
            name=name,
            clock=clock,
        )
        return cls(
            storage,
            l1_values=l1_values,
            policy=settings,
            serializer=serializer,
            name=name,
            clock=clock,
            rng=rng,
        )

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
        """How many invalidation messages this cache has applied (see `TieredStorage`)."""
        return self._tiers.invalidations_received

    @property
    def invalidation(self) -> Literal["pubsub", "tracking"]:
        """How other processes' L1 copies are evicted: ``"pubsub"`` or ``"tracking"``."""
        return self._tiers.invalidation

    @property
    def channel(self) -> str | None:
        """The pub/sub channel of the invalidation messages (``None`` under ``"tracking"``)."""
        return self._tiers.channel

    async def wait_until_subscribed(self, within: float = 5.0) -> bool:
        """Return whether the invalidation subscription is up, trying to make it if it is not.

        See `TieredStorage.wait_until_subscribed`.

        Raises:
            CachingConfigurationError: ``within`` is not a finite number of seconds >= 0.
        """
        return await self._tiers.wait_until_subscribed(within)

    # --- the L1 hit path --------------------------------------------------------------------------

    async def get(self, key: str) -> T | Missing:
        """Return the fresh value for ``key``, or `MISSING` (see ``l1_values`` for what an L1 hit returns).

        Raises:
            InvalidKeyError: ``key`` is not a non-empty string within ``max_key_bytes``.
        """
        # The L1 hit, without an await: the checks of the long path in their cheap form. A key L1
        # holds passed the full check when it was written, so a str short enough to be within
        # max_key_bytes is all that is left to test; nothing is awaited, so no slot of
        # max_concurrency is taken. Anything else (L1 off, breaker not closed, an L1 that is not a
        # MemoryStorage, a miss) goes the long way.
        read_now = self._l1_now
        if (
            read_now is not None
            and key.__class__ is str
            and len(key) <= self._fast_key_chars
            and self._tiers._l1_on
            and self._breaker.state is _CLOSED
            and (entry := read_now(key)) is not None
        ):
            expires_at = entry.expires_at
            if expires_at is None or self._now() < expires_at:
                value = self._value(key, entry)
                self._tiers._l1_hits += 1
                if value is _UNREADABLE:  # counted and logged by `_value`: a miss, as the long path
                    self._counters.misses += 1  # would answer after reading the same entry again
                    return MISSING
                self._counters.hits += 1
                return value  # type: ignore[return-value] # a T, decoded from the entry
        return await super().get(key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, T]:
        """Return the fresh values among ``keys``; missing keys are absent from the result.

        When L1 holds a fresh copy of every key, they are read without an await, as `get` reads
        one, and each value is handed out as ``l1_values`` says; otherwise every key goes the
        general way (L1, then one L2 read for the rest).

        Raises:
            InvalidKeyError: A key is not a non-empty string within ``max_key_bytes``.
            CachingConfigurationError: ``keys`` is not an iterable of keys.
        """
        wanted = list(_iterable("keys", keys))
        read_now = self._l1_now
        if not wanted or read_now is None or not self._tiers._l1_on or self._breaker.state is not _CLOSED:
            return await super().get_many(wanted)
        limit = self._fast_key_chars
        now = self._now()
        found: dict[str, T] = {}
        for key in wanted:
            # Only what a key check would pass: a str short enough for max_key_bytes that L1 holds
            # (it passed the full check when it was written).
            if key.__class__ is not str or len(key) > limit or (entry := read_now(key)) is None:
                return await super().get_many(wanted)
            expires_at = entry.expires_at
            if expires_at is not None and now >= expires_at:
                return await super().get_many(wanted)
            value = self._value(key, entry)
            if value is not _UNREADABLE:  # else counted and logged by `_value`, and a miss below
                found[key] = value  # type: ignore[assignment] # a T, decoded from the entry
        self._tiers._l1_hits += len(wanted)
        # Counted as the general path counts them: a key asked twice is one hit and one miss.
        self._counters.hits += len(found)
        self._counters.misses += len(wanted) - len(found)
        return found

    def _hit_now(self, key: str) -> object:
        # The L1 hit of get_or_compute and @cached, as in get (see Cache._hit_now for the contract).
        read_now = self._l1_now
        if (
            read_now is not None
            and len(key) <= self._fast_key_chars
            and self._tiers._l1_on
            and self._breaker.state is _CLOSED
            and (entry := read_now(key)) is not None
        ):
            now = self._now()
            expires_at = entry.expires_at
            if expires_at is None or now < expires_at:
                # `_value`'s common case inlined: the value this cache kept, shared or copied.
                kept: Any = entry._decoded
                if kept is not None and kept[0] is self._keeper and (copier := kept[1]) is not _DECODE_EACH:
                    value = kept[2] if copier is None else copier(kept[2])
                else:
                    # Quiet if unreadable: the general path reads the same entry, counts and logs it
                    # once, and computes the value.
                    value = self._value(key, entry, report=False)
                if value is not _UNREADABLE:
                    self._tiers._l1_hits += 1
                    self._counters.hits += 1
                    # XFetch (`_early`), past its cheap test inlined: far from expiry, no draw.
                    if (
                        expires_at is not None
                        and now + entry.delta * self._beta * _NO_DRAW_BEYOND >= expires_at
                        and self._early(entry, now)
                    ):
                        return EarlyHit(value, expires_at)
                    return value
        return NO_HIT

    async def _lookup(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        seconds: float | None,
        labels: tuple[str, ...],
        cache_none: bool,
    ) -> T:
        hit = self._hit_now(key)
        if hit is NO_HIT:
            return await super()._lookup(key, loader, seconds, labels, cache_none)
        if hit.__class__ is EarlyHit:
            early: EarlyHit = hit  # its class was just tested: mypy narrows it
            self._refresh_early(
                key,
                loader,
                seconds=seconds,
                labels=labels,
                cache_none=cache_none,
                expires_at=early.expires_at,
            )
            hit = early.value
        return hit  # type: ignore[return-value] # a T, decoded from the entry

    def _value(self, key: str, stored: Entry[Any], *, report: bool = True) -> T | object:
        """The value of ``stored`` as ``l1_values`` hands it out, decoding at most once per entry object."""
        if not self._keeps:
            return super()._value(key, stored, report=report)
        keeper = self._keeper
        kept: Any = stored._decoded
        if kept is not None and kept[0] is keeper:
            copier = kept[1]
            if copier is None:
                held: object = kept[2]
                return held
            if copier is not _DECODE_EACH:
                copied: object = copier(kept[2])
                return copied
            return super()._value(key, stored, report=report)
        value = super()._value(key, stored, report=report)
        if value is _UNREADABLE:
            return value
        how, copier = (SHARE, None) if self._shares else plan(value)
        # Kept on the entry object: L1 drops the decoded value whenever it drops the copy.
        kept = (keeper, _DECODE_EACH, None) if how is DECODE else (keeper, copier, value)
        object.__setattr__(stored, "_decoded", kept)
        # This decode is the caller's own, unless it is kept to be copied (or shared) from now on.
        return copier(value) if copier is not None else value

    def __repr__(self) -> str:
        return f"TieredCache(name={self.name!r}, storage={self._tiers!r})"


def _over_redis(
    client: RedisClient,
    *,
    prefix: str,
    l1_max_size: int,
    l1_ttl: float,
    channel: str | None,
    invalidation: Literal["pubsub", "tracking"],
    warn_interval: float,
    max_concurrency: int | None,
    name: str,
    clock: Clock | None,
) -> TieredStorage[bytes]:
    """A `MemoryStorage` L1 over a `RedisStorage` L2 on ``client``, which also carries the invalidations."""
    check_text("prefix", prefix)
    if invalidation == "pubsub" and channel is None:
        channel = f"{prefix}__invalidate__"
    check_text("name", name)
    check_positive_int("l1_max_size", l1_max_size)
    return TieredStorage[bytes](
        MemoryStorage[bytes](max_size=l1_max_size, name=f"{name}.l1", clock=clock),
        RedisStorage(client, prefix=prefix, max_concurrency=max_concurrency),
        client=client,
        channel=channel,
        invalidation=invalidation,
        l1_ttl=l1_ttl,
        warn_interval=warn_interval,
        name=name,
        clock=clock,
    )


def _check_invalidation(
    invalidation: object, channel: str | None, l2: object, client: RedisClient
) -> tuple[str | None, Redis | None]:
    """Check the invalidation settings; return the channel (pub/sub) or the client to track with."""
    if invalidation not in _INVALIDATIONS:
        raise CachingConfigurationError("invalidation", invalidation, 'must be "pubsub" or "tracking"')
    if invalidation == "pubsub":
        if channel is None:
            raise CachingConfigurationError("channel", channel, 'is required with invalidation="pubsub"')
        return check_text("channel", channel), None
    if channel is not None:
        raise CachingConfigurationError(
            "channel", channel, 'applies to invalidation="pubsub" only: leave it out with "tracking"'
        )
    InvalidationChannel(client, channel="tracking")  # checks the client
    if not isinstance(l2, RedisStorage):
        raise CachingConfigurationError(
            "l2", l2, 'must be a RedisStorage with invalidation="tracking" (its prefix is tracked)'
        )
    if not isinstance(client, Redis):
        raise CachingConfigurationError(
            "client", client, 'must be a single-node Redis with invalidation="tracking"'
        )
    return None, client


def _sequence(name: str, values: object) -> Sequence[Any]:
    if not isinstance(values, list | tuple):
        raise CachingConfigurationError(name, values, "must be a list or tuple")
    return values
