"""`RedisStorage`, entries on Redis or Redis Cluster, and `RedisCache` over it (extra ``redis``)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, Self, Unpack

from buttress.core import (
    BackendErrors,
    BackendUnavailableError,
    Clock,
    JsonSerializer,
    RedisBackend,
    Serializer,
)

from ._cache import Cache
from ._entry import Entry, pack, unpack
from ._gate import Gate
from ._lean_get import LeanGet
from ._metrics import TELEMETRY
from ._policy import CachePolicy, CachePolicyOptions, resolve_policy, with_concurrency
from ._storage import StoredItem
from ._validation import (
    check_positive,
    check_positive_int,
    check_storage_key,
    check_storage_keys,
    check_stored_items,
    check_tag_list,
    check_text,
)
from .exceptions import (
    CacheSerializationError,
    CachingBusyError,
    CachingConfigurationError,
    CachingTypeError,
    CachingUnavailableError,
    MissingExtraError,
)

try:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import MaxConnectionsError, RedisClusterException, RedisError, ResponseError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisStorage", "redis") from exc

__all__ = ["RedisCache", "RedisClient", "RedisStorage"]

logger = logging.getLogger(__name__)

# Compare-and-delete: release the lock only if it is still ours.
_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

# Internal keys live under the prefix too (so clear() removes them) behind a byte no caller's key starts with.
_INTERNAL = "\x00"
_SCAN_BATCH = 500
# Calls in flight at once on a cluster client, whose per-node pools cannot make callers queue.
_CLUSTER_CONCURRENCY = 50

type RedisClient = Redis | RedisCluster


class _RedisBackend(RedisBackend):
    """What the package's Redis objects share: its errors, its outages, and Redis Cluster."""

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors = BackendErrors(CachingConfigurationError, CachingTypeError, CachingUnavailableError)
    # Failures of the server rather than of our input (which is checked before any call): it cannot be
    # reached, or answers with an error (CLUSTERDOWN, LOADING, READONLY, OOM, a node that is no cluster).
    outages = (RedisError, RedisClusterException)
    accepts_cluster = True

    def _outage(self, exc: BaseException) -> BackendUnavailableError:
        if isinstance(exc, MaxConnectionsError):  # our own congestion, not the server's failure
            return CachingBusyError("redis", self._address, type(exc).__name__)
        return super()._outage(exc)


class InvalidationChannel(_RedisBackend):
    """The pub/sub channel a `TieredStorage` announces changes on (its name is the prefix).

    The client is borrowed: whoever opened it closes it.
    """

    def __init__(self, client: RedisClient, *, channel: str) -> None:
        super().__init__(client, prefix=channel)

    async def publish(self, message: str) -> None:
        """Send ``message`` on the channel.

        Raises:
            CachingUnavailableError: Redis cannot be reached or answers with an error.
        """
        with self._unavailable():
            await self._discover()
            await self.client.publish(self.prefix, message)

    async def pubsub(self) -> Any:  # noqa: ANN401 - redis-py's PubSub or ClusterPubSub
        """A pub/sub object of the client, ready to subscribe to the channel.

        A cluster client must know its nodes before it can route a subscription (redis-py's cluster
        pub/sub does not discover them itself: a fresh client failed with ``KeyError``).

        Raises:
            CachingUnavailableError: The cluster's nodes cannot be reached.
        """
        with self._unavailable():
            await self._discover()
        return self.client.pubsub()


