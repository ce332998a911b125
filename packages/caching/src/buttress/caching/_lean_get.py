"""`LeanGet`: the ``GET`` of a cache hit through a redis-py pool, without redis-py's per-command machinery.

``client.get(name)`` on redis-py 8 runs, for every command: the pool's lock (and a condition for a
``BlockingConnectionPool``), a connect call through the retry wrapper even on a connected connection,
argument and deprecation checks, the generic packer, observability bookkeeping, the response-callback
lookup, and an event dispatch on release. On a hit against a local server that is as much Python as
the rest of the cache's path together.

`LeanGet` does what that amounts to for one ``GET`` on a plain ``redis.asyncio.Redis`` over a
``ConnectionPool`` or ``BlockingConnectionPool``: it takes a free connected connection without
awaiting (in asyncio nothing else runs between the check and the take), refuses one with data
already buffered, packs the ``GET`` itself (RESP, the key in the client's encoding), reads the reply
through the connection's own ``read_response`` (so its socket timeout, or core's deadlines, bound it),
retries through the connection's own ``Retry`` exactly as redis-py does (disconnecting before each
retry), and puts the connection back. Whenever that is not the plain case (no free connection, a
fresh or dirty one, callers queued for the pool, a connection to re-authenticate or to reconnect, an
event listener of the application's), it hands the call to ``client.get`` unchanged.

What the lean path skips on purpose: redis-py's own OpenTelemetry metrics for these ``GET`` calls
(the cache counts and times its hits itself).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

try:
    from redis.event import AsyncAfterConnectionReleasedEvent, AsyncReAuthConnectionListener
except ImportError:  # pragma: no cover - redis-py before 5.1 has no release events
    AsyncAfterConnectionReleasedEvent = AsyncReAuthConnectionListener = None  # type: ignore[assignment, misc]

__all__ = ["LeanGet"]

_GET: Final = b"*2\r\n$3\r\nGET\r\n$"
_CRLF: Final = b"\r\n"


def _default_listeners_only(pool: Any) -> bool:  # noqa: ANN401 - a redis-py pool
    """Whether releasing a connection dispatches to redis-py's own re-auth listener alone."""
    if AsyncAfterConnectionReleasedEvent is None:  # redis-py before its event dispatcher: nothing listens
        return True
    dispatcher = getattr(pool, "_event_dispatcher", None)
    if dispatcher is None:
        return True
    mapping = getattr(dispatcher, "_event_listeners_mapping", None)
    if not isinstance(mapping, dict):
        return False
    listeners = mapping.get(AsyncAfterConnectionReleasedEvent, [])
    return all(type(listener) is AsyncReAuthConnectionListener for listener in listeners)


class LeanGet:
    """``GET`` on one client's pool; `for_client` says whether the client allows the lean path."""

    __slots__ = ("_blocking", "_client", "_encoding", "_errors", "_guard", "_pool")

    def __init__(self, client: Redis) -> None:
        # Typed loosely: the lean path reads the pool's bookkeeping, which redis-py leaves untyped.
        pool = client.connection_pool
        loose: Any = pool
        self._client: Any = client
        self._pool: Any = loose
        self._blocking = isinstance(pool, BlockingConnectionPool)
        # What the pool's callers queue on: a waiter holds it (or waits on it) while the pool is short.
        self._guard: Any = loose._condition if self._blocking else loose._lock
        encoder = loose.get_encoder()
        self._encoding: str = encoder.encoding
        self._errors: str = encoder.encoding_errors

    @classmethod
    def for_client(cls, client: object) -> LeanGet | None:
        """A `LeanGet` for ``client``, or ``None`` when only ``client.get`` knows how to serve it.

        The lean path needs a plain ``redis.asyncio.Redis`` (not a single-connection client) over a
        redis-py ``ConnectionPool`` or ``BlockingConnectionPool`` (or a subclass that keeps their
        bookkeeping), with no credential provider and no release listener of the application's.
        """
        if type(client) is not Redis or getattr(client, "single_connection_client", True):
            return None
        pool = client.connection_pool
        needed = ("_available_connections", "_in_use_connections", "get_available_connection")
        if not isinstance(pool, ConnectionPool) or not all(hasattr(pool, name) for name in needed):
            return None
        if not hasattr(pool, "_condition" if isinstance(pool, BlockingConnectionPool) else "_lock"):
            return None
        if pool.connection_kwargs.get("credential_provider") is not None:
            return None
        if not hasattr(pool.connection_class, "can_read") or not _default_listeners_only(pool):
            return None
        return cls(client)

    def packed(self, name: str) -> bytes:
        """``GET name`` as the RESP bytes redis-py sends (the key encoded with the client's encoder)."""
        key = name.encode(self._encoding, self._errors)
        return b"%s%d\r\n%s\r\n" % (_GET, len(key), key)

    async def get(self, name: str) -> bytes | None:
        """The value under ``name`` (bytes), or ``None``: what ``client.get(name)`` returns.

        Raises:
            redis.exceptions.RedisError: As ``client.get`` raises it (after the same retries).
        """
        pool = self._pool
        guard = self._guard
        if guard.locked() or not pool._available_connections:
            # Callers queue for the pool, or a connection would have to be made: redis-py's way.
            direct: bytes | None = await self._client.get(name)
            return direct
        connection = pool.get_available_connection()
        try:
            if not connection.is_connected or await connection.can_read():
                # Closed, or holding bytes nobody read (redis-py 8 hands such a connection out when its
                # maintenance notifications are on): never read a stale reply as this one's.
                await connection.disconnect()
                await pool.release(connection)
                connection = None
                cleaned: bytes | None = await self._client.get(name)
                return cleaned
            packed = self.packed(name)
            reply: bytes | None
            try:
                await connection.send_packed_command(packed)
                reply = await connection.read_response()
            except connection.retry._supported_errors as error:
                # The first attempt failed the way redis-py retries: make the others as its Retry would.
                reply = await self._retry(connection, packed, error)
            return reply
        finally:
            if connection is not None:
                await self._give_back(connection)

    @staticmethod
    async def _retry(connection: Any, packed: bytes, error: Exception) -> bytes | None:  # noqa: ANN401 - redis-py's
        """The attempts after a first failure ``error``, as ``Retry.call_with_retry`` makes them."""
        retry = connection.retry
        retries = retry.get_retries()
        backoff = retry._backoff
        backoff.reset()
        failures = 1
        while True:
            await connection.disconnect()  # redis-py's failure callback: the next attempt reconnects
            if 0 <= retries < failures:
                raise error
            pause = backoff.compute(failures)
            if pause > 0:
                await asyncio.sleep(pause)
            try:
                await connection.send_packed_command(packed)
                reply: bytes | None = await connection.read_response()
            except retry._supported_errors as again:
                error = again
                failures += 1
                continue
            return reply

    async def _give_back(self, connection: Any) -> None:  # noqa: ANN401 - a redis-py connection
        pool = self._pool
        if (
            self._guard.locked()
            or getattr(connection, "_re_auth_token", None) is not None
            or (self._blocking and pool._condition._waiters)
            or _should_reconnect(connection)
        ):
            await pool.release(connection)
            return
        pool._in_use_connections.remove(connection)
        pool._available_connections.append(connection)


def _should_reconnect(connection: Any) -> bool:  # noqa: ANN401 - a redis-py connection
    check = getattr(connection, "should_reconnect", None)
    return bool(check()) if check is not None else False
