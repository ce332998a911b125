"""Socket and pool timeouts for `open_redis`'s client, kept without a timer per command.

redis-py bounds each command with ``asyncio`` timeouts: one around taking a connection from a
``BlockingConnectionPool``, one around the write, one around each reply. Each is a timer pushed on
the event loop's heap and cancelled a few microseconds later, and the cancelled timers stay in the
heap until it is compacted, so every later push and pop compares against them. On a cache hit that
is most of what a client adds over a bare socket.

Here the same bounds cost a dictionary entry. A connection notes its deadline while it writes a
command and while it waits for a reply, and drops it when that is done; one watchdog per client wakes every
quarter of ``socket_timeout`` while any command is in flight and aborts the transport of a
connection past its deadline. The waiting call then raises redis-py's ``TimeoutError``, exactly as
before, between ``socket_timeout`` and 1.25 times it. Taking a connection arms a timer only when the
pool has none free, the one case where the call can wait.

redis-py is imported when the first client is built (core has no runtime dependency on it).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from typing import Any, Final

__all__ = ["deadline_pool_class"]

# The watchdog wakes this many times per socket_timeout while commands are in flight.
_TICKS: Final = 4


class _Deadlines:
    """The deadlines of one client's connections in flight, and the one timer that enforces them."""

    __slots__ = ("budget", "busy", "handle", "loop", "tick")

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.tick = budget / _TICKS
        self.busy: dict[Any, float] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def arm(self, connection: Any) -> None:  # noqa: ANN401 - a redis-py connection
        self.busy[connection] = time.monotonic() + self.budget
        connection._buttress_expired = False
        loop = asyncio.get_running_loop()
        if self.handle is None or self.loop is not loop:
            # The first command in flight, or a client carried to another loop (whose old timer
            # will never run): start watching on this one.
            self.loop = loop
            self.handle = loop.call_later(self.tick, self._check)

    def disarm(self, connection: Any) -> None:  # noqa: ANN401 - a redis-py connection
        self.busy.pop(connection, None)

    def _check(self) -> None:
        self.handle = None
        now = time.monotonic()
        for connection, deadline in list(self.busy.items()):
            if deadline <= now:
                del self.busy[connection]
                connection._buttress_expire()
        if self.busy and self.loop is not None and not self.loop.is_closed():
            self.handle = self.loop.call_later(self.tick, self._check)


def _with_deadlines(base: type) -> type:
    """``base`` (a redis-py connection class) bounded by its client's `_Deadlines`."""
    timeout_error = importlib.import_module("redis.exceptions").TimeoutError
    driver_errors = (importlib.import_module("redis.exceptions").ConnectionError, OSError)

    class DeadlineConnection(base):  # type: ignore[misc]
        _buttress_deadlines: _Deadlines | None = None
        _buttress_expired = False

        def _buttress_expire(self) -> None:
            self._buttress_expired = True
            writer = getattr(self, "_writer", None)
            if writer is not None:
                writer.transport.abort()  # the pending write or read fails at once

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:  # noqa: ANN401 - redis-py's signature
            deadlines = self._buttress_deadlines
            if deadlines is None:
                await super().send_packed_command(command, check_health)
                return
            # The write alone is bounded here, as redis-py bounds it; the reply, if one is read,
            # gets its own deadline. (A pub/sub connection that subscribes and reads later must not
            # be cut while it waits between the two.)
            deadlines.arm(self)
            try:
                await super().send_packed_command(command, check_health)
            except BaseException as exc:
                if self._buttress_expired and isinstance(exc, driver_errors):
                    raise timeout_error("Timeout writing to socket") from None
                raise
            finally:
                deadlines.disarm(self)

        async def read_response(
            self,
            disable_decoding: bool = False,
            timeout: float | None = None,
            **options: Any,  # noqa: ANN401 - redis-py's keyword options, passed through
        ) -> Any:  # noqa: ANN401 - a reply
            deadlines = self._buttress_deadlines
            if deadlines is None or timeout is not None:
                # An explicit timeout (pub/sub reads, blocking or not) is redis-py's to keep.
                if deadlines is not None:
                    deadlines.disarm(self)
                return await super().read_response(disable_decoding, timeout, **options)
            deadlines.arm(self)
            try:
                return await super().read_response(disable_decoding, None, **options)
            except driver_errors:
                if self._buttress_expired:
                    raise timeout_error(f"Timeout reading from {self._host_error()}") from None
                raise
            finally:
                deadlines.disarm(self)

    DeadlineConnection.__name__ = DeadlineConnection.__qualname__ = base.__name__
    return DeadlineConnection


@functools.cache
def deadline_pool_class() -> Any:  # noqa: ANN401 - a redis-py pool class; core does not depend on redis
    """A ``BlockingConnectionPool`` whose connections and waits are bounded without per-command timers."""
    asyncio_redis = importlib.import_module("redis.asyncio")
    connection_error = importlib.import_module("redis.exceptions").ConnectionError
    bounded: dict[type, type] = {}

    class DeadlinePool(asyncio_redis.BlockingConnectionPool):  # type: ignore[misc, name-defined]
        """Takes ``timeout`` (seconds to wait for a free connection) like its base; kept as `pool_timeout`."""

        def __init__(self, *, timeout: float | None = 20, **options: Any) -> None:  # noqa: ANN401 - redis-py's
            super().__init__(timeout=None, **options)
            self.pool_timeout = timeout
            budget = self.connection_kwargs.get("socket_timeout")
            self._buttress_deadlines = None if not budget else _Deadlines(budget)
            base: type = self.connection_class  # type: ignore[has-type]
            if base not in bounded:
                bounded[base] = _with_deadlines(base)
            self.connection_class = bounded[base]

        def make_connection(self) -> Any:  # noqa: ANN401 - a redis-py connection
            # The connection runs without redis-py's per-call timers; the deadlines bound it instead.
            connection = self.connection_class(**{**self.connection_kwargs, "socket_timeout": None})
            connection._buttress_deadlines = self._buttress_deadlines
            return connection

        async def get_connection(self, *args: Any, **options: Any) -> Any:  # noqa: ANN401 - redis-py's
            if not self._condition.locked() and self.can_get_connection():
                # Nothing to wait for (the checks and the taking happen without yielding): no timer.
                return await super().get_connection(*args, **options)
            waiting = asyncio.timeout(self.pool_timeout)
            try:
                async with waiting:
                    return await super().get_connection(*args, **options)
            except TimeoutError as exc:
                if waiting.expired():
                    raise connection_error("No connection available.") from exc
                raise

    return DeadlinePool
