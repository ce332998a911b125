"""buttress-caching: an async cache, one policy over memory, Redis and tiered storages.

Stampede protection (single-flight in process, a distributed lock across processes), probabilistic
early expiration (XFetch), stale-while-revalidate, TTL jitter, tags and a typed ``@cached``::

    from buttress.caching import MemoryCache, cached

    cache = MemoryCache[dict[str, str]](max_size=10_000, ttl=300)

    @cached(cache, ttl=60)
    async def get_user(user_id: int) -> dict[str, str]:
        return await db.fetch_user(user_id)

A `Cache` applies a `CachePolicy` (given as ``policy=``, or its settings one by one: ``ttl=300``)
and keeps its entries in a `CacheStorage`: `MemoryCache`, `RedisCache` and `TieredCache` are the
cache over `MemoryStorage`, `RedisStorage` and `TieredStorage`. The Redis ones need the ``redis``
extra (``pip install 'buttress-caching[redis]'``); `MsgpackSerializer` needs ``msgpack``. They are
imported on first use, so the memory cache works with neither installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._breaker import BreakerState
from ._cache import Cache, xfetch_should_refresh
from ._decorator import CachedFunction, ComputeCache, bypass_cache, cached
from ._entry import Entry
from ._memory import MemoryCache, MemoryStorage
from ._policy import CachePolicy, CachePolicyOptions
from ._serializers import MsgpackSerializer, PickleSerializer
from ._stats import CacheStats
from ._storage import CacheStorage, StoredItem
from .exceptions import (
    CacheSerializationError,
    CachingBusyError,
    CachingConfigurationError,
    CachingError,
    CachingTypeError,
    CachingUnavailableError,
    InvalidKeyError,
    MissingExtraError,
    SignatureMismatchError,
)

if TYPE_CHECKING:
    from ._redis import RedisCache, RedisStorage
    from ._tiered import TieredCache, TieredStorage

__all__ = [
    "BreakerState",
    "Cache",
    "CachePolicy",
    "CachePolicyOptions",
    "CacheSerializationError",
    "CacheStats",
    "CacheStorage",
    "CachedFunction",
    "CachingBusyError",
    "CachingConfigurationError",
    "CachingError",
    "CachingTypeError",
    "CachingUnavailableError",
    "ComputeCache",
    "Entry",
    "InvalidKeyError",
    "MemoryCache",
    "MemoryStorage",
    "MissingExtraError",
    "MsgpackSerializer",
    "PickleSerializer",
    "RedisCache",
    "RedisStorage",
    "SignatureMismatchError",
    "StoredItem",
    "TieredCache",
    "TieredStorage",
    "bypass_cache",
    "cached",
    "xfetch_should_refresh",
]

# The Redis storages import redis: load them only when asked for, so the memory cache needs no extra.
__getattr__ = lazy_exports(
    __name__,
    {"RedisCache": "_redis", "RedisStorage": "_redis", "TieredCache": "_tiered", "TieredStorage": "_tiered"},
)
