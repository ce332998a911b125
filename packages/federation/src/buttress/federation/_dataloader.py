"""A generic asyncio DataLoader: one batch call per event-loop tick, a per-request cache, errors per key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, overload

from ._metrics import BATCH_SIZE, BATCHES
from .exceptions import DataLoaderError, FederationConfigurationError, FederationTypeError

__all__ = ["BatchLoadFn", "DataLoader"]

type BatchLoadFn[K, V] = Callable[[Sequence[K]], Awaitable[Sequence[V | BaseException]]]


@dataclass(frozen=True, slots=True)
class _Primed[V]:
    """A value `DataLoader.prime` put in the cache before any event loop asked for it."""

    value: V


class DataLoader[K, V]:
    """Coalesce the loads of one tick into one call of a batch function.

    Every `load` made before the event loop gets back to the loader is collected; the loader then
    calls ``batch_load`` with the distinct keys (in first-asked order, split into batches of at most
    ``max_batch_size``). ``batch_load`` returns one value per key, in the same order; an exception
    instance in that list fails that key alone. Results are cached per loader, so make one loader per
    request (the cache is the request's view of the data, not a shared cache). Failed keys are not
    cached: the next load asks again.

    Example:
        >>> async def users_by_id(ids):
        ...     rows = await db.fetch("SELECT * FROM users WHERE id = ANY($1)", ids)
        ...     by_id = {r["id"]: r for r in rows}
        ...     return [by_id.get(i) for i in ids]
        >>> loader = DataLoader(users_by_id, max_batch_size=500)
        >>> alice, bob = await asyncio.gather(loader.load(1), loader.load(2))  # one query

    Args:
        batch_load: ``async (keys) -> values``, one value (or exception) per key, same order.
        max_batch_size: The most keys in one call; ``None`` for no limit.
        cache: Whether to remember results (and coalesce repeated keys); ``False`` passes every
            load to the batch function, duplicates included.
        cache_key: Maps a key to what the cache is indexed by (for unhashable keys).

    Raises:
        FederationConfigurationError: ``max_batch_size`` is not a positive int, or ``batch_load`` or
            ``cache_key`` is not callable.
        FederationTypeError: ``cache`` is not a bool.
    """

    def __init__(
        self,
        batch_load: BatchLoadFn[K, V],
        *,
        max_batch_size: int | None = None,
        cache: bool = True,
        cache_key: Callable[[K], Hashable] | None = None,
    ) -> None:
        if max_batch_size is not None and (
            not isinstance(max_batch_size, int) or isinstance(max_batch_size, bool) or max_batch_size < 1
        ):
            raise FederationConfigurationError(
                "max_batch_size", max_batch_size, "must be a positive int or None"
            )
        if not callable(batch_load):
            raise FederationConfigurationError(
                "batch_load",
                batch_load,
                "must be an async callable taking a sequence of keys",
                show_value=False,
            )
        if cache_key is not None and not callable(cache_key):
            raise FederationConfigurationError(
                "cache_key",
                cache_key,
                "must be a callable mapping a key to a hashable value",
                show_value=False,
            )
        if not isinstance(cache, bool):
            raise FederationTypeError("cache", "a bool", cache)
        self._batch_load = batch_load
        self._max_batch_size = max_batch_size
        self._cache_enabled = cache
        self._cache_key: Callable[[K], Hashable] = cache_key or (lambda key: key)
        self._cache: dict[Hashable, asyncio.Future[V] | _Primed[V]] = {}
        self._queue: list[tuple[K, asyncio.Future[V]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batch_calls = 0
        """How many times the batch function was called (for tests and metrics)."""

    async def load(self, key: K) -> V:
        """The value for ``key``, loaded in a batch with the other loads of this tick.

        Raises:
            FederationTypeError: The key is not hashable and no ``cache_key`` makes it so.
            BaseException: Whatever the batch function returned or raised for this key.
        """
        future = self._future_for(key)
        # shield: a cancelled caller must not cancel a future other callers share.
        return await asyncio.shield(future)

    @overload
    async def load_many(self, keys: Iterable[K], *, return_exceptions: Literal[False] = False) -> list[V]: ...
    @overload
    async def load_many(
        self, keys: Iterable[K], *, return_exceptions: Literal[True]
    ) -> list[V | BaseException]: ...
    async def load_many(
        self, keys: Iterable[K], *, return_exceptions: bool = False
    ) -> list[V] | list[V | BaseException]:
        """The values for ``keys``, in order, from as few batch calls as the limits allow.

        Args:
            keys: The keys to load.
            return_exceptions: Put a failed key's exception in its place instead of raising it.

        Raises:
            FederationTypeError: ``keys`` is not iterable, a key is not hashable, or
                ``return_exceptions`` is not a bool.
        """
        if not isinstance(return_exceptions, bool):
            raise FederationTypeError("return_exceptions", "a bool", return_exceptions)
        if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
            raise FederationTypeError("keys", "an iterable of keys (not a str)", keys)
        wanted = list(keys)
        if self._cache_enabled:
            for key in wanted:  # every key checked before any is queued
                self._hashable(key)
        futures = [self._future_for(key) for key in wanted]
        if return_exceptions:
            return list(await asyncio.gather(*(asyncio.shield(f) for f in futures), return_exceptions=True))
        return list(await asyncio.gather(*(asyncio.shield(f) for f in futures)))

    def prime(self, key: K, value: V) -> None:
        """Put ``value`` in the cache for ``key`` unless it already holds one (works outside a loop too).

        Raises:
            FederationTypeError: The key is not hashable and no ``cache_key`` makes it so.
        """
        cache_key = self._hashable(key)
        if not self._cache_enabled or cache_key in self._cache:
            return
        self._cache[cache_key] = _Primed(value)

    def clear(self, key: K) -> None:
        """Forget ``key``: the next load asks the batch function again.

        Raises:
            FederationTypeError: The key is not hashable and no ``cache_key`` makes it so.
        """
        self._cache.pop(self._hashable(key), None)

    def clear_all(self) -> None:
        """Forget every cached key."""
        self._cache.clear()

    def _hashable(self, key: K) -> Hashable:
        cache_key = self._cache_key(key)
        try:
            hash(cache_key)
        except TypeError:
            raise FederationTypeError(
                "key", "hashable (or give the DataLoader a cache_key that makes it so)", key
            ) from None
        return cache_key

    def _future_for(self, key: K) -> asyncio.Future[V]:
        loop = asyncio.get_running_loop()
        cache_key = self._hashable(key) if self._cache_enabled else None
        if self._cache_enabled:
            cached = self._cache.get(cache_key)
            if isinstance(cached, _Primed):
                primed: asyncio.Future[V] = loop.create_future()
                primed.set_result(cached.value)
                self._cache[cache_key] = primed
                return primed
            if cached is not None:
                return cached
        future: asyncio.Future[V] = loop.create_future()
        if self._cache_enabled:
            self._cache[cache_key] = future
        self._queue.append((key, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._dispatch)
        return future

    def _dispatch(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        size = self._max_batch_size or max(len(queue), 1)
        for start in range(0, len(queue), size):
            task = asyncio.get_running_loop().create_task(self._run(queue[start : start + size]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        keys = [key for key, _ in batch]
        self.batch_calls += 1
        BATCHES.add(1)
        BATCH_SIZE.record(len(keys))
        try:
            values = await self._batch_load(keys)
        except Exception as error:  # noqa: BLE001 - handed to every waiting caller
            for key, future in batch:
                self._fail(key, future, error)
            return
        if not isinstance(values, Sequence) or len(values) != len(keys):
            got = len(values) if isinstance(values, Sequence) else type(values).__name__
            mismatch = DataLoaderError(
                f"batch function returned {got} values for {len(keys)} keys; it must return one "
                "per key, in order"
            )
            for key, future in batch:
                self._fail(key, future, mismatch)
            return
        for (key, future), value in zip(batch, values, strict=True):
            if isinstance(value, BaseException):
                self._fail(key, future, value)
            elif not future.done():
                future.set_result(value)

    def _fail(self, key: K, future: asyncio.Future[V], error: BaseException) -> None:
        if self._cache_enabled:
            cache_key = self._cache_key(key)
            if self._cache.get(cache_key) is future:
                del self._cache[cache_key]
        if not future.done():
            future.set_exception(error)
            # Mark it retrieved: a key nobody awaits any more must not warn "exception never retrieved".
            future.exception()
