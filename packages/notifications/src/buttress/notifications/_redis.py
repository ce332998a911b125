"""`RedisRateLimiter`: token buckets in Redis, one Lua script on the server's clock (extra ``redis``)."""

from __future__ import annotations

from typing import Any, Final

from buttress.core import AsyncResource, Owned, check_text, connection_errors, redact_url, unavailable_on

from ._model import check_id
from ._ratelimit import _MAX_KEY, Rate
from .exceptions import (
    MissingExtraError,
    NotificationsConfigurationError,
    NotificationsError,
    NotificationsTypeError,
    NotificationsUnavailableError,
)

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ResponseError
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("RedisRateLimiter", "redis") from exc

__all__ = ["RedisRateLimiter"]

_DOWN: Final = connection_errors("redis")

_Config = NotificationsConfigurationError

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


def _refused(exc: ResponseError, address: str) -> NotificationsError:
    """The error for an error reply from the server.

    The URL's database does not exist: bad configuration. Anything else (out of memory, a
    read-only replica, a busy script) means the server cannot serve us now: an outage to wait out.
    """
    reason = str(exc)
    if reason.startswith("DB index"):
        return _Config(
            "url", "<url>", f"names a database the server does not have ({reason})", show_value=False
        )
    return NotificationsUnavailableError("redis", address, f"{type(exc).__name__}: {reason}")


class RedisRateLimiter(AsyncResource):
    """A `RateLimiter` whose buckets live in Redis, so every worker process shares one limit.

    Args:
        client: A ``redis.asyncio`` client the application owns (never closed by the limiter);
            `from_url` makes one that `aclose` closes.
        prefix: Prepended to every bucket key.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = "notify:rate:") -> None:
        super().__init__()
        check_text(
            "prefix",
            prefix,
            allow_empty=True,
            max_bytes=200,
            error=_Config,
            type_error=NotificationsTypeError,
        )
        if not isinstance(client, aioredis.Redis | aioredis.RedisCluster):
            raise NotificationsTypeError("client", "a redis.asyncio client", client)
        self._client: Owned[aioredis.Redis] = Owned(client)
        self._prefix = prefix
        self._address = "the application's client"
        self._script: Any = client.register_script(_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "notify:rate:") -> RedisRateLimiter:
        """A limiter with its own client for ``url`` (``redis://...``), connected on first use.

        `aclose` closes the client.

        Raises:
            NotificationsConfigurationError: ``url`` is not a Redis URL.
        """
        check_text(
            "url", url, max_bytes=4096, show_value=False, error=_Config, type_error=NotificationsTypeError
        )
        check_text(
            "prefix",
            prefix,
            allow_empty=True,
            max_bytes=200,
            error=_Config,
            type_error=NotificationsTypeError,
        )
        try:
            client = aioredis.Redis.from_url(url)
        except (ValueError, TypeError) as exc:
            raise _Config(
                "url", "<url>", f"is not a Redis URL ({type(exc).__name__})", show_value=False
            ) from None
        limiter = cls(client, prefix=prefix)
        limiter._client = Owned(client, client.aclose)
        limiter._address = redact_url(url)
        return limiter

    async def acquire(self, key: str, rate: Rate) -> float:
        """Take a token from ``key``'s bucket; return 0.0, or the seconds to wait.

        Raises:
            NotificationsUnavailableError: Redis cannot be reached.
        """
        check_id("key", key, max_length=_MAX_KEY)
        if not isinstance(rate, Rate):
            raise NotificationsTypeError("rate", "a Rate", rate)
        with unavailable_on(_DOWN, NotificationsUnavailableError, backend="redis", address=self._address):
            try:
                wait_us = await self._script(keys=[self._prefix + key], args=[rate.limit, rate.refill])
            except ResponseError as exc:
                raise _refused(exc, self._address) from exc
        return int(wait_us) / 1_000_000

    async def _aclose(self) -> None:
        await self._client.release()