class RedisStorage(_RedisBackend):
    """A `CacheStorage` on Redis (single node or `redis.asyncio.RedisCluster`), shared by every process.

    It keeps entries whose values are bytes (a `Cache` with a serializer writes those), each under
    ``prefix + key`` with a server-side TTL of its ``keep_for``; tags are Redis sets under the prefix.
    `lock` is ``SET NX PX`` with an owner token, released by compare-and-delete in Lua, so a holder
    that dies stops blocking the others after the lock's TTL. On a cluster, bulk reads use ``MGET``
    per slot and deletes are split per slot. Every call that the server cannot answer raises
    `CachingUnavailableError` (address redacted; never a key).

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` made with ``decode_responses=False``.
            The storage does not close a client it was given; `from_url` makes one it owns.
        prefix: Prepended to every key; `clear` removes exactly the keys under it. Must not be empty.
        max_concurrency: The most calls in flight at once; the others queue, first come, first served
            (default: 50 on a cluster client, whose per-node pools cannot queue callers; none otherwise).

    Raises:
        CachingTypeError: A client of the wrong kind, or a prefix that is not a str.
        CachingConfigurationError: A client that decodes responses, an empty prefix or a bad bound.
    """

    def __init__(
        self, client: RedisClient, *, prefix: str = "cache:", max_concurrency: int | None = None
    ) -> None:
        super().__init__(client, prefix=prefix)
        self._client = client  # read on every call: an attribute, not the `client` property
        self._cluster = isinstance(client, RedisCluster)
        if max_concurrency is None:
            max_concurrency = _CLUSTER_CONCURRENCY if self._cluster else None
        else:
            check_positive_int("max_concurrency", max_concurrency)
        self._gate = None if max_concurrency is None else Gate(max_concurrency)
        self._cluster_ready = not self._cluster
        self._cluster_lock = asyncio.Lock()
        self._unlock_script = client.register_script(_UNLOCK)
        # The GET of every read: lean through the pool where the client allows it (see `LeanGet`).
        lean = LeanGet.for_client(client)
        self._get: Callable[[str], Awaitable[Any]] = client.get if lean is None else lean.get

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "cache:",
        socket_timeout: float = 1.0,
        max_connections: int = 50,
        pool_timeout: float = 5.0,
        cluster: bool = False,
    ) -> Self:
        """Make a storage with its own client for ``url`` (``redis://``, ``rediss://``, ``unix://``).

        The client connects on first use and is closed by `aclose`. ``socket_timeout`` bounds how
        long a call can hang on a server that stopped answering. At most ``max_connections`` calls
        are in flight; beyond that, callers queue (a connection waits up to ``pool_timeout``
        seconds) instead of failing, so a burst of thousands of concurrent calls is served, not
        dropped.

        Raises:
            CachingConfigurationError: A bad URL (never quoted) or option.
            CachingTypeError: An argument of the wrong type.
        """
        return cls._from_url(
            url,
            lambda client: cls(client, prefix=prefix, max_concurrency=max_connections),
            socket_timeout=socket_timeout,
            max_connections=max_connections,
            pool_timeout=pool_timeout,
            cluster=cluster,
        )

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _tag_key(self, tag: str) -> str:
        return f"{self.prefix}{_INTERNAL}tag:{tag}"

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}{_INTERNAL}lock:{key}"

    async def _run[R](self, call: Callable[[], Awaitable[R]]) -> R:
        try:
            if self._gate is None:
                return await call()
            async with self._gate:
                if not self._cluster_ready:
                    await self._initialize_cluster()
                return await call()
        except Exception as exc:  # noqa: BLE001 - mapped (or raised as it is) by _raise
            self._raise(exc)

    def _raise(self, exc: Exception) -> NoReturn:
        """Raise what a call that failed with ``exc`` means: an outage, another Redis type, or ``exc``."""
        with self._unavailable():
            if isinstance(exc, ResponseError) and str(exc).startswith("WRONGTYPE"):
                # Something other than a cache entry lives under our prefix: not ours to read.
                raise CacheSerializationError(
                    "redis", "loads", "a key of another Redis type is stored under the prefix"
                ) from exc
            raise exc

    async def _initialize_cluster(self) -> None:
        # A fresh cluster client that receives many first commands at once can race while it
        # discovers the nodes; discover them once, up front.
        async with self._cluster_lock:
            if not self._cluster_ready:
                await self._client.initialize()
                self._cluster_ready = True

    async def ping(self) -> bool:
        """Return whether Redis answers (never raises)."""
        try:
            return bool(await self._client.ping())
        except self._outages():
            return False

    # --- the storage ----------------------------------------------------------------------------

    async def read(self, key: str) -> Entry[bytes] | None:
        """Return the entry under ``key``, or ``None``.

        Raises:
            CachingUnavailableError: Redis cannot be reached or answers with an error.
            CacheSerializationError: The key holds something that is not an entry.
        """
        name = self._prefix + check_storage_key(key)
        gate = self._gate
        if gate is None or (self._cluster_ready and gate.try_enter()):
            # The hot path of every hit: `_run` without its closure and its coroutine.
            try:
                raw = await self._get(name)
            except Exception as exc:  # noqa: BLE001 - mapped (or raised as it is) by _raise
                self._raise(exc)
            finally:
                if gate is not None:
                    gate.leave()
        else:
            raw = await self._run(lambda: self._get(name))
        return None if raw is None else unpack(raw if isinstance(raw, bytes) else raw.encode())

    async def read_many(self, keys: Sequence[str]) -> list[Entry[bytes] | None]:
        """Return the entries under ``keys``, in order, with one ``MGET`` (per slot on a cluster)."""
        names = [self._key(key) for key in check_storage_keys(keys)]
        if not names:
            return []
        if self._cluster:
            raws = await self._run(lambda: self._client.mget_nonatomic(names))  # type: ignore[union-attr]
        else:
            raws = await self._run(lambda: self._client.mget(names))
        return [_readable(raw, name) for raw, name in zip(raws, names, strict=True)]

    async def write(self, items: Sequence[StoredItem[bytes]], tags: Sequence[str] = ()) -> None:
        """Store the items (and their tags) in one round trip: a ``SET``, or a pipeline.

        Raises:
            CachingConfigurationError: An item's value is not bytes.
        """
        checked = check_stored_items(items)
        labels = check_tag_list(tags)
        data = [(self._key(key), _packed(entry), _ms(keep_for)) for key, entry, keep_for in checked]
        if not data:
            return
        if len(data) == 1 and not labels:
            name, payload, px = data[0]
            await self._run(lambda: self._client.set(name, payload, px=px))
            return
        longest: float | None = 0.0
        for _, _, keep_for in checked:
            longest = None if longest is None or keep_for is None else max(longest, keep_for)

        async def run() -> None:
            pipe = self._client.pipeline(transaction=False)
            for name, payload, px in data:
                pipe.set(name, payload, px=px)
            for tag in labels:
                tag_key = self._tag_key(tag)
                pipe.sadd(tag_key, *(name for name, _, _ in data))
                if longest is None:
                    pipe.persist(tag_key)
                else:
                    # A tag set outlives its longest-lived member: add a TTL if none, extend if shorter.
                    pipe.pexpire(tag_key, _ms(longest) or 1, nx=True)
                    pipe.pexpire(tag_key, _ms(longest) or 1, gt=True)
            await pipe.execute()

        await self._run(run)

    async def remove(self, key: str) -> bool:
        """Remove ``key`` (``UNLINK``); return whether it held an entry."""
        name = self._key(check_storage_key(key))
        return bool(await self._run(lambda: self._client.unlink(name)))

    async def remove_tags(self, tags: Sequence[str]) -> list[str]:
        """Remove every key written with any of ``tags``; return the keys (unprefixed) that held an entry."""
        labels = check_tag_list(tags)

        async def run() -> list[str]:
            removed: list[str] = []
            for tag in labels:
                tag_key = self._tag_key(tag)
                names = list(await self._client.smembers(tag_key))
                for start in range(0, len(names), _SCAN_BATCH):
                    batch = names[start : start + _SCAN_BATCH]
                    for name, gone in zip(batch, await self._unlink_each(batch), strict=True):
                        text = name.decode() if isinstance(name, bytes) else name
                        if gone and text.startswith(self.prefix):
                            removed.append(text[len(self.prefix) :])
                await self._client.unlink(tag_key)
            return removed

        return await self._run(run)

    async def _unlink_each(self, names: Sequence[bytes | str]) -> list[int]:
        """``UNLINK`` each name, telling which existed (a cluster's pipeline may merge the calls)."""
        if self._cluster:
            return list(await asyncio.gather(*(self._client.unlink(name) for name in names)))
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.unlink(name)
        return list(await pipe.execute())

    async def remove_pattern(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern`` under the prefix (``SCAN``, never ``KEYS``)."""
        match = _glob_escape(self.prefix) + check_text("pattern", pattern)
        return await self._scan_delete(match, include_internal=False)

    async def clear(self) -> None:
        """Remove every key under the prefix, tags and locks included."""
        await self._scan_delete(_glob_escape(self.prefix) + "*", include_internal=True)

    async def _scan_delete(self, match: str, *, include_internal: bool) -> int:
        internal = (self.prefix + _INTERNAL).encode()

        async def run() -> int:
            removed = 0
            batch: list[bytes] = []
            async for name in self._client.scan_iter(match=match, count=_SCAN_BATCH):
                if not include_internal and name.startswith(internal):
                    continue
                batch.append(name)
                if len(batch) >= _SCAN_BATCH:
                    removed += await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self._client.unlink(*batch)
            return removed

        return await self._run(run)

    async def lock(self, key: str, token: str, ttl: float) -> bool | None:
        """Take the lock on ``key`` for ``token`` (``SET NX PX``); return whether it was taken."""
        name = self._lock_key(check_storage_key(key))
        value = check_text("token", token)
        px = _ms(check_positive("ttl", ttl))
        return bool(await self._run(lambda: self._client.set(name, value, nx=True, px=px)))

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock on ``key`` if ``token`` holds it (compare-and-delete in Lua)."""
        name = self._lock_key(check_storage_key(key))
        value = check_text("token", token)
        await self._run(lambda: self._unlock_script(keys=[name], args=[value]))

    def __repr__(self) -> str:
        return f"RedisStorage(prefix={self.prefix!r}, address={self._address!r})"


class RedisCache[T](Cache[T]):
    """A `Cache` over a `RedisStorage`: values shared by every process, stampedes stopped across them.

    Values go through a `buttress.core.Serializer` (JSON by default; `MsgpackSerializer`, or
    `PickleSerializer` for Python objects, which signs its payloads). Misses computed with
    `get_or_compute` take the storage's lock, so one process computes while the others wait for
    its value. When Redis cannot be reached, the cache degrades (see `Cache`); with
    ``strict=True`` it raises `CachingUnavailableError`.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` (never closed by the cache; `from_url`
            makes one it owns), or a `RedisStorage` (closed by the cache; its own prefix applies).
        prefix: Prepended to every key; `clear` removes exactly the keys under it. Must not be empty.
        policy: TTLs, jitter, early refresh, locking and failure handling (default: `CachePolicy()`).
        serializer: How values become bytes; default `JsonSerializer`.
        name: Name for logs and metrics.
        clock: Time source: ``now()`` timestamps entries (shared by all processes), ``monotonic()``
            paces the breaker and warnings.
        rng: Source of floats in [0, 1) for jitter and XFetch.
        **options: Settings of `CachePolicy` given one by one (``ttl=60``); they override ``policy``.
    """

    def __init__(
        self,
        client: RedisClient | RedisStorage,
        *,
        prefix: str = "cache:",
        policy: CachePolicy | None = None,
        serializer: Serializer[T] | None = None,
        name: str = "redis",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **options: Unpack[CachePolicyOptions],
    ) -> None:
        storage = client if isinstance(client, RedisStorage) else RedisStorage(client, prefix=prefix)
        super().__init__(
            storage,
            policy=policy,
            serializer=serializer if serializer is not None else JsonSerializer[T](),
            name=name,
            clock=clock,
            rng=rng,
            **options,
        )
        self._redis = storage

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "cache:",
        socket_timeout: float = 1.0,
        max_connections: int = 50,
        pool_timeout: float = 5.0,
        cluster: bool = False,
        policy: CachePolicy | None = None,
        serializer: Serializer[T] | None = None,
        name: str = "redis",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **options: Unpack[CachePolicyOptions],
    ) -> Self:
        """Make a cache with its own client for ``url`` (``redis://``, ``rediss://``, ``unix://``).

        The client is closed by `aclose`; see `RedisStorage.from_url` for the connection options.
        The other arguments are `RedisCache`'s; the policy's ``max_concurrency`` defaults to
        ``max_connections``.

        Raises:
            CachingConfigurationError: A bad URL (never quoted), option or setting.
        """
        settings = with_concurrency(resolve_policy(policy, options), max_connections)
        storage = RedisStorage.from_url(
            url,
            prefix=prefix,
            socket_timeout=socket_timeout,
            max_connections=max_connections,
            pool_timeout=pool_timeout,
            cluster=cluster,
        )
        return cls(storage, policy=settings, serializer=serializer, name=name, clock=clock, rng=rng)

    async def aclose(self) -> None:
        """Cancel background refreshes and close the storage, with the client `from_url` made.

        A client given to the constructor stays open. Calling it again does nothing.
        """
        await super().aclose()

    @property
    def prefix(self) -> str:
        """The prefix of every key this cache writes."""
        return self._redis.prefix

    async def ping(self) -> bool:
        """Return whether Redis answers (never raises, whatever ``strict`` says)."""
        return await self._redis.ping()

    def __repr__(self) -> str:
        return f"RedisCache(name={self.name!r}, prefix={self.prefix!r}, address={self._redis._address!r})"


def _packed(entry: Entry[Any]) -> bytes:
    if not isinstance(entry.value, bytes):
        raise CachingConfigurationError(
            "entry", type(entry.value).__name__, "must hold bytes: give the cache a serializer"
        )
    return pack(entry)


def _readable(raw: bytes | None, name: str) -> Entry[bytes] | None:
    if raw is None:
        return None
    try:
        return unpack(raw)
    except CacheSerializationError:
        logger.warning("unreadable entry under %r read as a miss", name[:60])
        return None


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(math.ceil(seconds * 1000), 1)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
