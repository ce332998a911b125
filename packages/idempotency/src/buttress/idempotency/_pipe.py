"""`Pipe`: one connection of a redis-py pool, held by a store, on which batches are pipelined.

redis-py's connection sends a command and reads its reply through a stream reader: a task wakes for
every reply, and the pool is locked, counted and health-checked around every call. A store that sends
one script call per batch, many batches a second, pays that per batch. A `Pipe` takes one connection
from the client's pool (connected, authenticated and set up by redis-py itself: TLS, ``AUTH``,
``HELLO``, ``SELECT``, the client's name), keeps it, and speaks RESP on its transport directly:
a batch is written at once, without waiting for the one before it (Redis answers a connection's
commands in order), and each reply is parsed as its bytes arrive and handed to the batch's callback.

The pipe handles only what goes well. A batch whose reply is an error (``NOSCRIPT`` after a restart,
``OOM``, ``BUSY``...), and every batch in flight when the connection is lost or sends what this parser
does not read, is handed back to its callback with ``None``: the store sends it again through the
client, whose own path (its script loading, its errors) decides what the caller sees; that resend is
the one retry redis-py's own path would make on a lost connection. A connection that leaves a batch
unanswered for its ``socket_timeout`` is closed and its batches get `TimeoutError`, as redis-py's read
would raise it. The connection stays in the pool's hands: closing the client closes it, and a pipe that
fails gives it back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, Self

__all__ = ["Pipe", "parse_reply"]

# What a batch's callback gets: the parsed reply, None (send it again through the client), or
# `TimeoutError` (the connection did not answer within its socket timeout).
type Answer = Callable[[Any], None]


class _Incomplete(Exception):  # noqa: N818 - a signal, not an error: more bytes are needed
    """The buffer ends inside a reply; ``need`` is the buffer length known to be needed (0: unknown)."""

    __slots__ = ("need",)

    def __init__(self, need: int = 0) -> None:
        self.need = need


class _Unreadable(Exception):  # noqa: N818 - the pipe gives up on its connection, the store resends
    """Bytes that are not a reply this parser reads (a RESP3 map, say): the pipe is closed."""


class ErrorReply(bytes):
    """An error reply (``-NOSCRIPT No matching script...``): its batch goes through the client again."""

    __slots__ = ()


_PUSH = object()  # a RESP3 push message (out-of-band): skipped


def parse_reply(buffer: bytes, at: int) -> tuple[Any, int]:  # noqa: PLR0911, PLR0912 - one branch per RESP type
    """One RESP2/RESP3 reply of ``buffer`` from offset ``at``: the value and the offset after it.

    Arrays are lists, bulk and simple strings bytes, integers int, nulls ``None``, an error reply an
    `ErrorReply`, a push message `_PUSH` (inside arrays too, though Redis never nests one). Raises
    `_Incomplete` when the buffer ends first and `_Unreadable` on any other type or a malformed header.
    """
    end = buffer.find(b"\r\n", at)
    if end < 0:
        if len(buffer) - at > 64 * 1024:  # no header is this long
            raise _Unreadable
        raise _Incomplete
    kind = buffer[at]
    try:
        if kind == 36:  # $ bulk string
            size = int(buffer[at + 1 : end])
            if size < 0:
                return None, end + 2
            stop = end + 2 + size
            if len(buffer) < stop + 2:
                raise _Incomplete(stop + 2)
            return buffer[end + 2 : stop], stop + 2
        if kind == 42 or kind == 62:  # * array, > push  # noqa: PLR1714 - ints: faster than a set test
            count = int(buffer[at + 1 : end])
            if count < 0:
                return None, end + 2
            items = []
            at = end + 2
            for _ in range(count):
                item, at = parse_reply(buffer, at)
                items.append(item)
            return (items if kind == 42 else _PUSH), at
        if kind == 58:  # : integer
            return int(buffer[at + 1 : end]), end + 2
        if kind == 43:  # + simple string
            return buffer[at + 1 : end], end + 2
        if kind == 45:  # - error
            return ErrorReply(buffer[at + 1 : end]), end + 2
        if kind == 95 and end == at + 1:  # _ null (RESP3)
            return None, end + 2
    except ValueError:  # a length or an integer that is not one
        raise _Unreadable from None
    raise _Unreadable


class Pipe(asyncio.Protocol):
    """A connection of the client's pool on which batches are written back to back (see the module)."""

    def __init__(
        self,
        connection: Any,  # noqa: ANN401 - redis-py's connection, connected
        transport: asyncio.Transport,
        stream: asyncio.BaseProtocol,
        lost: Callable[[Pipe], None],
        timeout: float | None,
    ) -> None:
        self.connection = connection
        self.loop = asyncio.get_running_loop()
        self._transport = transport
        self._stream = stream  # the connection's own protocol, told when the transport closes
        self._lost = lost
        self._timeout = timeout
        # Batches written and not yet answered, oldest first: the callback and when it was written.
        self._waiting: deque[tuple[Answer, float]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._need = 0
        self._paused = False
        self.broken = False

    @classmethod
    def take(
        cls,
        connection: Any,  # noqa: ANN401 - redis-py's connection
        lost: Callable[[Pipe], None],
        timeout: float | None,
    ) -> Self | None:
        """A pipe on ``connection``'s transport, or ``None`` when it is not a connection it knows.

        ``connection`` is connected, with nothing unread. The transport is the connection's still (so
        the pool closes it); the pipe becomes its protocol. ``timeout``: the seconds a batch may wait
        for its reply (the client's ``socket_timeout``), or ``None``.
        """
        transport = getattr(getattr(connection, "_writer", None), "transport", None)
        if not isinstance(transport, asyncio.Transport) or cls.stale(connection):
            return None
        pipe = cls(connection, transport, transport.get_protocol(), lost, timeout)
        transport.set_protocol(pipe)
        return pipe

    @staticmethod
    def stale(connection: Any) -> bool:  # noqa: ANN401 - redis-py's connection
        """Whether ``connection`` cannot be a pipe as it is: closing, at end of file, or with bytes unread.

        A pool can hand out a connection whose server went away (a restart) and whose end of file has
        arrived already, which redis-py finds when it next reads; the pipe could not.
        """
        transport = getattr(getattr(connection, "_writer", None), "transport", None)
        reader = getattr(connection, "_reader", None)
        return (
            not isinstance(transport, asyncio.Transport)
            or transport.is_closing()
            or getattr(transport, "_loop", None) is not asyncio.get_running_loop()  # made on another loop
            or not isinstance(reader, asyncio.StreamReader)
            or reader.exception() is not None
            or bool(getattr(reader, "_eof", True))
            or len(getattr(reader, "_buffer", b"x")) != 0
        )

    def send(self, buffers: list[bytes], answer: Answer) -> bool:
        """Write a command for ``answer`` (see `Answer`). ``False``: not written, send it elsewhere."""
        if self.broken or self._paused:
            return False
        if len(buffers) == 1:
            self._transport.write(buffers[0])
        else:
            self._transport.writelines(buffers)
        if self._timeout is not None:
            now = self.loop.time()
            self._waiting.append((answer, now))
            if self._timer is None:
                self._timer = self.loop.call_at(now + self._timeout, self._check)
        else:
            self._waiting.append((answer, 0.0))
        return True

    def close(self, outcome: object = None) -> None:
        """Stop: every batch in flight gets ``outcome`` (``None``: sent again), the transport is closed."""
        self._fail(outcome)
        self._transport.abort()

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._parts:
            self._parts.append(data)
            self._size += len(data)
            if self._size < self._need:
                return
            buffer = b"".join(self._parts)
        else:
            buffer = data
        at = 0
        size = len(buffer)
        waiting = self._waiting
        while at < size:
            try:
                reply, after = parse_reply(buffer, at)
            except _Incomplete as more:
                self._parts = [buffer[at:]] if at else [buffer]
                self._size = size - at
                self._need = more.need - at
                return
            except _Unreadable:
                self.close()
                return
            at = after
            if reply is _PUSH:
                continue
            if not waiting:  # a reply to nothing the pipe sent: its connection cannot be trusted
                self.close()
                return
            answer, _ = waiting.popleft()
            answer(None if reply.__class__ is ErrorReply else reply)
            if self.broken:  # the answer closed the pipe: what is left was handed back already
                return
        self._parts = []
        self._size = self._need = 0

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail()
        self._stream.connection_lost(exc)  # so the connection's own close (the pool's) completes

    def pause_writing(self) -> None:
        self._paused = True  # batches go through the client until the server has read what is queued

    def resume_writing(self) -> None:
        self._paused = False

    # --- failure ----------------------------------------------------------------------------------

    def _check(self) -> None:
        """The oldest batch's deadline: unanswered, the connection is given up; else wait for the next."""
        self._timer = None
        if not self._waiting or self.broken:
            return
        assert self._timeout is not None  # noqa: S101 - only armed with a timeout
        deadline = self._waiting[0][1] + self._timeout
        if deadline > self.loop.time():
            self._timer = self.loop.call_at(deadline, self._check)
            return
        self.close(TimeoutError())

    def _fail(self, outcome: object = None) -> None:
        if self.broken:
            return
        self.broken = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, deque()  # a reading loop holding the old one stops
        self._parts = []
        self._lost(self)
        for answer, _ in waiting:
            with contextlib.suppress(Exception):  # one batch's failure must not keep the rest from resending
                answer(outcome)
