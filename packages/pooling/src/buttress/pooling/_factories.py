"""Ready-made factories: asyncpg connections (extra ``asyncpg``) and Redis clients (extra ``redis``)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from buttress.core import check_seconds, check_text

from .exceptions import MissingExtraError, PoolConfigurationError, PoolTypeError

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis


class AsyncpgFactory:
    """Makes asyncpg connections: ``check`` runs ``SELECT 1``, ``reset`` makes the session like new.

    Args:
        dsn: The PostgreSQL DSN (``postgresql://`` or ``postgres://``).
        close_timeout: Seconds a graceful close may take before the connection is terminated.
        check_timeout: Seconds ``SELECT 1`` may take before the connection counts as unhealthy.
        connect_options: Passed to ``asyncpg.connect`` (``server_settings``, ``timeout``, ``ssl``...).

    Raises:
        PoolConfigurationError: The DSN is not a PostgreSQL URL, or a timeout is not a finite number
            of seconds above zero. The DSN is never shown in the message.
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
        _check_url("dsn", dsn, ("postgresql", "postgres"), "a postgresql:// DSN")
        self._asyncpg = asyncpg
        self._dsn = dsn
        self._close_timeout = check_seconds("close_timeout", close_timeout, error=PoolConfigurationError)
        self._check_timeout = check_seconds("check_timeout", check_timeout, error=PoolConfigurationError)
        self._options = connect_options

    async def create(self) -> asyncpg.Connection:
        """Open a connection."""
        connection: asyncpg.Connection = await self._asyncpg.connect(self._dsn, **self._options)
        return connection

    def _connection(self, resource: object) -> asyncpg.Connection:
        if not isinstance(resource, self._asyncpg.Connection):
            raise PoolTypeError("resource", "an asyncpg.Connection", resource)
        return resource

    async def destroy(self, resource: asyncpg.Connection) -> None:
        """Close the connection; terminate it if a graceful close fails or takes too long.

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        resource = self._connection(resource)
        if resource.is_closed():
            return
        try:
            await resource.close(timeout=self._close_timeout)
        except (TimeoutError, OSError, self._asyncpg.PostgresError, self._asyncpg.InterfaceError):
            resource.terminate()

    async def check(self, resource: asyncpg.Connection) -> bool:
        """Return whether the connection answers ``SELECT 1``.

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        resource = self._connection(resource)
        if resource.is_closed():
            return False
        answer: object = await resource.fetchval("SELECT 1", timeout=self._check_timeout)
        return answer == 1

    async def reset(self, resource: asyncpg.Connection) -> None:
        """Return the session to the state of a new connection, so the next user starts clean.

        Uses asyncpg's own reset: an open transaction is rolled back, cursors closed, ``LISTEN``
        registrations dropped, advisory locks released and settings reset (``RESET ALL``).

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        await self._connection(resource).reset(timeout=self._check_timeout)

    def __repr__(self) -> str:
        return "AsyncpgFactory(dsn=***)"


class RedisFactory:
    """Makes ``redis.asyncio.Redis`` clients holding one connection each; ``check`` sends PING.

    Args:
        url: The Redis URL (``redis://``, ``rediss://`` or ``unix://``).
        client_options: Passed to ``Redis.from_url`` (``socket_timeout``, ``decode_responses``...).

    Raises:
        PoolConfigurationError: The URL is not a Redis URL; it is never shown in the message.
    """

    def __init__(self, url: str, **client_options: Any) -> None:  # noqa: ANN401 - passed through
        try:
            from redis.asyncio import Redis  # noqa: PLC0415 - optional extra
        except ImportError as exc:
            raise MissingExtraError("RedisFactory", "redis") from exc
        _check_url("url", url, ("redis", "rediss", "unix"), "a redis://, rediss:// or unix:// URL")
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

    def _client(self, resource: object) -> Redis:
        if not isinstance(resource, self._redis):
            raise PoolTypeError("resource", "a redis.asyncio.Redis", resource)
        return resource

    async def destroy(self, resource: Redis) -> None:
        """Close the client.

        Raises:
            PoolTypeError: ``resource`` is not a ``redis.asyncio.Redis``.
        """
        resource = self._client(resource)
        self._closed.add(resource)
        await resource.aclose()

    async def check(self, resource: Redis) -> bool:
        """Return whether the client is open and answers PING.

        Raises:
            PoolTypeError: ``resource`` is not a ``redis.asyncio.Redis``.
        """
        resource = self._client(resource)
        if resource in self._closed:
            return False
        return bool(await resource.ping())

    def __repr__(self) -> str:
        return "RedisFactory(url=***)"


def _check_url(parameter: str, url: object, schemes: tuple[str, ...], what: str) -> None:
    """Refuse a URL the driver would refuse later, when a resource is first created."""
    text = check_text(parameter, url, show_value=False, error=PoolConfigurationError)
    try:
        scheme = urlsplit(text).scheme
    except ValueError:
        scheme = ""
    if scheme.lower() not in schemes:
        raise PoolConfigurationError(parameter, url, f"must be {what}", show_value=False)
