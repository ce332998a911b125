"""`RedisStore`: idempotency records on Redis or Redis Cluster (extra ``redis``), one Lua script each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar, Self, Unpack, cast

from buttress.core import AsyncResource, BackendErrors, RedisBackend, RedisOptions

from ._metrics import STORE_DURATION, STORE_UNAVAILABLE, TELEMETRY
from ._pipe import Pipe
from ._tokens import lease_token
from ._types import Claim, ClaimOutcome, StoredResponse, decode_response, encode_response
from ._validation import check_bool, check_held, check_positive, check_store_text
from .exceptions import (
    IdempotencyConfigurationError,
    IdempotencyTypeError,
    IdempotencyUnavailableError,
    MissingExtraError,
    StoredRecordError,
)

try:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import NoScriptError, RedisClusterException, RedisError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisStore", "redis") from exc

__all__ = ["RedisStore"]

logger = logging.getLogger(__name__)

# Calls in flight at once on a cluster client, whose per-node pools cannot make callers queue.
_CLUSTER_CONCURRENCY = 50

type RedisClient = Redis | RedisCluster

_ERRORS = BackendErrors(IdempotencyConfigurationError, IdempotencyTypeError, IdempotencyUnavailableError)

# A record is a hash: f = fingerprint, t = the lease's token (while in flight), r = the encoded response
# (once completed). The key's PEXPIRE is the lease while in flight and the retention once completed, so an
# abandoned claim disappears by itself when its lease runs out. Time is Redis's own.
#
# Every operation touches that one key alone, so on Redis Cluster a record needs no hash tag: each
# idempotency key hashes to its own slot and the records spread over every primary. A batch may hold
# keys of many slots, which one EVALSHA cannot touch on a cluster (CROSSSLOT): there it is split per
# slot, one EVALSHA per slot, sent together.
#
# Each operation is a Lua function; every reply is a table whose first element is a code. A key of another
# type under the prefix answers {-1, error} for that operation alone (redis.pcall), never the whole batch.
_FUNCTIONS = """
local function claim(key, fingerprint, token, lease)
  local rec = redis.pcall('HMGET', key, 'f', 't', 'r')
  if rec.err then return {-1, rec.err} end
  if not rec[1] then
    redis.call('HSET', key, 'f', fingerprint, 't', token)
    redis.call('PEXPIRE', key, lease)
    return {1}
  end
  if rec[1] ~= fingerprint then return {2} end
  if rec[3] then return {3, rec[3]} end
  -- The lease is this very claim's: the client sent it again (a retry after a timeout or a cut
  -- connection, when the first attempt had reached the server). It is still the caller's.
  if rec[2] == token then return {1} end
  return {4, redis.call('PTTL', key)}
end

local function holder(key)
  local token = redis.pcall('HGET', key, 't')
  if type(token) == 'table' and token.err then return nil, {-1, token.err} end
  return token, nil
end

local function complete(key, token, response, retention)
  local held, err = holder(key)
  if err then return err end
  if held ~= token then return {0} end
  redis.call('HSET', key, 'r', response)
  redis.call('HDEL', key, 't')
  redis.call('PEXPIRE', key, retention)
  return {1}
end

local function release(key, token)
  local held, err = holder(key)
  if err then return err end
  if held ~= token then return {0} end
  redis.call('DEL', key)
  return {1}
end

local function renew(key, token, lease)
  local held, err = holder(key)
  if err then return err end
  if held ~= token then return {0} end
  redis.call('PEXPIRE', key, lease)
  return {1}
end

local operations = {c = claim, d = complete, r = release, n = renew}
local arity = {c = 3, d = 3, r = 1, n = 2}
"""

# One operation: ARGV = op, its arguments. A batch: KEYS = one key per operation, ARGV = each operation's
# code followed by its arguments, in order. The reply is flat, so the client parses as little as it can:
# first a string of one character per operation (its code: 0-4, or e for an error), then the payload of
# each operation that has one (a stored response, a PTTL, an error), in order.
_RUN = (
    _FUNCTIONS
    + """
