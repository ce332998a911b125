"""`RedisStore`: idempotency records on Redis or Redis Cluster (extra ``redis``), one Lua script each."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Self, Unpack

from buttress.core import AsyncResource, BackendErrors, RedisBackend, RedisOptions

from ._metrics import STORE_DURATION, STORE_UNAVAILABLE
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
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisStore", "redis") from exc

__all__ = ["RedisStore"]

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
# code followed by its arguments, in order; the reply holds one reply per operation.
_RUN = (
    _FUNCTIONS
    + """
local out = {}
local at = 1
for i = 1, #KEYS do
  local op = ARGV[at]
  local n = arity[op]
  out[i] = operations[op](KEYS[i], unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
return out
"""
)

type _Call = tuple[list[Any], asyncio.Future[Any]]

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
    """

    __slots__ = ("_in_flight", "_limit", "_pending", "_run", "_scheduled", "_slot", "_tasks")

    def __init__(
        self,
        run: Callable[[list[str], list[Any]], Awaitable[Any]],
        in_flight: int,
        slot: Callable[[str], int] | None = None,
    ) -> None:
        self._run = run
        self._slot = slot
        self._limit = in_flight
        self._pending: list[tuple[str, list[Any], asyncio.Future[Any]]] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, key: str, arguments: list[Any]) -> Any:  # noqa: ANN401
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((key, arguments, future))
        if not self._scheduled and self._in_flight < self._limit:
            self._schedule()
        return await future

    def _schedule(self) -> None:
        self._scheduled = True
        task = asyncio.get_running_loop().create_task(self._next())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _next(self) -> None:
        try:
            await asyncio.sleep(0)  # let the operations of this loop iteration join the batch
        finally:
            self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._in_flight += 1
        try:
            await self._send(batch)
        except BaseException:
            for _, _, future in batch:
                future.cancel()
            raise
        finally:
            self._in_flight -= 1
            if self._pending and not self._scheduled:
                self._schedule()

    async def _send(self, batch: list[tuple[str, list[Any], asyncio.Future[Any]]]) -> None:
        if self._slot is None:
            await self._send_one(batch)
            return
        # On a cluster one script call touches the keys of one slot: one call per slot, sent together.
        groups: dict[int, list[tuple[str, list[Any], asyncio.Future[Any]]]] = {}
        for call in batch:
            groups.setdefault(self._slot(call[0]), []).append(call)
        await asyncio.gather(*(self._send_one(group) for group in groups.values()))

    async def _send_one(self, batch: list[tuple[str, list[Any], asyncio.Future[Any]]]) -> None:
        keys = [key for key, _, _ in batch]
        arguments = [argument for _, operation, _ in batch for argument in operation]
        try:
            replies = await self._run(keys, arguments)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller, who raises it
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if not future.done():
                future.set_result(reply)


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
        self._cluster = client if isinstance(client, RedisCluster) else None
        self._gate = None if self._cluster is None else asyncio.Semaphore(_CLUSTER_CONCURRENCY)
        slot = None if self._cluster is None else self._cluster.keyslot
        if check_bool("batching", batching):
            self._batcher: _Batcher | None = _Batcher(self._evaluate, in_flight=4, slot=slot)
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

    async def _evaluate(self, keys: list[str], arguments: list[Any]) -> Any:  # noqa: ANN401
        if self._gate is None:
            return await self._evalsha(keys, arguments)
        async with self._gate:
            await self._discover()
            return await self._evalsha(keys, arguments)

    async def _evalsha(self, keys: list[str], arguments: list[Any]) -> Any:  # noqa: ANN401
        """``EVALSHA`` of the script, straight to the client (what calling the script does, lighter)."""
        try:
            sha = self._script.sha
            return await self._client.execute_command("EVALSHA", sha, len(keys), *keys, *arguments)
        except NoScriptError:
            # A server that never saw the script (a restart, SCRIPT FLUSH, a failover): the script
            # object loads it and runs it.
            return await self._script(keys=keys, args=arguments)

    async def _run(self, operation: str, key: str, arguments: list[Any]) -> list[Any]:
        # `store_call` and `_unavailable`, without their two generators: this runs twice a request.
        attributes = _ATTRIBUTES[operation]
        started = time.perf_counter()
        try:
            if self._batcher is not None:
                reply = await self._batcher.call(self._prefix + key, arguments)
            else:
                (reply,) = await self._evaluate([self._prefix + key], arguments)
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
            error = reply[1].decode(errors="replace") if isinstance(reply[1], bytes) else str(reply[1])
            raise StoredRecordError("idempotency-record", operation, f"the key holds something else: {error}")
        return list(reply)

    async def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Claim ``key`` for ``lease`` seconds, or report what holds it (see `IdempotencyStore`)."""
        check_store_text("key", key)
        check_store_text("fingerprint", fingerprint)
        lease_ms = _ms(check_positive("lease", lease))
        token = secrets.token_urlsafe(12)
        reply = await self._run("claim", key, ["c", fingerprint, token, lease_ms])
        code = reply[0]
        if code == 1:
            return Claim(ClaimOutcome.CLAIMED, token=token)
        if code == 3:
            return Claim(ClaimOutcome.COMPLETED, response=decode_response(reply[1]))
        if code == 4:
            return Claim(ClaimOutcome.IN_FLIGHT, retry_after=max(int(reply[1]), 0) / 1000)
        return Claim(ClaimOutcome.MISMATCH)

    async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        """Store ``response`` if ``token`` holds a live lease on ``key``; ``False`` if it does not."""
        check_held(key, token)
        retention_ms = _ms(check_positive("retention", retention))
        data = encode_response(response)
        return bool((await self._run("complete", key, ["d", token, data, retention_ms]))[0] == 1)

    async def release(self, key: str, token: str) -> bool:
        """Delete the in-flight record ``token`` holds; ``False`` if it holds none."""
        check_held(key, token)
        return bool((await self._run("release", key, ["r", token]))[0] == 1)

    async def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the live lease ``token`` holds to ``lease`` seconds from now."""
        check_held(key, token)
        lease_ms = _ms(check_positive("lease", lease))
        return bool((await self._run("renew", key, ["n", token, lease_ms]))[0] == 1)

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r}, address={self._address!r})"


def _ms(seconds: float) -> int:
    return max(math.ceil(seconds * 1000), 1)
