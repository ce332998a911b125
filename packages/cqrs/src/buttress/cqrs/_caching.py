"""Query caching through core's `CacheProvider`: per-query TTL and keys, invalidated by events."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any, Final

from buttress.core import MISSING, BackendUnavailableError, CacheProvider, check_seconds

from ._dispatch import Dispatch
from ._metrics import CACHE_INVALIDATIONS, CACHE_REQUESTS
from ._middleware import Next
from .exceptions import CQRSConfigurationError, CQRSTypeError

__all__ = ["Cached", "QueryCache"]

logger = logging.getLogger(__name__)

_MAX_KEY: Final = 1024


class Cached[Q]:
    """How the answers to one query type are cached: for how long, under which key, until which events.

    Args:
        ttl: Seconds an answer is kept (``None``: until invalidated, or as long as the cache keeps it).
        key: The key of a query within its type (the bus prefixes it with the type's name). Without
            one, a dataclass or pydantic query is keyed by its ``repr`` (its field values); any other
            query type needs one.

    Examples:
        >>> policy = Cached(ttl=60.0, key=lambda q: str(q.user_id))
        >>> policy = policy.invalidated_by(str, lambda event: [])
    """

    __slots__ = ("invalidations", "key", "ttl")

    def __init__(self, *, ttl: float | None = None, key: Callable[[Q], str] | None = None) -> None:
        self.ttl = None if ttl is None else check_seconds("ttl", ttl, error=CQRSConfigurationError)
        if key is not None and not callable(key):
            raise CQRSTypeError("key", "a callable (query) -> str, or None", key)
        self.key = key
        self.invalidations: tuple[tuple[type, Callable[[Any], Q | Iterable[Q]]], ...] = ()

    def invalidated_by[E](self, event_type: type[E], queries: Callable[[E], Q | Iterable[Q]]) -> Cached[Q]:
        """A copy of this policy where an ``event_type`` event deletes the answers to ``queries(event)``.

        ``queries`` returns the query (or queries) whose cached answers the event makes stale, such
        as ``lambda e: GetUser(e.user_id)``.

        Raises:
            CQRSTypeError: ``event_type`` is not a class or ``queries`` is not callable.
        """
        if not isinstance(event_type, type):
            raise CQRSTypeError("event_type", "a class", event_type)
        if not callable(queries):
            raise CQRSTypeError("queries", "a callable (event) -> query or queries", queries)
        copy = Cached[Q](ttl=self.ttl, key=self.key)
        copy.invalidations = (*self.invalidations, (event_type, queries))
        return copy


def _has_value_repr(query_type: type) -> bool:
    if dataclasses.is_dataclass(query_type):
        return True
    return any(getattr(base, "__module__", "").startswith("pydantic") for base in query_type.__mro__[1:])


class QueryCache:
    """The cache side of a `QueryBus`: keys, reads, writes and invalidation for its cached query types."""

    __slots__ = ("_cache", "_epoch", "_prefix")

    def __init__(self, cache: CacheProvider[Any], prefix: str) -> None:
        self._cache = cache
        self._prefix = prefix
        # Bumped by every invalidation: an answer computed across one is not stored, since it may
        # predate the change the event announced.
        self._epoch = 0

    def keyer(self, query_type: type, policy: Cached[Any]) -> Callable[[object], str]:
        """The full cache key of a query of ``query_type``."""
        own = policy.key
        if own is None and not _has_value_repr(query_type):
            raise CQRSConfigurationError(
                "cache",
                query_type.__qualname__,
                "needs Cached(key=...): only dataclass and pydantic queries are keyed by their fields",
            )
        head = f"{self._prefix}{query_type.__module__}.{query_type.__qualname__}:"
        make = own if own is not None else repr

        def key(query: object) -> str:
            part = make(query)
            if not isinstance(part, str):
                raise CQRSTypeError("key", "a callable returning a str", part)
            if len(part) > _MAX_KEY:
                raise CQRSConfigurationError(
                    "key", None, f"must be at most {_MAX_KEY} characters", show_value=False
                )
            return head + part

        return key

    def wrap[R](self, query_type: type, policy: Cached[Any], terminal: Next[R]) -> Next[R]:
        """``terminal`` behind the cache: a hit answers without calling it."""
        key_of = self.keyer(query_type, policy)
        ttl = policy.ttl
        cache = self._cache
        attributes = {"cqrs.query": query_type.__qualname__}
        hit_attributes = {**attributes, "cqrs.outcome": "hit"}
        miss_attributes = {**attributes, "cqrs.outcome": "miss"}
        error_attributes = {**attributes, "cqrs.outcome": "error"}

        async def cached(dispatch: Dispatch) -> R:
            key = key_of(dispatch.message)
            try:
                found = await cache.get(key)
            except BackendUnavailableError as exc:  # a cache outage degrades to asking the handler
                logger.warning("query cache read failed for %s: %s", query_type.__qualname__, exc)
                CACHE_REQUESTS.add(1, error_attributes)
                return await terminal(dispatch)
            if found is not MISSING:
                CACHE_REQUESTS.add(1, hit_attributes)
                return found  # type: ignore[no-any-return]
            CACHE_REQUESTS.add(1, miss_attributes)
            epoch = self._epoch
            result = await terminal(dispatch)
            if self._epoch == epoch:
                try:
                    await cache.set(key, result, ttl=ttl)
                except BackendUnavailableError as exc:
                    logger.warning("query cache write failed for %s: %s", query_type.__qualname__, exc)
            return result

        return cached

    def invalidator(
        self, query_type: type, policy: Cached[Any], queries: Callable[[Any], object]
    ) -> _Invalidator:
        """The event handler that deletes the answers ``queries(event)`` names."""
        return _Invalidator(self, query_type, self.keyer(query_type, policy), queries)

    async def delete(self, keys: list[str]) -> None:
        """Delete these answers (counted), after marking every answer in flight as stale."""
        self._epoch += 1
        for key in keys:
            if await self._cache.delete(key):
                CACHE_INVALIDATIONS.add(1)


class _Invalidator:
    """An `EventHandler` that turns an event into the cache keys it makes stale, and deletes them."""

    __slots__ = ("_cache", "_key", "_queries", "_type")

    def __init__(
        self,
        cache: QueryCache,
        query_type: type,
        key: Callable[[object], str],
        queries: Callable[[Any], object],
    ) -> None:
        self._cache = cache
        self._type = query_type
        self._key = key
        self._queries = queries

    async def handle(self, event: object) -> None:
        named = self._queries(event)
        if isinstance(named, self._type):
            found = [named]
        elif isinstance(named, Iterable) and not isinstance(named, str | bytes):
            found = list(named)
        else:
            raise CQRSTypeError("queries", f"a callable returning {self._type.__qualname__} queries", named)
        for query in found:
            if not isinstance(query, self._type):
                raise CQRSTypeError(
                    "queries", f"a callable returning {self._type.__qualname__} queries", query
                )
        await self._cache.delete([self._key(query) for query in found])
