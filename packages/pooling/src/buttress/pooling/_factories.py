"""Ready-made factories: asyncpg connections (extra ``asyncpg``) and Redis clients (extra ``redis``)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .exceptions import MissingExtraError, PoolConfigurationError

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis


class AsyncpgFactory:
    """Makes asyncpg connections: ``check`` runs ``SELECT 1``, ``reset`` makes the session like new.

    Args:
        dsn: The PostgreSQL DSN.
        close_timeout: Seconds a graceful close may take before the connection is terminated.
        check_timeout: Seconds ``SELECT 1`` may take before the connection counts as unhealthy.
        connect_options: Passed to ``asyncpg.connect`` (``server_settings``, ``timeout``, ``ssl``...).
    """

    def __init__(
        self,
        dsn: str,
        *,
        close_timeout: float = 5.0,
        check_timeout: float = 5.0,
        **connect_options: Any,  # noqa: ANN401 - asyncpg.connect's keyword arguments, passed through
    ) -> None:
        try:
            import asyncpg  # noqa: PLC0415 - optional extra
        except ImportError as exc:
            raise MissingExtraError("AsyncpgFactory", "asyncpg") from exc
        if not isinstance(dsn, str) or not dsn:
            raise PoolConfigurationError("dsn", dsn, "must be a PostgreSQL DSN", show_value=False)
        self._asyncpg = asyncpg
        self._dsn = dsn
        self._close_timeout = close_timeout
        self._check_timeout = check_timeout
        self._options = connect_options

    async def create(self) -> asyncpg.Connection:
        """Open a connection."""
        connection: asyncpg.Connection = await self._asyncpg.connect(self._dsn, **self._options)
        return connection

    async def destroy(self, resource: asyncpg.Connection) -> None:
        """Close the connection; terminate it if a graceful close fails or takes too long."""
        if resource.is_closed():
            return
        try:
            await resource.close(timeout=self._close_timeout)
        except (TimeoutError, OSError, self._asyncpg.PostgresError, self._asyncpg.InterfaceError):
            resource.terminate()

    async def check(self, resource: asyncpg.Connection) -> bool:
        """Return whether the connection answers ``SELECT 1``."""
        if resource.is_closed():
            return False
        answer: object = await resource.fetchval("SELECT 1", timeout=self._check_timeout)
        return answer == 1

    async def reset(self, resource: asyncpg.Connection) -> None:
        """Return the session to the state of a new connection, so the next user starts clean.

        Uses asyncpg's own reset: an open transaction is rolled back, cursors closed, ``LISTEN``
        registrations dropped, advisory locks released and settings reset (``RESET ALL``).
        """
        await resource.reset(timeout=self._check_timeout)

    def __repr__(self) -> str:
        return "AsyncpgFactory(dsn=***)"


class RedisFactory:
    """Makes ``redis.asyncio.Redis`` clients holding one connection each; ``check`` sends PING.

    Args:
        url: The Redis URL.
        client_options: Passed to ``Redis.from_url`` (``socket_timeout``, ``decode_responses``...).
    """

    def __init__(self, url: str, **client_options: Any) -> None:  # noqa: ANN401 - passed through
        try:
            from redis.asyncio import Redis  # noqa: PLC0415 - optional extra
        except ImportError as exc:
            raise MissingExtraError("RedisFactory", "redis") from exc
        if not isinstance(url, str) or "://" not in url:
            raise PoolConfigurationError("url", url, "must be a redis:// URL", show_value=False)
        self._redis = Redis
        self._url = url
        self._options = client_options
        # A closed client would quietly reconnect on its next command; remember which ones we closed.
        self._closed: weakref.WeakSet[Redis] = weakref.WeakSet()

    async def create(self) -> Redis:
        """Open a client with its own single connection, and make sure it answers."""
        client = self._redis.from_url(self._url, single_connection_client=True, **self._options)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        return client

    async def destroy(self, resource: Redis) -> None:
        """Close the client."""
        self._closed.add(resource)
        await resource.aclose()

    async def check(self, resource: Redis) -> bool:
        """Return whether the client is open and answers PING."""
        if resource in self._closed:
            return False
        return bool(await resource.ping())

    def __repr__(self) -> str:
        return "RedisFactory(url=***)"
