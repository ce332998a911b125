"""`RedisRateLimiter`: token buckets in Redis, one Lua script on the server's clock (extra ``redis``)."""

from __future__ import annotations

from typing import Any, ClassVar, Final, Unpack

from buttress.core import AsyncResource, BackendErrors, RedisBackend, RedisOptions

from ._metrics import TELEMETRY
from ._model import check_id
from ._ratelimit import _MAX_KEY, Rate
from .exceptions import (
    MissingExtraError,
    NotificationsConfigurationError,
    NotificationsTypeError,
    NotificationsUnavailableError,
)

try:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import RedisClusterException, ResponseError
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("RedisRateLimiter", "redis") from exc

__all__ = ["RedisRateLimiter"]

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


# AsyncResource is named again (RedisBackend has it already) so the face shows at the class itself.
class RedisRateLimiter(RedisBackend, AsyncResource):
    """A `RateLimiter` whose buckets live in Redis, so every worker process shares one limit.

    Each bucket is one key that the script touches alone, so on Redis Cluster buckets spread over
    every primary with no hash tag.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` made with ``decode_responses=False``
            (redis-py's default), which the application owns (never closed by the limiter);
            `from_url` makes one that `aclose` closes.
        prefix: Prepended to every bucket key; not empty.

    Raises:
        NotificationsTypeError: ``client`` is not a ``redis.asyncio.Redis`` or ``RedisCluster``, or
            ``prefix`` not a str.
        NotificationsConfigurationError: ``client`` decodes responses, or ``prefix`` is empty, longer
            than 1,024 bytes, or holds NUL or a lone surrogate.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = BackendErrors(
        NotificationsConfigurationError, NotificationsTypeError, NotificationsUnavailableError
    )
    # An error reply (out of memory, a read-only replica, a busy script): the server cannot serve us
    # now, an outage to wait out. A database the URL names but the server lacks is core's
    # configuration error. A cluster that cannot route a call (no node for a slot) is an outage too.
    outages: ClassVar[tuple[type[BaseException], ...]] = (ResponseError, RedisClusterException)
    accepts_cluster: ClassVar[bool] = True

    def __init__(self, client: aioredis.Redis | RedisCluster, *, prefix: str = "notify:rate:") -> None:
        super().__init__(client, prefix=prefix)
        self._script: Any = client.register_script(_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "notify:rate:",
        cluster: bool = False,
        **options: Unpack[RedisOptions],
    ) -> RedisRateLimiter:
        """A limiter with its own client for ``url`` (``redis://...``), connected on first use.

        `aclose` closes the client. It is core's `open_redis`, tuned by ``options``
        (`RedisOptions`: ``socket_timeout``, ``max_connections``, ``pool_timeout``); with
        ``cluster=True`` a ``RedisCluster`` that finds every node from the one in ``url``.

        Raises:
            NotificationsConfigurationError: ``url`` is not a Redis URL (it is never shown), or an
                option is out of range, or ``cluster`` is not a bool.
            NotificationsTypeError: ``url`` or ``prefix`` is not a str.
        """
        return cls._from_url(url, lambda client: cls(client, prefix=prefix), cluster=cluster, **options)

    async def acquire(self, key: str, rate: Rate) -> float:
        """Take a token from ``key``'s bucket; return 0.0, or the seconds to wait.

        Raises:
            NotificationsUnavailableError: Redis cannot be reached, or answers with an error.
            NotificationsConfigurationError: The URL names a database the server does not have, or
                the server refuses its password.
        """
        check_id("key", key, max_length=_MAX_KEY)
        if not isinstance(rate, Rate):
            raise NotificationsTypeError("rate", "a Rate", rate)
        with self._unavailable():
            await self._discover()
            wait_us = await self._script(keys=[self.prefix + key], args=[rate.limit, rate.refill])
        return int(wait_us) / 1_000_000
