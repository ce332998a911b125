"""`RedisReplayGuard`: a replay guard shared by every receiver process (extra ``redis``)."""

from __future__ import annotations

from typing import Any

from buttress.core import redact_url

from ._checks import text
from ._replay import check_ttl
from .exceptions import StoreUnavailableError, WebhookConfigurationError

try:
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from .exceptions import MissingExtraError

    raise MissingExtraError("RedisReplayGuard", "redis") from exc

__all__ = ["RedisReplayGuard"]


class RedisReplayGuard:
    """A `ReplayGuard` on Redis: ``SET key 1 NX PX ttl`` claims an id atomically across processes.

    Args:
        client: A ``redis.asyncio.Redis`` client (the guard does not close it).
        prefix: Prepended to every key.

    Raises:
        StoreUnavailableError: Redis cannot be reached (from `claim` / `release`). A receiver should
            answer 503 so the sender retries, rather than process a webhook it cannot deduplicate.
    """

    __slots__ = ("_client", "_owned", "_prefix")

    def __init__(self, client: Redis[Any] | Redis, *, prefix: str = "webhooks:seen:") -> None:  # type: ignore[type-arg]
        if not isinstance(client, Redis):
            raise WebhookConfigurationError("client", type(client).__name__, "must be a redis.asyncio.Redis")
        text("prefix", prefix, max_length=1024, empty=True)
        self._client = client
        self._prefix = prefix
        self._owned = False

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "webhooks:seen:") -> RedisReplayGuard:
        """Build a guard with its own client for ``url``; close it with `aclose`.

        Raises:
            WebhookConfigurationError: ``url`` is not a ``redis://``, ``rediss://`` or ``unix://`` URL.
        """
        text("url", url, max_length=4096)
        try:
            client = Redis.from_url(url)
        except (ValueError, TypeError):
            raise WebhookConfigurationError(
                "url", redact_url(url), "must be a redis://, rediss:// or unix:// URL"
            ) from None
        guard = cls(client, prefix=prefix)
        guard._owned = True
        return guard

    async def claim(self, key: str, ttl: float) -> bool:
        """Record ``key`` for ``ttl`` seconds; ``True`` on first sight, ``False`` on a replay."""
        text("key", key, max_length=4096)
        milliseconds = max(1, int(check_ttl(ttl) * 1000))
        try:
            stored = await self._client.set(self._prefix + key, b"1", nx=True, px=milliseconds)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return bool(stored)

    async def release(self, key: str) -> None:
        """Forget ``key``."""
        text("key", key, max_length=4096)
        try:
            await self._client.delete(self._prefix + key)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def aclose(self) -> None:
        """Close the client if this guard made it (`from_url`)."""
        if self._owned:
            await self._client.aclose()

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        pool = self._client.connection_pool
        kwargs = pool.connection_kwargs
        address = f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return StoreUnavailableError("redis", redact_url(address), type(exc).__name__)
