"""`TrackingConnection`: Redis's server-assisted client-side caching (``CLIENT TRACKING``, RESP3) for L1.

A `TieredStorage` with ``invalidation="tracking"`` keeps one connection of its own open in RESP3 with
``CLIENT TRACKING ON BCAST PREFIX <prefix>``: from the reply on, the server pushes the name of every
key under the prefix that any client changes (a write of any kind, a delete, an expiry, an eviction),
and a null for ``FLUSHDB``/``FLUSHALL``. So writers need not publish anything, and writes from
plain clients (``redis-cli``, other libraries) evict L1 copies too.

Broadcasting mode, not the default mode: in the default mode the server remembers the keys each
connection *read*, so the L2 reads would have to go through tracked connections; the L2 reads through
its own pool, behind the `CacheStorage` Protocol. With a prefix, broadcasting costs one message per
changed key to each process, the same as the pub/sub channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from redis._parsers import _AsyncRESP3Parser
from redis.asyncio import Redis

__all__ = ["TrackingConnection"]

# A silent connection is pinged after this many seconds; one that stays silent as long again is lost.
# It bounds how long a connection cut without a reset (a dead peer, a dropped network) goes unnoticed.
PING_INTERVAL = 1.0


class _PushParser(_AsyncRESP3Parser):
    """redis-py's RESP3 parser that hands every push message to the reader instead of a handler."""

    async def handle_push_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - RESP
        return response


class TrackingConnection:
    """One RESP3 connection to the client's server on which Redis reports changes of keys under ``prefix``.

    It is made from the client's connection settings (address, TLS, credentials, timeouts), never
    from its pool: a connection with tracking on must not serve other commands.

    Args:
        client: A single-node ``redis.asyncio.Redis`` (Redis Cluster is not supported: broadcasting
            tracking is per node).
        prefix: Every key under it is tracked.
        ping_interval: Seconds of silence before the connection is pinged; as long again without an
            answer and it counts as lost.
    """

    def __init__(self, client: Redis, *, prefix: str, ping_interval: float = PING_INTERVAL) -> None:
        pool = client.connection_pool
        options = {**pool.connection_kwargs, "protocol": 3, "parser_class": _PushParser}
        self._connection: Any = pool.connection_class(**options)
        self._prefix = prefix
        self._ping_interval = ping_interval

    async def open(self) -> None:
        """Connect (``HELLO 3``) and turn tracking on; from the reply on, no change is missed.

        Raises:
            redis.exceptions.RedisError: The server cannot be reached, or refuses RESP3 or tracking
                (a server older than Redis 6).
        """
        await self._connection.connect()
        await self._connection.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", self._prefix)
        await self._connection.read_response()  # raises the server's error, if any

    async def changes(self) -> AsyncIterator[list[bytes] | None]:
        """Yield the names of changed keys, or ``None`` when the whole database was flushed.

        Ends only by raising, when the connection is lost or stays silent past its ping.

        Raises:
            redis.exceptions.ConnectionError: The connection was closed or reset.
            TimeoutError: The server did not answer a ping in time.
        """
        pinged = False
        while True:
            message = await self._connection.read_response(
                push_request=True, timeout=self._ping_interval, disconnect_on_error=True
            )
            if message is None:  # silence for ping_interval
                if pinged:
                    raise TimeoutError("the tracking connection did not answer a ping")
                await self._connection.send_command("PING", check_health=False)
                pinged = True
                continue
            pinged = False
            if (
                isinstance(message, list)
                and len(message) == 2
                and message[0] in (b"invalidate", "invalidate")
            ):
                keys = message[1]
                if keys is None:
                    yield None
                elif isinstance(keys, list):
                    yield [key.encode() if isinstance(key, str) else key for key in keys]

    async def aclose(self) -> None:
        """Close the connection (the server turns tracking off with it)."""
        await self._connection.disconnect(nowait=True)
