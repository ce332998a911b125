"""buttress-caching: an async cache with memory, Redis and tiered backends.

Stampede protection (single-flight in process, a distributed lock across processes), probabilistic
early expiration (XFetch), stale-while-revalidate, TTL jitter, tags and a typed ``@cached``::

    from buttress.caching import MemoryCache, cached

    cache = MemoryCache[dict[str, str]](max_size=10_000, default_ttl=300)

    @cached(cache, ttl=60)
    async def get_user(user_id: int) -> dict[str, str]:
        return await db.fetch_user(user_id)

`RedisCache` and `TieredCache` need the ``redis`` extra (``pip install 'buttress-caching[redis]'``);
`MsgpackSerializer` needs ``msgpack``. They are imported on first use, so the memory cache works with
neither installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import BaseCache, xfetch_should_refresh
from ._breaker import BreakerState
from ._decorator import CachedFunction, ComputeCache, bypass_cache, cached
from ._entry import Entry
from ._memory import MemoryCache
from ._serializers import MsgpackSerializer, PickleSerializer
from ._stats import CacheStats
from .exceptions import (
    CacheBackendUnavailableError,
    CacheConfigurationError,
    CacheSerializationError,
    CachingError,
    CachingTypeError,
    InvalidKeyError,
    MissingExtraError,
    SignatureMismatchError,
)

if TYPE_CHECKING:
    from ._redis import RedisCache
    from ._tiered import TieredCache

__all__ = [
    "BaseCache",
    "BreakerState",
    "CacheBackendUnavailableError",
    "CacheConfigurationError",
    "CacheSerializationError",
    "CacheStats",
    "CachedFunction",
    "CachingError",
    "CachingTypeError",
    "ComputeCache",
    "Entry",
    "InvalidKeyError",
    "MemoryCache",
    "MissingExtraError",
    "MsgpackSerializer",
    "PickleSerializer",
    "RedisCache",
    "SignatureMismatchError",
    "TieredCache",
    "bypass_cache",
    "cached",
    "xfetch_should_refresh",
]


def __getattr__(name: str) -> object:
    # The Redis backends import redis; load them only when asked for, so the memory cache needs no extra.
    if name == "RedisCache":
        from ._redis import RedisCache  # noqa: PLC0415

        return RedisCache
    if name == "TieredCache":
        from ._tiered import TieredCache  # noqa: PLC0415

        return TieredCache
    raise AttributeError(f"module 'buttress.caching' has no attribute {name!r}")
