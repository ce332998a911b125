"""`RedisCache`: a cache on Redis or Redis Cluster (extra ``redis``)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self

from buttress.core import Clock, JsonSerializer, SerializationError, Serializer, SystemClock, redact_url

from ._base import BaseCache
from ._breaker import CircuitBreaker
from ._entry import Entry, pack, unpack
from ._validation import (
    DEFAULT_MAX_KEY_BYTES,
    MAX_SECONDS,
    TTL,
    check_bool,
    check_key,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_text,
)
from .exceptions import (
    CacheBackendUnavailableError,
    CacheConfigurationError,
    CacheSerializationError,
    MissingExtraError,
)

try:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import MaxConnectionsError, RedisClusterException, RedisError, ResponseError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisCache", "redis") from exc

logger = logging.getLogger("buttress.caching")

# Failures of the server rather than of our input (which is checked before any call): it cannot be
# reached, or answers with an error (CLUSTERDOWN, LOADING, READONLY, OOM, a node that is no cluster).
# Each one degrades the call (strict mode raises) and counts toward the circuit breaker.
_UNAVAILABLE = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)

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

type RedisClient = Redis | RedisCluster


class RedisCache[T](BaseCache[T]):
    """A cache on Redis (single node or `redis.asyncio.RedisCluster`), shared by every process.

    Values go through a `buttress.core.Serializer` (JSON by default; `MsgpackSerializer`, or
    `PickleSerializer` for Python objects, which signs its payloads). Each key is stored under
    ``prefix`` with a server-side TTL. Misses computed with `get_or_compute` take a distributed lock
    (``SET NX PX`` with an owner token, released by compare-and-delete in Lua), so one process computes
    while the others wait for its value; a holder that dies stops blocking them after ``lock_ttl``.

    On a cluster, bulk reads use ``MGET`` per slot, deletes are split per slot, and at most 50
    calls (``max_connections`` with `from_url`) are in flight at once, since a cluster client's
    per-node pools cannot make callers queue.

    When Redis cannot be reached, reads are misses, writes are dropped, loaders still run, an error is
    counted and a warning logged at most once per ``warn_interval``; after ``breaker_threshold``
    consecutive failures a circuit breaker stops calling Redis for ``breaker_recovery`` seconds, then
    probes it. With ``strict=True`` those failures raise `CacheBackendUnavailableError` instead.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster``. The cache does not close a client it
            was given; `from_url` makes one it owns.
        prefix: Prepended to every key; `clear` removes exactly the keys under it. Must not be empty.
        serializer: How values become bytes; default `JsonSerializer`.
        default_ttl: TTL for writes that give none; ``None`` keeps values until deleted.
        jitter: Band by which each TTL is shortened at random; default 5-15 %.
        xfetch_beta: Eagerness of probabilistic early refresh (0 disables).
        stale_ttl: Serve values this long past expiry from `get_or_compute` while refreshing.
        locking: Whether `get_or_compute` takes the distributed lock on a miss.
        lock_ttl: Seconds after which a lock whose holder vanished frees itself.
        lock_wait: Seconds a caller waits for the lock holder's value before computing itself
            (default: ``lock_ttl``).
        strict: Raise `CacheBackendUnavailableError` instead of degrading.
        breaker_threshold: Consecutive failures that open the circuit breaker.
        breaker_recovery: Seconds the breaker stays open before it lets one probe through.
        warn_interval: The least time between two warnings about the server being unreachable.
        name: Name for logs and metrics.
        max_key_bytes: The longest key accepted.
        clock: Time source: ``now()`` timestamps entries (shared by all processes), ``monotonic()``
            paces the breaker and warnings.
        rng: Source of floats in [0, 1) for jitter and XFetch.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "cache:",
        serializer: Serializer[T] | None = None,
        default_ttl: TTL | None = None,
        jitter: tuple[float, float] | float | None = (0.05, 0.15),
        xfetch_beta: float = 1.0,
        stale_ttl: TTL | None = None,
        locking: bool = True,
        lock_ttl: float = 10.0,
        lock_wait: float | None = None,
        strict: bool = False,
        breaker_threshold: int = 3,
        breaker_recovery: float = 5.0,
        warn_interval: float = 30.0,
        name: str = "redis",
        max_key_bytes: int = DEFAULT_MAX_KEY_BYTES,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            name=name,
            default_ttl=default_ttl,
            jitter=jitter,
            xfetch_beta=xfetch_beta,
            stale_ttl=stale_ttl,
            max_key_bytes=max_key_bytes,
            clock=clock,
            rng=rng,
        )
        if not isinstance(client, Redis | RedisCluster):
            raise CacheConfigurationError(
                "client", client, "must be a redis.asyncio.Redis or RedisCluster (see RedisCache.from_url)"
            )
        if client.get_encoder().decode_responses:
            raise CacheConfigurationError(
                "client", client, "must be made with decode_responses=False: entries are binary"
            )
        check_text("prefix", prefix)
        if serializer is not None and (
            isinstance(serializer, type) or not isinstance(serializer, Serializer)
        ):
            raise CacheConfigurationError("serializer", serializer, "must have dumps(value) and loads(bytes)")
        self._client = client
        self._cluster = isinstance(client, RedisCluster)
        self.prefix = prefix
        self._serializer: Serializer[T] = serializer if serializer is not None else JsonSerializer[T]()
        self._locking = check_bool("locking", locking)
        self._lock_ttl_ms = math.ceil(check_positive("lock_ttl", lock_ttl) * 1000)
        self._lock_wait_s = check_non_negative("lock_wait", lock_ttl if lock_wait is None else lock_wait)
        self._strict = check_bool("strict", strict)
        self._warn_interval = check_non_negative("warn_interval", warn_interval)
        self._last_warning = -math.inf
        self._breaker = CircuitBreaker(
            threshold=check_positive_int("breaker_threshold", breaker_threshold),
            recovery=check_non_negative("breaker_recovery", breaker_recovery),
            clock=self._clock,
            logger=logger,
            name=name,
        )
        self._owns_client = False
        self._address = "redis"
        self._wall: Callable[[], float] = (
            time.time if isinstance(self._clock, SystemClock) else lambda: self._clock.now().timestamp()
        )
        # Bounds concurrent calls on a cluster client, whose per-node pools cannot queue callers.
        self._gate: asyncio.Semaphore | None = asyncio.Semaphore(50) if self._cluster else None
        self._cluster_ready = not self._cluster
        self._cluster_lock = asyncio.Lock()
        self._unlock_script = client.register_script(_UNLOCK)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout: float = 1.0,
        max_connections: int = 50,
        pool_timeout: float = 5.0,
        cluster: bool = False,
        **options: Any,  # noqa: ANN401 - RedisCache's keyword arguments, passed through
    ) -> Self:
        """Make a cache with its own client for ``url`` (``redis://``, ``rediss://``, ``unix://``).

        The client is closed by `aclose`. ``socket_timeout`` bounds how long a call can hang on a
        server that stopped answering. At most ``max_connections`` are opened; beyond that, callers
        queue for a free connection (up to ``pool_timeout`` seconds) instead of failing, so a burst of
        thousands of concurrent calls is served, not dropped. ``options`` are `RedisCache`'s arguments.
        """
        if not isinstance(url, str) or "://" not in url:
            raise CacheConfigurationError(
                "url", url, "must be a redis://, rediss:// or unix:// URL", show_value=False
            )
        timeout = check_positive("socket_timeout", socket_timeout)
        check_positive_int("max_connections", max_connections)
        waiting = check_positive("pool_timeout", pool_timeout)
        check_bool("cluster", cluster)
        unknown = sorted(set(options) - _CACHE_OPTIONS)
        if unknown:
            raise CacheConfigurationError(
                "options", unknown[0][:80], "is not an argument of RedisCache (see its signature)"
            )
        client: RedisClient
        timeouts = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        try:
            if cluster:
                client = RedisCluster.from_url(url, max_connections=max_connections, **timeouts)
            else:
                # One immediate retry on a connection error: a pooled connection the server closed (a
                # restart, a failover, an idle timeout) reconnects instead of failing the call.
                pool = BlockingConnectionPool.from_url(
                    url,
                    max_connections=max_connections,
                    timeout=waiting,
                    retry=Retry(NoBackoff(), 1),
                    retry_on_error=[RedisConnectionError],
                    **timeouts,
                )
                client = Redis.from_pool(pool)
        except (ValueError, TypeError, UnicodeError, RedisError, RedisClusterException) as exc:
            # The driver's message may quote the URL and its password: say what is wrong, not what was given.
            raise CacheConfigurationError(
                "url",
                url,
                f"is not a usable Redis URL ({type(exc).__name__}); check its scheme, port and query options",
                show_value=False,
            ) from None
        cache = cls(client, **options)
        # At most max_connections calls in flight, the rest queue first come, first served: a burst of
        # thousands of callers is served in order instead of timing out in the connection pool.
        cache._gate = asyncio.Semaphore(max_connections)
        cache._owns_client = True
        cache._address = redact_url(url)
        return cache

    @property
    def client(self) -> RedisClient:
        """The Redis client underneath."""
        return self._client

    @property
    def _lock_wait(self) -> float:
        return self._lock_wait_s

    def _now(self) -> float:
        return self._wall()

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _tag_key(self, tag: str) -> str:
        return f"{self.prefix}{_INTERNAL}tag:{tag}"

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}{_INTERNAL}lock:{key}"

    # --- guarding every call ---------------------------------------------------------------------

    async def _guard[R](self, operation: str, call: Callable[[], Awaitable[R]], fallback: R) -> R:
        if not self._breaker.allow():
            return self._skip(operation, fallback)
        try:
            if self._gate is None:
                result = await call()
            else:
                async with self._gate:
                    if self._breaker.is_open:
                        # The breaker opened while this call queued: don't queue callers behind a dead server.
                        return self._skip(operation, fallback)
                    if not self._cluster_ready:
                        await self._initialize_cluster()
                    result = await call()
        except _UNAVAILABLE as exc:
            if isinstance(exc, ResponseError) and str(exc).startswith("WRONGTYPE"):
                # Something other than a cache entry lives under our prefix: not ours to read, so a miss.
                self._breaker.success()
                self._counters.errors += 1
                logger.warning(
                    "%s: %s found a key of another Redis type; treated as a miss", self.name, operation
                )
                return fallback
            if not isinstance(exc, MaxConnectionsError):
                # An exhausted pool is our congestion, not the server's absence: don't open the breaker.
                self._breaker.failure()
            self._counters.errors += 1
            if self._strict:
                detail = _describe(exc) if isinstance(exc, ResponseError) else str(exc)
                raise CacheBackendUnavailableError("redis", self._address, f"{operation}: {detail}") from exc
            self._warn(operation, exc)
            return fallback
        self._breaker.success()
        return result

    def _skip[R](self, operation: str, fallback: R) -> R:
        self._counters.errors += 1
        if self._strict:
            raise CacheBackendUnavailableError(
                "redis", self._address, f"{operation}: circuit breaker is open"
            )
        return fallback

    async def _initialize_cluster(self) -> None:
        # A fresh cluster client that receives many first commands at once can race while it
        # discovers the nodes; discover them once, up front.
        async with self._cluster_lock:
            if not self._cluster_ready:
                await self._client.initialize()
                self._cluster_ready = True

    def _warn(self, operation: str, exc: BaseException) -> None:
        now = self._clock.monotonic()
        if now - self._last_warning >= self._warn_interval:
            self._last_warning = now
            logger.warning(
                "%s: Redis at %s is unavailable (%s: %s); serving misses and dropping writes",
                self.name,
                self._address,
                operation,
                _describe(exc),
            )

    # --- encoding ----------------------------------------------------------------------------------

    def _encode(self, entry: Entry[T]) -> bytes:
        try:
            payload = self._serializer.dumps(entry.value)
        except CacheSerializationError:
            raise
        except SerializationError as exc:
            raise CacheSerializationError(
                exc.format_name, "dumps", f"value: {exc.reason}", type_name=exc.type_name
            ) from exc
        except (ValueError, TypeError, ArithmeticError, RecursionError, AttributeError) as exc:
            # A serializer that lets its library's error through (json's "Exceeds the limit for integer
            # string conversion", a custom serializer's TypeError): still the value's fault, still typed.
            raise CacheSerializationError(
                _format_name(self._serializer),
                "dumps",
                f"value: {type(exc).__name__}: {exc}"[:300],
                type_name=type(entry.value).__name__,
            ) from exc
        if not isinstance(payload, bytes):
            raise CacheSerializationError(
                _format_name(self._serializer), "dumps", f"returned {type(payload).__name__}, not bytes"
            )
        return pack(Entry(payload, entry.expires_at, entry.stale_until, entry.delta))

    def _decode(self, key: str, raw: bytes | str) -> Entry[T] | None:
        try:
            stored = unpack(raw if isinstance(raw, bytes) else raw.encode())
            return Entry(
                self._serializer.loads(stored.value), stored.expires_at, stored.stale_until, stored.delta
            )
        except (
            SerializationError,
            ValueError,
            TypeError,
            ArithmeticError,
            RecursionError,
            AttributeError,
        ) as exc:
            # Foreign, corrupt or forged data is never returned; it reads as a miss and is counted.
            self._counters.errors += 1
            logger.warning(
                "%s: unreadable value under %r treated as a miss: %s", self.name, key[:60], type(exc).__name__
            )
            return None

    # --- primitives --------------------------------------------------------------------------------

    async def _read(self, key: str) -> Entry[T] | None:
        raw = await self._guard("get", lambda: self._client.get(self._key(key)), None)
        return None if raw is None else self._decode(key, raw)

    async def _read_many(self, keys: list[str]) -> list[Entry[T] | None]:
        names = [self._key(k) for k in keys]
        if self._cluster:
            call: Callable[[], Awaitable[list[Any]]] = lambda: self._client.mget_nonatomic(names)  # type: ignore[union-attr]  # noqa: E731
        else:
            call = lambda: self._client.mget(names)  # noqa: E731
        raws = await self._guard("mget", call, [None] * len(keys))
        return [None if raw is None else self._decode(key, raw) for key, raw in zip(keys, raws, strict=True)]

    async def _write(self, key: str, entry: Entry[T], keep_for: float | None, tags: tuple[str, ...]) -> None:
        await self.store(key, entry, keep_for, tags)

    async def _write_many(
        self, items: list[tuple[str, Entry[T], float | None]], tags: tuple[str, ...]
    ) -> None:
        await self.store_many(items, tags)

    async def store(self, key: str, entry: Entry[T], keep_for: float | None, tags: tuple[str, ...]) -> bool:
        """Write one entry; return whether it reached Redis (false: dropped because Redis is unreachable).

        A storage hook for caches layered on this one, such as `TieredCache`. ``keep_for`` is how
        long Redis keeps the entry (``None``: until deleted).

        Raises:
            InvalidKeyError, CacheConfigurationError: A bad key, entry, ``keep_for`` or tag.
            CacheSerializationError: The value cannot be serialized.
        """
        _check_item(key, entry, keep_for, self._max_key_bytes)
        tags = self._tags(tags)
        data = self._encode(entry)
        if tags:
            return await self._store_many([(key, keep_for)], {key: data}, tags)

        async def run() -> bool:
            await self._client.set(self._key(key), data, px=_ms(keep_for))
            return True

        return await self._guard("set", run, False)

    async def store_many(
        self, items: list[tuple[str, Entry[T], float | None]], tags: tuple[str, ...]
    ) -> bool:
        """Write entries (and their tags) in one pipeline; return whether they reached Redis.

        ``items`` are ``(key, entry, keep_for)`` triples, as `store` takes them.

        Raises:
            InvalidKeyError, CacheConfigurationError: A bad item or tag.
            CacheSerializationError: A value cannot be serialized.
        """
        if not isinstance(items, list | tuple):
            raise CacheConfigurationError("items", items, "must be a list of (key, entry, keep_for) triples")
        for item in items:
            if not isinstance(item, tuple) or len(item) != 3:
                raise CacheConfigurationError(
                    "items", item, "each item must be a (key, entry, keep_for) triple"
                )
            _check_item(*item, self._max_key_bytes)
        tags = self._tags(tags)
        data = {key: self._encode(entry) for key, entry, _ in items}
        return await self._store_many([(key, keep_for) for key, _, keep_for in items], data, tags)

    async def _store_many(
        self, items: list[tuple[str, float | None]], data: dict[str, bytes], tags: tuple[str, ...]
    ) -> bool:
        if not items:
            return True  # nothing to write (and SADD with no member is an error)

        async def run() -> bool:
            pipe = self._client.pipeline(transaction=False)
            longest: float | None = 0.0
            for key, keep_for in items:
                pipe.set(self._key(key), data[key], px=_ms(keep_for))
                longest = None if longest is None or keep_for is None else max(longest, keep_for)
            for tag in tags:
                tag_key = self._tag_key(tag)
                pipe.sadd(tag_key, *(self._key(key) for key, _ in items))
                if longest is None:
                    pipe.persist(tag_key)
                else:
                    # A tag set outlives its longest-lived member: add a TTL if none, extend if shorter.
                    pipe.pexpire(tag_key, _ms(longest) or 1, nx=True)
                    pipe.pexpire(tag_key, _ms(longest) or 1, gt=True)
            await pipe.execute()
            return True

        return await self._guard("set_many", run, False)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it held a value (one round trip)."""
        if self._stale_ttl is not None:
            return await super().delete(key)
        name = self._key(check_key(key, self._max_key_bytes))
        return bool(await self._guard("delete", lambda: self._client.unlink(name), 0))

    async def _remove(self, key: str) -> None:
        await self._guard("delete", lambda: self._client.unlink(self._key(key)), 0)

    async def _remove_all(self) -> None:
        await self._scan_delete(_glob_escape(self.prefix) + "*", include_internal=True, operation="clear")

    async def _remove_pattern(self, pattern: str) -> int:
        return await self._scan_delete(
            _glob_escape(self.prefix) + pattern, include_internal=False, operation="delete_pattern"
        )

    async def _remove_tags(self, tags: tuple[str, ...]) -> int:
        removed, _ = await self.remove_tagged(tags)
        return removed

    async def remove_tagged(self, tags: tuple[str, ...]) -> tuple[int, list[str]]:
        """Remove every key written with any of ``tags``; return how many went and which keys (unprefixed).

        A storage hook for caches layered on this one, such as `TieredCache`.

        Raises:
            CacheConfigurationError: ``tags`` is not an iterable of non-empty strings.
        """
        tags = self._tags(tags)

        async def run() -> tuple[int, list[str]]:
            removed, keys = 0, []
            for tag in tags:
                tag_key = self._tag_key(tag)
                names = list(await self._client.smembers(tag_key))
                for start in range(0, len(names), _SCAN_BATCH):
                    removed += await self._client.unlink(*names[start : start + _SCAN_BATCH])
                await self._client.unlink(tag_key)
                for name in names:
                    text = name.decode() if isinstance(name, bytes) else name
                    if text.startswith(self.prefix):
                        keys.append(text[len(self.prefix) :])
            return removed, keys

        return await self._guard("invalidate_tags", run, (0, []))

    async def _scan_delete(self, match: str, *, include_internal: bool, operation: str) -> int:
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

        return await self._guard(operation, run, 0)

    async def _lock(self, key: str, token: str) -> bool | None:
        if not self._locking:
            return None

        async def acquire() -> bool:
            return bool(await self._client.set(self._lock_key(key), token, nx=True, px=self._lock_ttl_ms))

        # Unreachable Redis (None) means no lock to wait for: the caller computes locally.
        return await self._guard("lock", acquire, None)

    async def _unlock(self, key: str, token: str) -> None:
        await self._guard(
            "unlock", lambda: self._unlock_script(keys=[self._lock_key(key)], args=[token]), None
        )

    async def _close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def ping(self) -> bool:
        """Return whether Redis answers (never raises, whatever ``strict`` says)."""
        try:
            return bool(await self._client.ping())
        except _UNAVAILABLE:
            return False

    def __repr__(self) -> str:
        return f"RedisCache(name={self.name!r}, prefix={self.prefix!r}, address={self._address!r})"


def _check_item(key: object, entry: object, keep_for: object, max_key_bytes: int) -> None:
    check_key(key, max_key_bytes)
    if not isinstance(entry, Entry):
        raise CacheConfigurationError("entry", entry, "must be an Entry")
    if keep_for is not None:
        check_positive("keep_for", keep_for, maximum=2 * MAX_SECONDS)


def _format_name(serializer: object) -> str:
    name = getattr(serializer, "format_name", None)
    return name if isinstance(name, str) else type(serializer).__name__


def _cache_options() -> frozenset[str]:
    parameters = inspect.signature(RedisCache.__init__).parameters
    return frozenset(name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY)


_CACHE_OPTIONS = _cache_options()


def _describe(exc: BaseException) -> str:
    """The exception's type, and for an error reply its code (``OOM``, ``CLUSTERDOWN``), never more.

    Messages may quote keys, so only the code of a server's error reply reaches logs and errors.
    """
    if isinstance(exc, ResponseError):
        code = str(exc).split(" ", 1)[0]
        if code.isupper() and code.isalpha():
            return f"{type(exc).__name__} {code}"
    return type(exc).__name__


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(math.ceil(seconds * 1000), 1)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
