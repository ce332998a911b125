"""`MemoryStorage`, an in-process LRU with a lifetime per entry, and `MemoryCache`, the cache over it."""

from __future__ import annotations

import fnmatch
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Unpack

from buttress.core import MISSING, AsyncResource, Clock, Missing, SystemClock

from ._cache import Cache
from ._entry import Entry
from ._metrics import track
from ._policy import CachePolicy, CachePolicyOptions
from ._stats import CacheStats, Counters
from ._storage import StoredItem
from ._validation import (
    check_positive_int,
    check_storage_key,
    check_storage_keys,
    check_stored_items,
    check_tag_list,
    check_text,
)
from .exceptions import CachingConfigurationError

__all__ = ["MemoryCache", "MemoryStorage"]


class MemoryStorage[V](AsyncResource):
    """A `CacheStorage` in this process's memory: an LRU of at most ``max_size`` keys.

    Every operation on one key is O(1): an ordered dict keeps recency, a read moves the key to the
    front, and a write beyond ``max_size`` evicts the least recently used key. An entry is dropped
    once the ``keep_for`` it was written with has passed (measured on ``clock.monotonic()``), when
    it is read or reaches the end of the LRU order. All work happens between awaits, so concurrent
    tasks see each operation whole. Entries are kept as they are, not copied. It has no lock shared
    between processes (`lock` returns ``None``): single-flight in the cache covers this process.

    Args:
        max_size: The most keys held; the least recently used go first.
        name: Name for metrics (``cache.name`` of ``buttress.caching.evictions``).
        clock: Time source (its ``monotonic()``); tests pass a FakeClock.

    Raises:
        CachingConfigurationError: ``max_size`` is not an integer >= 1, or ``clock`` is no clock.
    """

    def __init__(self, *, max_size: int = 10_000, name: str = "memory", clock: Clock | None = None) -> None:
        super().__init__()
        self.max_size = check_positive_int("max_size", max_size)
        if clock is not None and (isinstance(clock, type) or not isinstance(clock, Clock)):
            raise CachingConfigurationError(
                "clock", clock, "must have now() and monotonic(), like SystemClock()"
            )
        # The system clock's reading without a method call in between: it is on every read's path.
        self._monotonic: Callable[[], float] = (
            time.monotonic if clock is None or isinstance(clock, SystemClock) else clock.monotonic
        )
        self._items: OrderedDict[str, tuple[Entry[V], float | None]] = OrderedDict()
        self._tag_index: dict[str, set[str]] = {}
        self._key_tags: dict[str, tuple[str, ...]] = {}
        self._counters = Counters(name=check_text("name", name))
        track(self._counters)

    def __len__(self) -> int:
        """The number of keys held, including expired ones not yet dropped."""
        return len(self._items)

    @property
    def evictions(self) -> int:
        """How many entries were dropped to respect ``max_size``."""
        return self._counters.evictions

    def read_now(self, key: str, now: float | None = None) -> Entry[V] | None:
        """`read` without an await, for callers in this process's hot paths.

        Args:
            key: The key.
            now: The storage clock's ``monotonic()`` reading, when the caller just took it.

        Raises:
            InvalidKeyError: ``key`` is not a key a storage can hold.
        """
        slot = self._items.get(key) if key.__class__ is str else self._items.get(check_storage_key(key))
        if slot is None:
            return None
        entry, drop_at = slot
        if drop_at is not None and (now if now.__class__ is float else self._monotonic()) >= drop_at:
            self._forget(key)
            return None
        self._items.move_to_end(key)
        return entry

    async def read(self, key: str) -> Entry[V] | None:
        """Return the entry under ``key`` (moving it to the front of the LRU order), or ``None``."""
        return self.read_now(check_storage_key(key))

    async def read_many(self, keys: Sequence[str]) -> list[Entry[V] | None]:
        """Return the entries under ``keys``, in order."""
        return [self.read_now(key) for key in check_storage_keys(keys)]

    async def write(self, items: Sequence[StoredItem[V]], tags: Sequence[str] = ()) -> None:
        """Store the ``(key, entry, keep_for)`` items with ``tags``, evicting the least recently used."""
        checked = check_stored_items(items)
        labels = check_tag_list(tags)
        now = self._monotonic()
        for key, entry, keep_for in checked:
            self._put(key, entry, None if keep_for is None else now + keep_for, labels)

    def _put(self, key: str, entry: Entry[V], drop_at: float | None, tags: tuple[str, ...]) -> None:
        if key in self._items:
            self._untag(key)
        self._items[key] = (entry, drop_at)
        self._items.move_to_end(key)
        if tags:
            self._key_tags[key] = tags
            for tag in tags:
                self._tag_index.setdefault(tag, set()).add(key)
        while len(self._items) > self.max_size:
            self._forget(next(iter(self._items)))
            self._counters.evictions += 1

    async def remove(self, key: str) -> bool:
        """Remove ``key``; return whether it held an entry not yet past its ``keep_for``."""
        return self.read_now(check_storage_key(key)) is not None and self._forget(key)

    async def remove_tags(self, tags: Sequence[str]) -> list[str]:
        """Remove every key written with any of ``tags``; return them."""
        keys = set().union(*(self._tag_index.get(tag, set()) for tag in check_tag_list(tags)))
        return [key for key in keys if self._forget(key)]

    async def remove_pattern(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern``; return how many went."""
        match = re.compile(fnmatch.translate(check_text("pattern", pattern)), re.DOTALL).match
        doomed = [key for key in self._items if match(key)]
        for key in doomed:
            self._forget(key)
        return len(doomed)

    async def clear(self) -> None:
        """Remove every entry."""
        self._items.clear()
        self._tag_index.clear()
        self._key_tags.clear()

    async def lock(self, key: str, token: str, ttl: float) -> bool | None:
        """Return ``None``: a memory storage has no lock shared between processes."""
        check_storage_key(key)
        return None

    async def unlock(self, key: str, token: str) -> None:
        """Do nothing: there is no lock to release."""
        check_storage_key(key)

    async def _aclose(self) -> None:
        await self.clear()

    def _forget(self, key: str) -> bool:
        if self._items.pop(key, None) is None:
            return False
        self._untag(key)
        return True

    def _untag(self, key: str) -> None:
        for tag in self._key_tags.pop(key, ()):
            members = self._tag_index.get(tag)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._tag_index[tag]

    def __repr__(self) -> str:
        return f"MemoryStorage(max_size={self.max_size}, size={len(self._items)})"


class MemoryCache[T](Cache[T]):
    """A `Cache` over a `MemoryStorage`: an LRU in this process, the embedded default.

    Values are stored as they are, not copied: do not mutate a value after caching it.

    Args:
        max_size: The most keys held; the least recently used go first.
        policy: TTLs, jitter, early refresh and the rest (default: `CachePolicy()`); a memory storage
            has no lock shared between processes, so the lock settings do not apply.
        name: Name for logs and metrics.
        clock: Time source; tests pass a FakeClock.
        rng: Source of floats in [0, 1) for jitter and XFetch.
        **options: Settings of `CachePolicy` given one by one (``ttl=60``); they override ``policy``.

    Examples:
        >>> import asyncio
        >>> async def main() -> int:
        ...     cache = MemoryCache[int](max_size=1_000, ttl=60)
        ...     async def load() -> int:
        ...         return 42
        ...     return await cache.get_or_compute("answer", load)
        >>> asyncio.run(main())
        42
    """

    def __init__(
        self,
        *,
        max_size: int = 10_000,
        policy: CachePolicy | None = None,
        name: str = "memory",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **options: Unpack[CachePolicyOptions],
    ) -> None:
        check_text("name", name)
        memory = MemoryStorage[T](max_size=max_size, name=name, clock=clock)
        super().__init__(memory, policy=policy, name=name, clock=clock, rng=rng, **options)
        self._memory = memory
        # The hot path reads the storage's own dict: this cache made the storage, in this module, and
        # is its only user (see get).
        self._items = memory._items
        # Entries never leave the process: expiries are measured on the storage's monotonic clock,
        # so one reading serves both the cache's freshness test and the storage's drop test.
        self._now = memory._monotonic
        # A key of at most this many characters is within max_key_bytes whatever it holds (UTF-8 <= 4 B/char).
        self._fast_key_chars = self._max_key_bytes // 4

    @property
    def max_size(self) -> int:
        """The most keys held."""
        return self._memory.max_size

    def __len__(self) -> int:
        """The number of keys held, including expired ones not yet dropped."""
        return len(self._memory)

    @property
    def size(self) -> int:
        """The number of keys held, including expired ones not yet dropped."""
        return len(self._memory)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of this cache's counters, with its storage's evictions."""
        return replace(self._counters.snapshot(), evictions=self._memory.evictions)

    async def get(self, key: str) -> T | Missing:
        # The hot path, inlined: one dict lookup, one clock reading, one recency move. A memory
        # storage cannot fail; an entry past its expiry (or its drop time) goes the long way.
        if key.__class__ is str and key and len(key) <= self._fast_key_chars:
            slot = self._items.get(key)
            if slot is None:
                self._counters.misses += 1
                return MISSING
            entry, drop_at = slot
            now = self._now()
            expires_at = entry.expires_at
            if (expires_at is None or now < expires_at) and (drop_at is None or now < drop_at):
                self._items.move_to_end(key)
                self._counters.hits += 1
                return entry.value
        return await super().get(key)

    async def _read(self, key: str) -> Entry[T] | None:
        slot = self._items.get(key)
        if slot is None:
            return None
        drop_at = slot[1]
        if drop_at is not None and self._now() >= drop_at:
            return self._memory.read_now(key)  # drops it
        self._items.move_to_end(key)
        return slot[0]

    def __repr__(self) -> str:
        return f"MemoryCache(name={self.name!r}, max_size={self.max_size})"