local codes = {}
local out = {''}
local at = 1
for i = 1, #KEYS do
  local op = ARGV[at]
  local n = arity[op]
  local reply = operations[op](KEYS[i], unpack(ARGV, at + 1, at + n))
  local code = reply[1]
  if code == -1 then codes[i] = 'e' else codes[i] = string.char(48 + code) end
  if reply[2] ~= nil then out[#out + 1] = reply[2] end
  at = at + n + 1
end
out[1] = table.concat(codes)
return out
"""
)

# The codes whose reply carries a payload: 3 (the stored response), 4 (the PTTL), e (-1, the error).
_WITH_PAYLOAD = frozenset(b"34e")


def _replies(reply: Any) -> list[tuple[int, Any]]:  # noqa: ANN401 - a script reply, as redis-py parsed it
    """One ``(code, payload)`` per operation from a flat script reply (see `_RUN`)."""
    codes: bytes = reply[0]
    out: list[tuple[int, Any]] = []
    at = 1
    for char in codes:
        if char in _WITH_PAYLOAD:
            out.append((-1 if char == 101 else char - 48, reply[at]))  # 101 is b"e"
            at += 1
        else:
            out.append((char - 48, None))
    return out


_LARGE = 16 * 1024
_DURATIONS = 16  # distinct durations a store keeps packed (see `RedisStore._duration`)

# What `RedisStore` queues for one operation. On a pooled single-node client (`_direct`) its key and
# its arguments are RESP already: ``$<len>\r\n<value>\r\n`` each, built by one format per operation
# (`_CLAIM`, `_COMPLETE`), so a batch is packed by joining them (`_pack`); a value over 16 KiB (a large
# stored response) stays a buffer of its own in a list instead of being copied. Otherwise (a cluster, a
# single-connection client) the key and the arguments are the plain values, for ``execute_command``.
type _Arguments = bytes | list[bytes]

_KEY = b"$%d\r\n%b%b\r\n"
_CLAIM = b"$1\r\nc\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b"
_COMPLETE = b"$1\r\nd\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b"


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _resp(values: tuple[bytes, ...]) -> _Arguments:
    """``values`` as RESP bulk strings: one bytes, or a list when one of them is over 16 KiB."""
    if all(len(value) <= _LARGE for value in values):
        return b"".join([_bulk(value) for value in values])
    parts: list[bytes] = []
    for value in values:
        if len(value) > _LARGE:
            parts += (b"$%d\r\n" % len(value), value, b"\r\n")
        else:
            parts.append(_bulk(value))
    return parts


def _pack(sha: bytes, keys: list[bytes], arguments: list[_Arguments], count: int) -> list[bytes]:
    """The RESP form of ``EVALSHA sha len(keys) *keys *arguments``, from RESP-encoded keys and arguments.

    ``count`` is the number of arguments in all. What redis-py's `pack_command` does for any value,
    checking and encoding each one, done once per operation (`_CLAIM`...) and joined here.
    """
    total = b"%d" % len(keys)
    head = b"*%d\r\n$7\r\nEVALSHA\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        3 + len(keys) + count,
        len(sha),
        sha,
        len(total),
        total,
    )
    try:
        return [b"".join([head, *keys, *arguments])]  # type: ignore[list-item]
    except TypeError:  # a large value, in a list (see `_Arguments`)
        pass
    parts = [head, *keys]
    buffers: list[bytes] = []
    for argument in arguments:
        if isinstance(argument, bytes):
            parts.append(argument)
            continue
        for piece in argument:  # a large value: its own buffer, not copied into the command
            if len(piece) > _LARGE:
                buffers.append(b"".join(parts))
                buffers.append(piece)
                parts = []
            else:
                parts.append(piece)
    buffers.append(b"".join(parts))
    return buffers


type _Reply = tuple[int, Any]
# Where an operation's answer goes: a future its caller awaits, or a function called with the reply (or
# the exception) as soon as the batch is answered, for a caller that must not wait (see `_complete_soon`).
type _Sink = asyncio.Future[_Reply] | Callable[[_Reply | BaseException], None]
# The key, the arguments (see `_Arguments`), how many arguments, and where the answer goes.
type _Operation = tuple[bytes, _Arguments, int, _Sink]

# A pipe needs a pool of at least two connections (one for what it hands back); a failed try to open one
# is not repeated for a second.
_PIPE_MIN_POOL = 2
_PIPE_RETRY = 1.0

# On the pipe an operation leaves at once while fewer than this many batches are in flight: a request
# that comes alone does not wait for the loop's iteration to end (Redis answers it while the loop runs
# the other requests). Beyond that, operations gather until a reply frees a place (`_Batcher._done`)
# or their batch holds `_EAGER` of them, so a burst still costs a few round trips.
_AT_ONCE = 2
_EAGER = 8

# The metric attributes of each operation, built once (they are read on every call).
_ATTRIBUTES: dict[str, dict[str, str]] = {
    operation: {"idempotency.store": "redis", "idempotency.operation": operation}
    for operation in ("claim", "complete", "release", "renew")
}


class _Batcher:
    """Sends concurrent operations to Redis together, as one call of the script per batch.

    Operations made in the same event-loop iteration go out together on the next one. At most
    ``in_flight`` batches travel at once; operations made while that many are under way wait and go out
    together as the next batch when one returns. A lone operation costs what it would alone; a hundred
    concurrent ones cost a few round trips instead of a hundred, and the client's per-command work (most
    of its time) is paid per batch. Redis runs a script atomically, so each operation is as atomic as
    alone.

    With ``pipe`` (a pooled single-node client), a batch is written on the store's `Pipe` when it has
    one open (``pipe`` returns it, or ``None``), without a task: its reply is dispatched as it is read.
    There batches form by how busy the pipe is rather than by loop iteration: an operation leaves at
    once while fewer than two batches are in flight (`_AT_ONCE`); past that, operations gather and leave
    together when a reply frees a place, or as soon as they are eight (`_EAGER`) while fewer than
    ``in_flight`` batches travel. A request that comes alone pays one round trip and no wait; a burst
    is still sent in a few batches. A batch the pipe hands back (an error reply, a lost connection)
    goes through ``run`` like any other.
    """

    __slots__ = (
        "_in_flight",
        "_limit",
        "_pack",
        "_pending",
        "_pipe",
        "_run",
        "_scheduled",
        "_slot",
        "_tasks",
    )

    def __init__(
        self,
        run: Callable[[list[_Operation]], Awaitable[list[_Reply]]],
        in_flight: int,
        slot: Callable[[bytes], int] | None = None,
        pipe: Callable[[], Pipe | None] | None = None,
        pack: Callable[[list[_Operation]], list[bytes]] | None = None,
    ) -> None:
        self._run = run
        self._slot = slot
        self._pipe = pipe
        self._pack = pack
        self._limit = in_flight
        self._pending: list[_Operation] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def call(self, key: bytes, arguments: _Arguments, count: int) -> asyncio.Future[_Reply]:
        """Queue an operation; the future its caller awaits gets the reply (or the exception)."""
        future: asyncio.Future[_Reply] = asyncio.get_running_loop().create_future()
        self._pending.append((key, arguments, count, future))
        self._queued()
        return future

    def submit(
        self,
        key: bytes,
        arguments: _Arguments,
        count: int,
        answer: Callable[[_Reply | BaseException], None],
    ) -> None:
        """Queue an operation whose reply (or exception) ``answer`` takes when its batch returns.

        Once queued, the operation is sent whatever becomes of its caller: nothing can cancel it but the
        batcher's own task (at the loop's end), and then ``answer`` gets a `CancelledError`.
        """
        self._pending.append((key, arguments, count, answer))
        self._queued()

    def _queued(self) -> None:
        """An operation joined the pending batch: send it now, at the next iteration, or with a reply."""
        in_flight = self._in_flight
        if self._pipe is not None:
            if in_flight < _AT_ONCE or (in_flight < self._limit and len(self._pending) >= _EAGER):
                self._dispatch()
        elif in_flight < self._limit and not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = True
        task = asyncio.get_running_loop().create_task(self._next())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self) -> None:
        """Send what is pending: on the pipe if one is open, else through the client (in a task)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._in_flight += 1
        pipe = self._pipe() if self._pipe is not None else None
        if pipe is not None and self._pack is not None:
            try:
                packed = self._pack(batch)
            except Exception:  # noqa: BLE001 - the client's path raises it to the callers
                packed = None
            if packed is not None and pipe.send(packed, lambda reply: self._piped(batch, reply)):
                return
        self._resend(batch)

    def _piped(self, batch: list[_Operation], reply: Any) -> None:  # noqa: ANN401 - a parsed script reply
        """The pipe's answer to ``batch`` (see `Answer`)."""
        if reply is None:
            self._resend(batch)
            return
        if reply.__class__ is TimeoutError:
            error = RedisTimeoutError("the Redis server did not answer within the socket timeout")
            for *_, sink in batch:
                _answer(sink, error)
            self._done()
            return
        try:
            replies = _replies(reply)
        except Exception:  # noqa: BLE001 - not the script's reply: the client's path decides
            self._resend(batch)
            return
        if len(replies) != len(batch):
            self._resend(batch)
            return
        for operation, each in zip(batch, replies, strict=True):
            _answer(operation[3], each)
        self._done()

    def _resend(self, batch: list[_Operation]) -> None:
        task = asyncio.get_running_loop().create_task(self._through_client(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _through_client(self, batch: list[_Operation]) -> None:
        try:
            await self._send(batch)
        except BaseException:
            for *_, sink in batch:
                _cancel(sink)
            raise
        finally:
            self._done()

    def _done(self) -> None:
        self._in_flight -= 1
        if not self._pending:
            return
        if self._pipe is not None:
            self._dispatch()  # what gathered while the pipe was busy: made in earlier iterations
        elif not self._scheduled:
            self._schedule()

    async def _next(self) -> None:
        try:
            await asyncio.sleep(0)  # let the operations of this loop iteration join the batch
        finally:
            self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._in_flight += 1
        await self._through_client(batch)

    async def _send(self, batch: list[_Operation]) -> None:
        if self._slot is None:
            await self._send_one(batch)
            return
        # On a cluster one script call touches the keys of one slot: one call per slot, sent together.
        groups: dict[int, list[_Operation]] = {}
        for call in batch:
            groups.setdefault(self._slot(call[0]), []).append(call)
        await asyncio.gather(*(self._send_one(group) for group in groups.values()))

    async def _send_one(self, batch: list[_Operation]) -> None:
        try:
            replies = await self._run(batch)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller, who raises it
            for *_, sink in batch:
                _answer(sink, exc)
            return
        for operation, reply in zip(batch, replies, strict=True):
            _answer(operation[3], reply)


def _answer(sink: _Sink, outcome: _Reply | BaseException) -> None:
    if isinstance(sink, asyncio.Future):
        if not sink.done():
            if isinstance(outcome, BaseException):
                sink.set_exception(outcome)
            else:
                sink.set_result(outcome)
        return
    try:
        sink(outcome)
    except Exception:  # one caller's failure must not keep the rest of its batch from their answers
        logger.exception("an idempotency store callback failed")


def _cancel(sink: _Sink) -> None:
    if isinstance(sink, asyncio.Future):
        sink.cancel()
    else:
        _answer(sink, asyncio.CancelledError())


# AsyncResource is named again (RedisBackend has it already) so the face shows at the class itself.
class RedisStore(RedisBackend, AsyncResource):
    """An `IdempotencyStore` on Redis or Redis Cluster, shared by every process on the same server and prefix.

    Each operation is one ``EVALSHA`` of a registered Lua script, so claim, complete, release and renew
    are atomic and cost one round trip; a replay is answered by the claim itself. Operations that
    concurrent requests make while round trips are under way travel together in one ``EVALSHA`` (at most
    four batches in flight), which Redis runs atomically too. Leases and retention
    are Redis key expiries (``PEXPIRE``), measured by the Redis server's clock: an abandoned claim
    vanishes when its lease runs out, with nothing to reap, and application servers' clocks never
    matter.

    With a pooled single-node client of two connections or more, the store keeps one of the pool's
    connections (connected and set up by redis-py) and writes its batches on it back to back, reading
    each reply as it arrives, without a task or a pool round per batch. A batch that meets an error
    reply or a lost connection there goes through the client's own path again (script loading, its
    retry, its errors); one left unanswered for the client's ``socket_timeout`` fails with redis-py's
    ``TimeoutError`` (an `IdempotencyUnavailableError`). Closing the client closes that connection too.

    On Redis Cluster each record is one key that every operation touches alone, so records spread over
    every primary by their idempotency key; a batch is split per hash slot (one ``EVALSHA`` per slot,
    sent together), and at most 50 calls are in flight at once (the cluster client's per-node pools
    cannot make callers queue).

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` made with ``decode_responses=False`` (the
            default). The store does not close a client it was given; `from_url` makes one it owns and
            `aclose` closes.
        prefix: Prepended to every key. Must not be empty.
        batching: Send the operations that concurrent requests make while a round trip is under way
            together, as one ``EVALSHA`` (each is as atomic as alone). Off, every operation is its own
            ``EVALSHA``.

    Raises:
        IdempotencyTypeError: ``client`` is not a ``redis.asyncio.Redis`` or ``RedisCluster``, or
            ``prefix`` not a str.
        IdempotencyConfigurationError: ``client`` decodes responses, ``prefix`` is empty (or holds
            NUL or a lone surrogate), or ``batching`` is not a bool.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = _ERRORS
    # Any error reply the scripts do not catch (OOM, READONLY, MISCONF, NOSCRIPT after a flush...):
    # the server cannot serve the store now.
    # A cluster that cannot route a call (no node for a slot, CLUSTERDOWN) is an outage too.
    outages: ClassVar[tuple[type[BaseException], ...]] = (RedisError, RedisClusterException)
    accepts_cluster: ClassVar[bool] = True

    def __init__(self, client: RedisClient, *, prefix: str = "idempotency:", batching: bool = True) -> None:
        super().__init__(client, prefix=prefix)
        self._client = client  # read on every call: an attribute, not the `client` property
        self._script = client.register_script(_RUN)
        self._sha = self._script.sha.encode("ascii")
        self._cluster = client if isinstance(client, RedisCluster) else None
        self._gate = None if self._cluster is None else asyncio.Semaphore(_CLUSTER_CONCURRENCY)
        slot = None if self._cluster is None else self._cluster.keyslot
        # A pooled single-node client is spoken to through its pool's connections directly (see `_direct`);
        # a cluster or a single-connection client goes through the client's own `execute_command`.
        self._pool = (
            client.connection_pool
            if isinstance(client, Redis) and not client.single_connection_client
            else None
        )
        encoder = client.get_encoder()
        self._encoding: str = encoder.encoding
        self._encoding_errors: str = encoder.encoding_errors
        self._key_prefix = self._prefix.encode(self._encoding, self._encoding_errors)
        self._prefix_size = len(self._key_prefix)
        self._durations: dict[float, tuple[bytes, bytes]] = {}
        # The connection batches are pipelined on (see `_pipe`): only with a pool that has a second
        # connection for what the pipe hands back.
        self._piping = self._pool is not None and getattr(self._pool, "max_connections", 0) >= _PIPE_MIN_POOL
        self._pipe_now: Pipe | None = None
        self._pipe_opening = False
        self._pipe_after = 0.0  # loop time before which no pipe is opened (after a failed attempt)
        self._pipe_tasks: set[asyncio.Task[None]] = set()
        # A subclass that overrides `complete` keeps it for every write, the middleware's last one too.
        self._queues_writes = type(self).complete is RedisStore.complete
        self._own_claim = type(self).claim is RedisStore.claim  # see `checked_claim`
        if check_bool("batching", batching):
            self._batcher: _Batcher | None = _Batcher(
                self._evaluate,
                in_flight=4,
                slot=slot,
                pipe=self._pipe if self._piping else None,
                pack=self._pack_batch,
            )
        else:
            self._batcher = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "idempotency:",
        batching: bool = True,
        cluster: bool = False,
        **options: Unpack[RedisOptions],
    ) -> Self:
        """Make a store with its own client for ``url`` (``redis://``, ``rediss://``, ``unix://``).

        The client is core's `open_redis`, tuned by ``options`` (`RedisOptions`): at most
        ``max_connections`` (50) are opened, beyond that callers queue up to ``pool_timeout`` (5)
        seconds, and ``socket_timeout`` (1) bounds how long a call waits on a server that stopped
        answering. With ``cluster=True`` it is a ``RedisCluster`` that finds every node from the one
        in ``url`` (``redis://`` or ``rediss://``). The client is closed by `aclose`.

        Raises:
            IdempotencyConfigurationError: The URL is not a Redis URL redis-py can read (it is never
                shown in the message), a timeout is not a finite number of seconds above zero, or
                ``max_connections`` is not an int from 1 to 100,000, or ``cluster`` is not a bool.
            IdempotencyTypeError: ``url`` or ``prefix`` is not a str.
        """
        return cls._from_url(
            url, lambda client: cls(client, prefix=prefix, batching=batching), cluster=cluster, **options
        )

    def _pack_batch(self, batch: list[_Operation]) -> list[bytes]:
        """The RESP buffers of one ``EVALSHA`` for ``batch`` (a pooled client's operations)."""
        keys = [operation[0] for operation in batch]
        if len(batch) == 1:
            return _pack(self._sha, keys, [batch[0][1]], batch[0][2])
        count = sum([operation[2] for operation in batch])
        return _pack(self._sha, keys, [operation[1] for operation in batch], count)

    def _pipe(self) -> Pipe | None:
        """The open pipe of this event loop, or ``None`` (then one is opened, unless a try just failed)."""
        pipe = self._pipe_now
        if pipe is not None:
            if pipe.loop is asyncio.get_running_loop() and not pipe.broken:
                return pipe
            self._pipe_now = None  # another loop's (a closed one's, most likely): left to its pool
        if not self._pipe_opening and not self.closed:
            loop = asyncio.get_running_loop()
            if loop.time() >= self._pipe_after:
                self._pipe_opening = True
                self._pipe_task(self._open_pipe())
        return None

    def _pipe_task(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pipe_tasks.add(task)
        task.add_done_callback(self._pipe_tasks.discard)

    async def _open_pipe(self) -> None:
        """Take a connection from the client's pool for the pipe; on failure, try again a second later."""
        pool = self._pool
        assert pool is not None  # noqa: S101 - only with a pool
        loop = asyncio.get_running_loop()
        try:
            try:
                connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            except Exception:  # noqa: BLE001 - the batches go through the client, which reports it
                self._pipe_after = loop.time() + _PIPE_RETRY
                return
            # The client's socket_timeout, as its pool was given it (core's pool keeps it off the
            # connections, which it bounds itself).
            timeout = pool.connection_kwargs.get("socket_timeout") or connection.socket_timeout or None
            # A connection class whose transport the pipe can take (as the pool handed it out).
            known = isinstance(
                getattr(getattr(connection, "_writer", None), "transport", None), asyncio.Transport
            )
            if Pipe.stale(connection):  # its server went away since it was last used: connect again
                with contextlib.suppress(Exception):
                    await connection.disconnect()
                    await connection.connect()
            pipe = Pipe.take(connection, self._pipe_lost, timeout) if not self.closed else None
            if pipe is None:
                # A connection class the pipe does not know: never again. One still stale (its server
                # went away again), or a store closed meanwhile: another try later.
                self._pipe_after = loop.time() + _PIPE_RETRY if known or self.closed else math.inf
                with contextlib.suppress(Exception):
                    await pool.release(connection)
                return
            self._pipe_now = pipe
        finally:
            self._pipe_opening = False

    def _pipe_lost(self, pipe: Pipe) -> None:
        """``pipe`` failed (or was closed): its connection goes back to the pool, disconnected."""
        if self._pipe_now is pipe:
            self._pipe_now = None
            self._pipe_after = 0.0  # the next batch opens another (a dead server fails that, then waits)
        if pipe.loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # a loop that is closing
            pipe.loop.call_soon(self._pipe_task, self._give_back(pipe))

    async def _give_back(self, pipe: Pipe) -> None:
        pool = self._pool
        assert pool is not None  # noqa: S101 - only with a pool
        with contextlib.suppress(Exception):  # a closed pool or a connection that is gone: nothing to return
            await pipe.connection.disconnect(nowait=True)
            await pool.release(pipe.connection)

    async def _aclose(self) -> None:
        pipe, self._pipe_now = self._pipe_now, None
        if pipe is not None and not pipe.broken and pipe.loop is asyncio.get_running_loop():
            pipe.close()
        if self._pipe_tasks:
            await asyncio.gather(*self._pipe_tasks, return_exceptions=True)
        await super()._aclose()

    async def _evaluate(self, batch: list[_Operation]) -> list[_Reply]:
        if self._pool is not None:
            return _replies(await self._direct(self._pack_batch(batch)))
        keys = [operation[0] for operation in batch]
        arguments = [value for operation in batch for value in cast("list[bytes]", operation[1])]
        if self._gate is None:
            return _replies(await self._evalsha(keys, arguments))
        async with self._gate:
            await self._discover()
            return _replies(await self._evalsha(keys, arguments))

    async def _direct(self, packed: list[bytes]) -> Any:  # noqa: ANN401
        """``EVALSHA`` packed here (`_pack`) and sent on a connection of the client's pool.

        What ``execute_command`` does for it, without its generic per-value encoding and packing, its
        response callbacks and its own metrics: the same pool, the same connection retry policy (a
        connection error disconnects and retries as the client's ``Retry`` says), the same socket
        timeouts, and a connection that an error or a cancellation left mid-reply is disconnected
        before it goes back to the pool (redis-py's connection does that itself).
        """
        pool = self._pool
        assert pool is not None  # noqa: S101 - only called with a pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                return await connection.retry.call_with_retry(
                    lambda: _exchange(connection, packed), lambda _: connection.disconnect()
                )
            except NoScriptError:
                # A server that never saw the script (a restart, SCRIPT FLUSH, a failover): load, resend.
                await self._client.script_load(_RUN)
                return await connection.retry.call_with_retry(
                    lambda: _exchange(connection, packed), lambda _: connection.disconnect()
                )
        finally:
            await pool.release(connection)

    async def _evalsha(self, keys: list[bytes], arguments: list[bytes]) -> Any:  # noqa: ANN401
        """``EVALSHA`` of the script through the client (a cluster, or a single-connection client)."""
        try:
            return await self._client.execute_command("EVALSHA", self._sha, len(keys), *keys, *arguments)
        except NoScriptError:
            # A server that never saw the script (a restart, SCRIPT FLUSH, a failover): the script
            # object loads it and runs it.
            return await self._script(keys=keys, args=arguments)

    def _key(self, key: str) -> bytes:
        """The Redis key of ``key``: RESP-encoded for `_direct` (see `_Arguments`), else as it is."""
        raw = key.encode(self._encoding, self._encoding_errors)
        if self._pool is None:
            return self._key_prefix + raw
        return _KEY % (self._prefix_size + len(raw), self._key_prefix, raw)

    def _arguments(self, values: tuple[bytes, ...]) -> _Arguments:
        return _resp(values) if self._pool is not None else list(values)

    def _duration(self, name: str, seconds: float) -> tuple[bytes, bytes]:
        """``seconds`` checked, in whole milliseconds: as an argument, and RESP-encoded.

        The few durations a store sees (the lease, the retention) are remembered, as int or float only.
        """
        kind = seconds.__class__
        if kind is float or kind is int:
            known = self._durations.get(seconds)
            if known is not None:
                return known
        millis = b"%d" % _ms(check_positive(name, seconds))
        found = (millis, _bulk(millis))
        if (kind is float or kind is int) and len(self._durations) < _DURATIONS:
            self._durations[seconds] = found
        return found

    async def _run(self, operation: str, key: bytes, arguments: _Arguments, count: int) -> _Reply:
        # `store_call` and `_unavailable`, without their two generators: this runs twice a request.
        attributes = _ATTRIBUTES[operation]
        started = time.perf_counter()
        try:
            if self._batcher is not None:
                reply = await self._batcher.call(key, arguments, count)
            else:
                (reply,) = await self._evaluate([(key, arguments, count, _ignore)])
        except Exception:  # noqa: BLE001 - mapped (or re-raised as it is) by _unavailable
            try:
                with self._unavailable():
                    raise
            except IdempotencyUnavailableError:
                STORE_UNAVAILABLE.add(1, attributes)
                raise
        finally:
            STORE_DURATION.record(time.perf_counter() - started, attributes)
        if reply[0] == -1:
            raise _foreign(operation, reply[1])
        return reply

    def _text(self, value: str) -> bytes:
        return value.encode(self._encoding, self._encoding_errors)

    async def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Claim ``key`` for ``lease`` seconds, or report what holds it (see `IdempotencyStore`)."""
        check_store_text("key", key)
        check_store_text("fingerprint", fingerprint)
        check_positive("lease", lease)
        return await self._claim_checked(key, fingerprint, lease)

    async def _claim_checked(self, key: str, fingerprint: str, lease: float) -> Claim:
        """`claim` for a key, fingerprint and lease checked already (a slot checks them when made)."""
        token = lease_token()
        marked = token.encode("ascii")
        digest = fingerprint.encode(self._encoding, self._encoding_errors)
        millis, packed = self._duration("lease", lease)
        arguments: _Arguments
        if self._pool is not None:
            arguments = _CLAIM % (len(digest), digest, len(marked), marked, packed)
        else:
            arguments = [b"c", digest, marked, millis]
        code, payload = await self._run("claim", self._key(key), arguments, 4)
        if code == 1:
            return Claim(ClaimOutcome.CLAIMED, token=token)
        if code == 3:
            return Claim(ClaimOutcome.COMPLETED, response=decode_response(payload))
        if code == 4:
            return Claim(ClaimOutcome.IN_FLIGHT, retry_after=max(int(payload), 0) / 1000)
        return Claim(ClaimOutcome.MISMATCH)

    def _completion(self, token: str, data: bytes, retention: tuple[bytes, bytes]) -> _Arguments:
        """The arguments of a complete (see `_Arguments`)."""
        marked = token.encode(self._encoding, self._encoding_errors)
        if self._pool is None or len(data) > _LARGE:
            return self._arguments((b"d", marked, data, retention[0]))
        return _COMPLETE % (len(marked), marked, len(data), data, retention[1])

    async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        """Store ``response`` if ``token`` holds a live lease on ``key``; ``False`` if it does not."""
        check_held(key, token)
        arguments = self._completion(token, encode_response(response), self._duration("retention", retention))
        return (await self._run("complete", self._key(key), arguments, 4))[0] == 1

    def _complete_soon(
        self,
        key: str,
        token: str,
        response: StoredResponse,
        retention: float,
        answer: Callable[[bool | BaseException], None],
    ) -> bool:
        """`complete`, queued now and answered through ``answer``, not awaited; ``False`` if it cannot be.

        For the middleware's last write, which must go out even if the request is cancelled while it
        waits, without a task of its own: once queued, the batcher sends it whatever becomes of the
        request. ``answer`` gets what `complete` would return, or the exception it would raise. Without
        batching there is nothing to queue on: ``False``, and the caller awaits `complete`. Its caller
        is a slot, which checked the key and the retention when it was made and holds the token the
        store gave it.
        """
        batcher = self._batcher
        if batcher is None or not self._queues_writes:
            return False
        arguments = self._completion(token, encode_response(response), self._duration("retention", retention))
        attributes = _ATTRIBUTES["complete"]
        started = time.perf_counter()

        def answered(reply: _Reply | BaseException) -> None:
            STORE_DURATION.record(time.perf_counter() - started, attributes)
            if isinstance(reply, BaseException):
                answer(self._mapped(reply, attributes))
            elif reply[0] == -1:
                answer(_foreign("complete", reply[1]))
            else:
                answer(reply[0] == 1)

        batcher.submit(self._key(key), arguments, 4, answered)
        return True

    def _mapped(self, error: BaseException, attributes: dict[str, str]) -> BaseException:
        """``error`` as `_run` raises it: an outage mapped to `IdempotencyUnavailableError`, else as it is."""
        if not isinstance(error, Exception):
            return error
        try:
            with self._unavailable():
                raise error  # noqa: TRY301 - mapped as `_run` maps what it catches
        except IdempotencyUnavailableError as mapped:
            STORE_UNAVAILABLE.add(1, attributes)
            return mapped
        except Exception as other:  # noqa: BLE001 - handed back, raised by the caller
            return other

    async def release(self, key: str, token: str) -> bool:
        """Delete the in-flight record ``token`` holds; ``False`` if it holds none."""
        check_held(key, token)
        arguments = self._arguments((b"r", self._text(token)))
        return (await self._run("release", self._key(key), arguments, 2))[0] == 1

    async def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the live lease ``token`` holds to ``lease`` seconds from now."""
        check_held(key, token)
        millis, _ = self._duration("lease", lease)
        arguments = self._arguments((b"n", self._text(token), millis))
        return (await self._run("renew", self._key(key), arguments, 3))[0] == 1

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r}, address={self._address!r})"


async def _exchange(connection: Any, packed: list[bytes]) -> Any:  # noqa: ANN401 - redis-py's own types
    await connection.send_packed_command(packed)
    return await connection.read_response()


def _ignore(_: object) -> None:
    """The answer of an operation sent alone, without the batcher: its caller reads the reply itself."""


def _foreign(operation: str, error: object) -> StoredRecordError:
    """The error for a key of another type under the prefix, from the script's error reply."""
    text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
    return StoredRecordError("idempotency-record", operation, f"the key holds something else: {text}")


def _ms(seconds: float) -> int:
    return max(math.ceil(seconds * 1000), 1)
