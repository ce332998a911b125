"""`RedisRateLimiter`: token buckets in Redis, one Lua script on the server's clock (extra ``redis``)."""

from __future__ import annotations

from typing import Any, Final, Self

from buttress.core import check_text

from ._model import check_id
from ._ratelimit import _MAX_KEY, Rate
from .exceptions import MissingExtraError, NotificationConfigurationError, StoreUnavailableError

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("RedisRateLimiter", "redis") from exc

__all__ = ["RedisRateLimiter"]

_Config = NotificationConfigurationError

# One round trip, atomic: refill from the server's TIME (so workers' clocks do not matter), take a
# token or report the wait. Times are integer microseconds formatted with %.0f so no precision is lost.
_SCRIPT: Final = """
local capacity = tonumber(ARGV[1])
local per_us = tonumber(ARGV[2]) / 1000000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * per_us)
  at = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / per_us
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.0f', at))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_us / 1000) + 1000)
return string.format('%.0f', wait)
"""


class RedisRateLimiter:
    """A `RateLimiter` whose buckets live in Redis, so every worker process shares one limit.

    Args:
        client: A ``redis.asyncio.Redis`` client (not closed by the limiter unless made by `from_url`).
        prefix: Prepended to every bucket key.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = "notify:rate:", _owned: bool = False) -> None:
        check_text("prefix", prefix, allow_empty=True, max_bytes=200, error=_Config)
        if not isinstance(client, aioredis.Redis | aioredis.RedisCluster):
            raise _Config("client", type(client).__name__, "must be a redis.asyncio client")
        self._client = client
        self._prefix = prefix
        self._owned = _owned
        self._script: Any = client.register_script(_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "notify:rate:") -> RedisRateLimiter:
        """Connect to ``url`` (``redis://...``); `aclose` closes the client.

        Raises:
            NotificationConfigurationError: ``url`` is not a Redis URL.
        """
        check_text("url", url, max_bytes=4096, show_value=False, error=_Config)
        check_text("prefix", prefix, allow_empty=True, max_bytes=200, error=_Config)
        try:
            client = aioredis.Redis.from_url(url)
        except (ValueError, TypeError) as exc:
            raise _Config(
                "url", "<url>", f"is not a Redis URL ({type(exc).__name__})", show_value=False
            ) from None
        return cls(client, prefix=prefix, _owned=True)

    async def acquire(self, key: str, rate: Rate) -> float:
        """Take a token from ``key``'s bucket; return 0.0, or the seconds to wait.

        Raises:
            StoreUnavailableError: Redis cannot be reached.
        """
        check_id("key", key, max_length=_MAX_KEY)
        if not isinstance(rate, Rate):
            raise _Config("rate", type(rate).__name__, "must be a Rate")
        try:
            wait_us = await self._script(keys=[self._prefix + key], args=[rate.limit, rate.refill])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailableError("redis", "the rate limiter's server", type(exc).__name__) from None
        return int(wait_us) / 1_000_000

    async def aclose(self) -> None:
        """Close the client if `from_url` made it."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
