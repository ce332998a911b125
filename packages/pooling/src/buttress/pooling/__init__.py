"""buttress-pooling: one async pool for any resource, with counters it checks after every change.

    from buttress.pooling import AsyncpgFactory, Pool

    async with Pool(AsyncpgFactory(dsn), min_size=2, max_size=10, max_lifetime=1800) as pool:
        async with pool.acquire(timeout=5) as connection:
            await connection.fetchval("SELECT 1")

Making a pool and entering ``async with`` do no I/O: the first ``acquire`` starts the pool, or
``await pool.open()`` does it ahead of time. `AsyncpgFactory` needs the ``postgres`` extra and
`RedisFactory` the ``redis`` extra; they are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

# Set before the imports below: `_metrics` reports it with the instrumentation scope.
__version__ = "0.1.0"

from ._accounting import PoolStats, State
from ._acquire import AcquireContext
from ._config import MAX_SIZE, Order, PoolConfig, PoolSettings
from ._pool import Pool
from ._protocol import ResourceFactory
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
    PoolUnavailableError,
)

if TYPE_CHECKING:
    from ._asyncpg import AsyncpgFactory, ResetPolicy
    from ._redis import RedisFactory

__getattr__ = lazy_exports(
    __name__, {"AsyncpgFactory": "_asyncpg", "ResetPolicy": "_asyncpg", "RedisFactory": "_redis"}
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
    "PoolConfig",
    "PoolConfigurationError",
    "PoolError",
    "PoolExhaustedError",
    "PoolInvariantViolation",
    "PoolSettings",
    "PoolStats",
    "PoolTimeoutError",
    "PoolTypeError",
    "PoolUnavailableError",
    "RedisFactory",
    "ResetPolicy",
    "ResourceFactory",
    "State",
    "__version__",
]
