"""`CacheStorage`: where a cache keeps its entries, and nothing else.

A `Cache` holds the policy (TTLs, jitter, early refresh, single-flight, locking, the circuit breaker,
the serializer, statistics); a storage only keeps entries, the way an httpx ``Client`` sends through a
``Transport``. `MemoryStorage`, `RedisStorage` and `TieredStorage` are the ones this package ships;
`buttress.testing.CacheStorageContract` checks one you write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._entry import Entry

__all__ = ["CacheStorage", "StoredItem"]

type StoredItem[V] = tuple[str, Entry[V], float | None]
"""One entry to write: its key, the entry, and how long the storage keeps it (``None``: until removed)."""


@runtime_checkable
class CacheStorage[V](Protocol):
    """**Protocol**: a place that keeps cache entries under string keys.

    A storage decides nothing: the `Cache` in front of it computes every entry's expiry, checks every
    argument and handles failures. Keys reach a storage already checked (non-empty UTF-8 strings
    without NUL, within the cache's ``max_key_bytes``); tags are non-empty strings and patterns
    globs (``*``, ``?``, ``[...]``).

    A storage whose server cannot be reached raises `CachingUnavailableError` from any method; the
    cache in front turns that into a miss or a dropped write (or raises it, in strict mode) and
    counts it toward its circuit breaker. Stored data the storage cannot read back (corrupt bytes, a
    key of another kind) raises `CacheSerializationError`: the cache reads a miss and counts an error.

    Methods:
        read: The entry stored under a key, or ``None``.
        read_many: The entries stored under several keys, in order.
        write: Store entries, each labelled with the tags.
        remove: Remove a key; whether it held an entry.
        remove_tags: Remove every key written with any of the tags; the keys removed.
        remove_pattern: Remove every key matching a glob; how many went.
        clear: Remove every key this storage holds.
        lock: Try to take a lock on a key shared by every process using the storage.
        unlock: Release that lock if a token still holds it.
        aclose: Release the storage's connections and tasks.
    """

    async def read(self, key: str) -> Entry[V] | None:
        """Return the entry stored under ``key``, or ``None``.

        An entry past its ``expires_at`` is still returned while the storage keeps it (the cache
        may serve it stale); one past the ``keep_for`` it was written with never is.
        """
        ...

    async def read_many(self, keys: Sequence[str]) -> list[Entry[V] | None]:
        """Return the entries stored under ``keys``, in the same order (``None`` where there is none).

        An entry that cannot be read back is ``None`` here rather than an error, so one bad entry
        does not hide the others.
        """
        ...

    async def write(self, items: Sequence[StoredItem[V]], tags: Sequence[str] = ()) -> None:
        """Store each ``(key, entry, keep_for)`` of ``items``, replacing what the key held.

        The storage may drop an entry ``keep_for`` seconds after writing it (``None``: keep it until
        it is removed or evicted). Each key is labelled with every tag in ``tags``, for
        `remove_tags`; whether a key rewritten (or removed and written again) keeps the labels of
        its earlier entries is the storage's choice (a memory storage drops them, Redis keeps them
        until the tag is removed).
        """
        ...

    async def remove(self, key: str) -> bool:
        """Remove ``key``; return whether it held an entry the storage still kept."""
        ...

    async def remove_tags(self, tags: Sequence[str]) -> list[str]:
        """Remove every key written with any of ``tags``; return the keys that held an entry."""
        ...

    async def remove_pattern(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern``; return how many went."""
        ...

    async def clear(self) -> None:
        """Remove every key this storage holds (and no one else's data)."""
        ...

    async def lock(self, key: str, token: str, ttl: float) -> bool | None:
        """Try to take the lock on ``key`` for ``token``, freed by itself after ``ttl`` seconds.

        Returns whether it was taken, or ``None`` when the storage has no locks shared between
        processes (a memory storage): the cache then computes without waiting. The lock lives
        beside the key; it never touches the entry stored there.
        """
        ...

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock on ``key`` if ``token`` still holds it; otherwise do nothing."""
        ...

    async def aclose(self) -> None:
        """Release what the storage owns (a client it made, background tasks). Safe to call twice."""
        ...
