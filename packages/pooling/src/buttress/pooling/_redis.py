"""`RedisFactory`: Redis clients for a `Pool` (extra ``redis``)."""

from __future__ import annotations

import weakref
from typing import Any, Final

from buttress.core import connection_errors, unavailable_on

from ._urls import check_url
from .exceptions import MissingExtraError, PoolConfigurationError, PoolTypeError, PoolUnavailableError

try:
    from redis.asyncio import Redis
    from redis.exceptions import AuthenticationError
except ImportError as exc:  # pragma: no cover - exercised by the bare install
    raise MissingExtraError("RedisFactory", "redis") from exc

__all__ = ["RedisFactory"]

# The server (or the path to it) failing; a refused password is the caller's input.
_DOWN: Final = connection_errors("redis")


class RedisFactory:
    """Makes ``redis.asyncio.Redis`` clients holding one connection each; ``check`` sends PING.

    Args:
        url: The Redis URL (``redis://``, ``rediss://`` or ``unix://``).
        client_options: Passed to ``Redis.from_url`` (``socket_timeout``, ``decode_responses``...).

    Raises:
        PoolConfigurationError: The URL is not a Redis URL; it is never shown in the message.
    """

    def __init__(self, url: str, **client_options: Any) -> None:  # noqa: ANN401 - passed through
        self._url = check_url("url", url, ("redis", "rediss", "unix"), "a redis://, rediss:// or unix:// URL")
        self._options = client_options
        # A closed client would quietly reconnect on its next command; remember which ones we closed.
        self._closed: weakref.WeakSet[Redis] = weakref.WeakSet()

    async def create(self) -> Redis:
        """Open a client with its own single connection, and make sure it answers.

        Raises:
            PoolUnavailableError: The server cannot be reached (the URL's password is redacted).
            PoolConfigurationError: redis-py refused the URL or an option, or the server refused
                the credentials.
        """
        try:
            client = Redis.from_url(self._url, single_connection_client=True, **self._options)
        except (TypeError, ValueError) as exc:
            reason = f"redis-py refused them ({type(exc).__name__})"
            raise PoolConfigurationError("client_options", None, reason, show_value=False) from None
        try:
            with unavailable_on(_DOWN, PoolUnavailableError, backend="redis", address=self._url):
                try:
                    await client.ping()
                # Before _DOWN: AuthenticationError is a redis ConnectionError too.
                except AuthenticationError:
                    reason = "the server refused its credentials"
                    raise PoolConfigurationError("url", None, reason, show_value=False) from None
                except (TypeError, ValueError) as exc:  # options are used when the connection is made
                    reason = f"redis-py refused them ({type(exc).__name__})"
                    raise PoolConfigurationError("client_options", None, reason, show_value=False) from None
        except BaseException:
            await client.aclose()
            raise
        return client

    def _client(self, resource: object) -> Redis:
        if not isinstance(resource, Redis):
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
