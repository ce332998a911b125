"""buttress-pooling: one async pool for any resource, with counters it checks after every change.

    from buttress.pooling import AsyncpgFactory, Pool

    async with Pool(AsyncpgFactory(dsn), min_size=2, max_size=10, max_lifetime=1800) as pool:
        async with pool.acquire(timeout=5) as connection:
            await connection.fetchval("SELECT 1")

`AsyncpgFactory` needs the ``asyncpg`` extra and `RedisFactory` the ``redis`` extra; they import their
driver only when constructed.
"""

from ._factories import AsyncpgFactory, RedisFactory
from ._pool import MAX_SIZE, AcquireContext, Order, Pool, PoolStats, ResourceFactory, State
from .exceptions import (
    ForeignResourceError,
    MissingExtraError,
    PoolClosedError,
    PoolConfigurationError,
    PoolError,
    PoolExhaustedError,
    PoolInvariantViolation,
    PoolTimeoutError,
    PoolTypeError,
)

__all__ = [
    "MAX_SIZE",
    "AcquireContext",
    "AsyncpgFactory",
    "ForeignResourceError",
    "MissingExtraError",
    "Order",
    "Pool",
    "PoolClosedError",
    "PoolConfigurationError",
    "PoolError",
    "PoolExhaustedError",
    "PoolInvariantViolation",
    "PoolStats",
    "PoolTimeoutError",
    "PoolTypeError",
    "RedisFactory",
    "ResourceFactory",
    "State",
]
