"""`MemoryCache`: an in-process LRU cache with per-entry TTL, the embedded default."""

from __future__ import annotations

import fnmatch
import re
from collections import OrderedDict
from collections.abc import Callable

from buttress.core import MISSING, Clock, Missing

from ._base import BaseCache
from ._entry import Entry
from ._validation import DEFAULT_MAX_KEY_BYTES, TTL, check_positive_int


class MemoryCache[T](BaseCache[T]):
    """An LRU cache in this process's memory, with a TTL per entry.

    Every operation on one key is O(1): an ordered dict keeps recency, a read moves the key to the
    front, and a write beyond ``max_size`` evicts the least recently used key. Expired entries are
    dropped when they are read or reach the end of the LRU order. All work happens between awaits, so
    concurrent tasks see each operation whole. Values are stored as they are, not copied: do not
    mutate a value after caching it.

    Args:
        max_size: The most keys held; the least recently used go first.
        default_ttl: TTL for writes that give none; ``None`` keeps values until evicted.
        jitter: Band by which each TTL is shortened at random; default 5-15 %.
        xfetch_beta: Eagerness of probabilistic early refresh in `get_or_compute` (0 disables).
        stale_ttl: Serve values this long past expiry from `get_or_compute` while refreshing.
        name: Name for logs and metrics.
        max_key_bytes: The longest key accepted.
        clock: Time source (its ``monotonic()`` is used); tests pass a FakeClock.
        rng: Source of floats in [0, 1) for jitter and XFetch.

    Examples:
        >>> import asyncio
        >>> async def main() -> int:
        ...     cache = MemoryCache[int](max_size=1_000, default_ttl=60)
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
        default_ttl: TTL | None = None,
        jitter: tuple[float, float] | float | None = (0.05, 0.15),
        xfetch_beta: float = 1.0,
        stale_ttl: TTL | None = None,
        name: str = "memory",
        max_key_bytes: int = DEFAULT_MAX_KEY_BYTES,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            name=name,
            default_ttl=default_ttl,
            jitter=jitter,
            xfetch_beta=xfetch_beta,
            stale_ttl=stale_ttl,
            max_key_bytes=max_key_bytes,
            clock=clock,
            rng=rng,
        )
        self.max_size = check_positive_int("max_size", max_size)
        # A key of at most this many characters is within max_key_bytes whatever it holds (UTF-8 <= 4 B/char).
        self._fast_key_chars = self._max_key_bytes // 4
        self._items: OrderedDict[str, tuple[Entry[T], float | None]] = OrderedDict()
        self._tag_index: dict[str, set[str]] = {}
        self._key_tags: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        """The number of keys held, including expired ones not yet dropped."""
        return len(self._items)

    @property
    def size(self) -> int:
        """The number of keys held, including expired ones not yet dropped."""
        return len(self._items)

    def _now(self) -> float:
        return self._clock.monotonic()

    async def get(self, key: str) -> T | Missing:
        # The hot path, inlined: one dict lookup, one recency move.
        if type(key) is not str or not key or len(key) > self._fast_key_chars:
            return await super().get(key)
        slot = self._items.get(key)
        if slot is not None:
            entry, drop_at = slot
            now = self._clock.monotonic()
            if entry.expires_at is None or now < entry.expires_at:
                self._items.move_to_end(key)
                self._counters.hits += 1
                return entry.value
            if drop_at is not None and now >= drop_at:
                self._forget(key)
        self._counters.misses += 1
        return MISSING

    async def _read(self, key: str) -> Entry[T] | None:
        slot = self._items.get(key)
        if slot is None:
            return None
        entry, drop_at = slot
        if drop_at is not None and self._clock.monotonic() >= drop_at:
            self._forget(key)
            return None
        self._items.move_to_end(key)
        return entry

    async def _write(self, key: str, entry: Entry[T], keep_for: float | None, tags: tuple[str, ...]) -> None:
        drop_at = None if keep_for is None else self._clock.monotonic() + keep_for
        if key in self._items:
            self._untag(key)
        self._items[key] = (entry, drop_at)
        self._items.move_to_end(key)
        if tags:
            self._key_tags[key] = tags
            for tag in tags:
                self._tag_index.setdefault(tag, set()).add(key)
        while len(self._items) > self.max_size:
            oldest = next(iter(self._items))
            self._forget(oldest)
            self._counters.evictions += 1

    async def _remove(self, key: str) -> None:
        self._forget(key)

    async def _remove_all(self) -> None:
        self._items.clear()
        self._tag_index.clear()
        self._key_tags.clear()

    async def _remove_tags(self, tags: tuple[str, ...]) -> int:
        keys = set().union(*(self._tag_index.get(tag, set()) for tag in tags))
        for key in keys:
            self._forget(key)
        return len(keys)

    async def _remove_pattern(self, pattern: str) -> int:
        match = re.compile(fnmatch.translate(pattern)).match
        doomed = [key for key in self._items if match(key)]
        for key in doomed:
            self._forget(key)
        return len(doomed)

    def _forget(self, key: str) -> None:
        if self._items.pop(key, None) is not None:
            self._untag(key)

    def _untag(self, key: str) -> None:
        for tag in self._key_tags.pop(key, ()):
            members = self._tag_index.get(tag)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._tag_index[tag]
