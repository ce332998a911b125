"""`Cache`: the policy every buttress cache applies, whatever storage keeps its entries.

TTLs with jitter, single-flight, the distributed lock, XFetch early refresh, stale-while-revalidate,
tags, the serializer, the circuit breaker and statistics live here, once. Entries are kept by a
`CacheStorage` (memory, Redis, tiered, or one of yours), which knows nothing of any of them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Unpack, cast

from buttress.core import MISSING, AsyncResource, Clock, Missing, SerializationError, Serializer, SystemClock

from ._breaker import BreakerState, CircuitBreaker
from ._entry import Entry
from ._gate import Gate
from ._metrics import LOAD_DURATION, track
from ._policy import CachePolicy, CachePolicyOptions, resolve_policy
from ._stats import CacheStats, Counters
from ._storage import CacheStorage, StoredItem
from ._validation import TTL, check_bool, check_callable, check_jitter, check_key, check_text, ttl_seconds
from .exceptions import (
    CacheSerializationError,
    CachingBusyError,
    CachingConfigurationError,
    CachingUnavailableError,
)

logger = logging.getLogger(__name__)

type Loader[T] = Callable[[], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class _Job[T]:
    """One computation: the loader and how to store its result."""

    loader: Loader[T]
    ttl: float | None
    tags: tuple[str, ...]
    cache_none: bool


# Above -ln(1 - u) for every float u in [0, 1): XFetch draws only within this many delta*beta of expiry.
_NO_DRAW_BEYOND = 37.0

# Waiting for another process's computation polls at growing intervals up to this many seconds.
_MAX_POLL = 0.05
_FIRST_POLL = 0.002


def xfetch_should_refresh(*, now: float, expires_at: float, delta: float, beta: float, u: float) -> bool:
    """XFetch's test (Vattani et al., VLDB 2015): refresh when ``now - Δ·β·ln(u) >= expiry``.

    ``u`` is uniform in (0, 1], so ``-ln(u)`` is an exponential draw: the closer to expiry and the
    slower the computation (Δ), the likelier an early refresh. At or after expiry it is always true.

    Raises:
        CachingConfigurationError: An argument is not a finite number, ``delta`` or ``beta`` is
            negative, or ``u`` is outside (0, 1].
    """
    values = {"now": now, "expires_at": expires_at, "delta": delta, "beta": beta, "u": u}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CachingConfigurationError(name, value, "must be a finite number")
    now, expires_at, delta, beta, u = (_as_float(name, value) for name, value in values.items())
    if delta < 0 or beta < 0:
        raise CachingConfigurationError("delta" if delta < 0 else "beta", min(delta, beta), "must be >= 0")
    if not 0.0 < u <= 1.0:
        raise CachingConfigurationError("u", u, "must be in (0, 1]")
    return _should_refresh(now, expires_at, delta, beta, u)


def _as_float(name: str, value: float) -> float:
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise CachingConfigurationError(name, value, "must be a finite number")
    return number


def _should_refresh(now: float, expires_at: float, delta: float, beta: float, u: float) -> bool:
    return now - delta * beta * math.log(u) >= expires_at


class Cache[T](AsyncResource):
    """A cache: the policy (TTLs, jitter, early refresh, stampede protection, failures) over a storage.

    It implements `buttress.core.CacheProvider`, plus bulk operations, tags, patterns and
    `get_or_compute`, the call that does the real work: it returns the cached value or computes it
    once, however many callers ask at the same moment. `MemoryCache`, `RedisCache` and `TieredCache`
    are this class over the matching storage; build one over your own `CacheStorage` directly::

        cache = Cache[dict[str, str]](MyStorage(), serializer=JsonSerializer(), ttl=300)

    Every setting of its `CachePolicy` applies whatever the storage. When the storage raises
    `CachingUnavailableError`, reads become misses and writes are dropped (loaders still run), an
    error is counted and a warning logged at most once per ``warn_interval``; after
    ``breaker_threshold`` consecutive failures a circuit breaker stops calling the storage for
    ``breaker_recovery`` seconds, then lets one probe through. With ``strict=True`` those failures
    raise `CachingUnavailableError` instead.

    Args:
        storage: Where entries are kept. The cache closes it in `aclose`.
        policy: TTLs, jitter, early refresh, locking and failure handling (default: `CachePolicy()`).
        serializer: How values become bytes for a storage that keeps bytes (Redis); ``None`` keeps
            the values themselves (a memory storage).
        name: A name for logs and metrics (``cache.name``).
        clock: Where time comes from: ``now()`` timestamps entries (an axis every process shares),
            ``monotonic()`` times loaders, the breaker and warnings; tests pass a
            `buttress.testing.FakeClock`.
        rng: A source of floats in [0, 1) for jitter and XFetch; tests pass a seeded one.
        **options: Settings of `CachePolicy` given one by one (``ttl=60``); they override ``policy``.

    Raises:
        CachingConfigurationError: A setting is out of range or of the wrong kind.
    """

    #: Whether this class's `get_or_compute` is `Cache`'s own. `@cached` takes its inner steps (an
    #: await-free hit, then `_lookup`) only then: a subclass that overrides `get_or_compute` has every
    #: decorated call go through its override.
    _own_compute: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401 - passed on as given
        super().__init_subclass__(**kwargs)
        cls._own_compute = cls.get_or_compute is Cache.get_or_compute

    def __init__(
        self,
        storage: CacheStorage[Any],
        *,
        policy: CachePolicy | None = None,
        serializer: Serializer[T] | None = None,
        name: str = "cache",
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        **options: Unpack[CachePolicyOptions],
    ) -> None:
        super().__init__()
        if isinstance(storage, type) or not isinstance(storage, CacheStorage):
            raise CachingConfigurationError(
                "storage", storage, "must be a CacheStorage (read, write, remove, ..., aclose)"
            )
        if serializer is not None and (
            isinstance(serializer, type) or not isinstance(serializer, Serializer)
        ):
            raise CachingConfigurationError(
                "serializer", serializer, "must have dumps(value) and loads(bytes)"
            )
        self.name = check_text("name", name)
        self._policy = settings = resolve_policy(policy, options)
        # The settings the hot paths read, as plain attributes (checked and normalized by the policy).
        self._default_ttl = ttl_seconds(settings.ttl)
        self._jitter = check_jitter(settings.jitter)
        self._beta = settings.xfetch_beta
        self._stale_ttl = ttl_seconds(settings.stale_ttl)
        self._locking = settings.locking
        self._lock_ttl = settings.lock_ttl
        self._lock_wait = settings.lock_ttl if settings.lock_wait is None else settings.lock_wait
        self._strict = settings.strict
        self._warn_interval = settings.warn_interval
        self._max_key_bytes = settings.max_key_bytes
        if clock is not None and (isinstance(clock, type) or not isinstance(clock, Clock)):
            raise CachingConfigurationError(
                "clock", clock, "must have now() and monotonic(), like SystemClock()"
            )
        check_callable("rng", rng, optional=True)
        self._storage = storage
        self._serializer = serializer
        self._clock: Clock = clock if clock is not None else SystemClock()
        clock_now = self._clock
        self._now: Callable[[], float] = (
            time.time if isinstance(clock_now, SystemClock) else lambda: clock_now.now().timestamp()
        )
        self._random: Callable[[], float] = rng if rng is not None else random.random
        self._breaker = CircuitBreaker(
            threshold=settings.breaker_threshold,
            recovery=settings.breaker_recovery,
            clock=self._clock,
            logger=logger,
            name=name,
        )
        limit = settings.max_concurrency
        self._gate = None if limit is None else Gate(limit)
        self._last_warning = -math.inf
        self._down = ("storage", self.name)  # (backend, address) of the last failure, for strict errors
        self._counters = Counters(name=name)
        self._flights: dict[str, asyncio.Task[Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        track(self._counters)

    @property
    def policy(self) -> CachePolicy:
        """The settings this cache applies."""
        return self._policy

    @property
    def storage(self) -> CacheStorage[Any]:
        """The storage that keeps this cache's entries."""
        return self._storage

    # --- calling the storage ---------------------------------------------------------------------

    async def _call[R](self, operation: str, call: Callable[[], Awaitable[R]], fallback: R) -> R:
        """Run one storage call under the breaker; an unreachable storage degrades to ``fallback``."""
        breaker = self._breaker
        if not breaker.allow():
            return self._skip(operation, fallback)
        try:
            if self._gate is None:
                result = await call()
            else:
                async with self._gate:
                    if breaker.is_open:
                        # The breaker opened while this call queued: don't queue callers behind a dead server.
                        return self._skip(operation, fallback)
                    result = await call()
        except (CachingUnavailableError, CacheSerializationError) as exc:
            return self._failed(operation, exc, fallback)
        breaker.success()
        return result

    def _failed[R](
        self, operation: str, exc: CachingUnavailableError | CacheSerializationError, fallback: R
    ) -> R:
        """What a storage call that raised ``exc`` returns (``fallback``), or the strict error it raises."""
        if isinstance(exc, CacheSerializationError):
            # Data under our key that the storage cannot read (another Redis type, a broken layout):
            # the server answered, so the breaker is not told; the read is a miss.
            self._breaker.success()
            self._counters.errors += 1
            logger.warning(
                "%s: %s found unreadable data; treated as a miss: %s", self.name, operation, exc.reason
            )
            return fallback
        if not isinstance(exc, CachingBusyError):
            # An exhausted pool is our congestion, not the server's absence: don't open the breaker.
            self._breaker.failure()
        self._counters.errors += 1
        self._down = (exc.backend, exc.address)
        if self._strict:
            raise type(exc)(exc.backend, exc.address, f"{operation}: {exc.reason}") from exc
        self._warn(operation, exc)
        return fallback

    async def _read_stored(self, key: str) -> Entry[Any] | None:
        """The storage's entry for ``key``, its value still serialized (the hot path of every hit).

        The same as ``_call("get", ...)``, without its closure and its extra coroutine when the
        breaker is closed and the bound on calls in flight has room without waiting.
        """
        breaker = self._breaker
        gate = self._gate
        if breaker.state is not BreakerState.CLOSED or (gate is not None and not gate.try_enter()):
            return await self._call("get", lambda: self._storage.read(key), None)
        try:
            stored = await self._storage.read(key)
        except (CachingUnavailableError, CacheSerializationError) as exc:
            return self._failed("get", exc, None)
        finally:
            if gate is not None:
                gate.leave()
        breaker.success()
        return stored

    def _skip[R](self, operation: str, fallback: R) -> R:
        self._counters.errors += 1
        if self._strict:
            backend, address = self._down
            raise CachingUnavailableError(backend, address, f"{operation}: circuit breaker is open")
        return fallback

    def _warn(self, operation: str, exc: CachingUnavailableError) -> None:
        now = self._clock.monotonic()
        if now - self._last_warning >= self._warn_interval:
            self._last_warning = now
            logger.warning(
                "%s: %s at %s is unavailable (%s: %s); serving misses and dropping writes",
                self.name,
                exc.backend,
                exc.address,
                operation,
                exc.reason,
            )

    async def _read(self, key: str) -> Entry[T] | None:
        entry = await self._read_stored(key)
        if entry is None or self._serializer is None:
            return entry
        return self._decode(key, entry)

    async def _read_many(self, keys: list[str]) -> list[Entry[T] | None]:
        nothing: list[Entry[Any] | None] = [None] * len(keys)
        entries = await self._call("mget", lambda: self._storage.read_many(keys), nothing)
        if self._serializer is None:
            return list(entries)
        return [None if e is None else self._decode(k, e) for k, e in zip(keys, entries, strict=True)]

    async def _write(self, items: list[StoredItem[T]], tags: tuple[str, ...]) -> None:
        stored: Sequence[StoredItem[Any]] = items
        if self._serializer is not None:
            stored = [(key, self._encode(entry), keep_for) for key, entry, keep_for in items]
        await self._call("set", lambda: self._storage.write(stored, tags), None)

    async def _lock(self, key: str, token: str) -> bool | None:
        """Whether the storage's lock was taken; ``None`` when there is none to take (or none reachable)."""
        if not self._locking:
            return None
        return await self._call("lock", lambda: self._storage.lock(key, token, self._lock_ttl), None)

    async def _unlock(self, key: str, token: str) -> None:
        await self._call("unlock", lambda: self._storage.unlock(key, token), None)

    # --- encoding --------------------------------------------------------------------------------

    def _encode(self, entry: Entry[T]) -> Entry[bytes]:
        serializer = self._serializer
        assert serializer is not None  # noqa: S101 - only called with a serializer
        try:
            payload = serializer.dumps(entry.value)
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
                _format_name(serializer),
                "dumps",
                f"value: {type(exc).__name__}: {exc}"[:300],
                type_name=type(entry.value).__name__,
            ) from exc
        if not isinstance(payload, bytes):
            raise CacheSerializationError(
                _format_name(serializer), "dumps", f"returned {type(payload).__name__}, not bytes"
            )
        return Entry(payload, entry.expires_at, entry.stale_until, entry.delta)

    def _decode(self, key: str, stored: Entry[Any]) -> Entry[T] | None:
        value = self._value(key, stored)
        if value is _UNREADABLE:
            return None
        return Entry(cast("T", value), stored.expires_at, stored.stale_until, stored.delta)

    def _value(self, key: str, stored: Entry[Any], *, report: bool = True) -> T | object:
        """The deserialized value of ``stored``, or `_UNREADABLE` if it cannot be.

        An unreadable value is counted as an error and logged unless ``report`` is false, which a
        caller passes when the same call counts it elsewhere (once): one unreadable entry read by
        one call is one error and one warning, whatever the path.
        """
        serializer = self._serializer
        assert serializer is not None  # noqa: S101 - only called with a serializer
        try:
            if not isinstance(stored.value, bytes):
                raise CacheSerializationError(
                    _format_name(serializer), "loads", "the storage returned no bytes"
                )
            return serializer.loads(stored.value)
        except (
            SerializationError,
            ValueError,
            TypeError,
            ArithmeticError,
            RecursionError,
            AttributeError,
        ) as exc:
            # Foreign, corrupt or forged data is never returned; it reads as a miss and is counted.
            if not report:
                return _UNREADABLE
            self._counters.errors += 1
            logger.warning(
                "%s: unreadable value under %r treated as a miss: %s", self.name, key[:60], type(exc).__name__
            )
            return _UNREADABLE

    # --- CacheProvider ---------------------------------------------------------------------------

    async def get(self, key: str) -> T | Missing:
        """Return the fresh value for ``key``, or `MISSING`.

        Raises:
            InvalidKeyError: ``key`` is not a non-empty string within ``max_key_bytes``.
        """
        key = check_key(key, self._max_key_bytes)
        stored = await self._read_stored(key)
        if stored is not None:
            # Only the value is deserialized: the entry's timing is the stored one.
            value = stored.value if self._serializer is None else self._value(key, stored)
            if value is not _UNREADABLE and stored.fresh(self._now()):
                self._counters.hits += 1
                return value  # type: ignore[return-value] # a T: the stored value, or its deserialized one
        self._counters.misses += 1
        return MISSING

    async def set(self, key: str, value: T, *, ttl: TTL | None = None, tags: Iterable[str] = ()) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (default: the policy's ``ttl``).

        Args:
            key: The key.
            value: The value; ``None`` is a value like any other.
            ttl: Seconds (or a timedelta) until the value expires, shortened by the jitter band.
            tags: Labels for `invalidate_tags`.

        Raises:
            CachingConfigurationError: ``ttl`` is not positive, or a tag is not a non-empty string.
            InvalidKeyError: ``key`` is not a valid key.
            CacheSerializationError: the value cannot be serialized (caches with a serializer).
        """
        key = check_key(key, self._max_key_bytes)
        entry, keep_for = self._entry(value, self._ttl(ttl), 0.0)
        await self._write([(key, entry, keep_for)], self._tags(tags))
        self._counters.sets += 1

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it held a fresh value."""
        key = check_key(key, self._max_key_bytes)
        if self._stale_ttl is None:
            # Entries are kept exactly as long as they are fresh: the storage's answer is the answer.
            return await self._call("delete", lambda: self._storage.remove(key), False)
        entry = await self._read(key)
        await self._call("delete", lambda: self._storage.remove(key), False)
        return entry is not None and entry.fresh(self._now())

    async def exists(self, key: str) -> bool:
        """Return whether ``key`` holds a fresh value."""
        entry = await self._read(check_key(key, self._max_key_bytes))
        return entry is not None and entry.fresh(self._now())

    async def clear(self) -> None:
        """Remove every key the storage holds (its prefix or its memory, never other data)."""
        await self._call("clear", self._storage.clear, None)

    # --- bulk, tags, patterns --------------------------------------------------------------------

    async def get_many(self, keys: Iterable[str]) -> dict[str, T]:
        """Return the fresh values among ``keys``; missing keys are absent from the result."""
        wanted = [check_key(k, self._max_key_bytes) for k in _iterable("keys", keys)]
        if not wanted:
            return {}
        entries = await self._read_many(wanted)
        now = self._now()
        found = {k: e.value for k, e in zip(wanted, entries, strict=True) if e is not None and e.fresh(now)}
        self._counters.hits += len(found)
        self._counters.misses += len(wanted) - len(found)
        return found

    async def set_many(
        self, items: Mapping[str, T], *, ttl: TTL | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store every value in ``items`` (one round trip where the storage allows); each gets its jitter."""
        if not isinstance(items, Mapping):
            raise CachingConfigurationError("items", items, "must be a mapping of keys to values")
        seconds = self._ttl(ttl)
        prepared: list[StoredItem[T]] = []
        for key, value in items.items():
            entry, keep_for = self._entry(value, seconds, 0.0)
            prepared.append((check_key(key, self._max_key_bytes), entry, keep_for))
        labels = self._tags(tags)
        if prepared:
            await self._write(prepared, labels)
            self._counters.sets += len(prepared)

    async def invalidate_tags(self, *tags: str) -> int:
        """Remove every key written with any of ``tags``; return how many keys went."""
        if not tags:
            return 0
        labels = self._tags(tags)
        return len(await self._call("invalidate_tags", lambda: self._storage.remove_tags(labels), []))

    async def delete_pattern(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern`` (``*``, ``?``, ``[...]``); return how many went.

        Storages that keep bytes walk their keys in batches (Redis: SCAN, never KEYS), so it is safe on
        a large cache, but it is not atomic: keys written meanwhile may survive.
        """
        pattern = check_text("pattern", pattern)
        return await self._call("delete_pattern", lambda: self._storage.remove_pattern(pattern), 0)

    # --- get_or_compute --------------------------------------------------------------------------

    async def get_or_compute(
        self,
        key: str,
        loader: Loader[T],
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] = (),
        cache_none: bool = True,
    ) -> T:
        """Return the cached value for ``key``, or compute it with ``loader`` and cache it.

        However many callers miss the same key at once, ``loader`` runs once in this process (the
        others wait for its result), and, on a backend with a distributed lock, once across processes.
        A fresh value may be recomputed early, in the background while it is still served, with a
        probability that grows towards its expiry (XFetch), so a hot key is refreshed before it
        expires rather than by a crowd after. With ``stale_ttl`` set,
        an expired value is returned at once while one background refresh replaces it.

        Cancelling a caller never cancels the computation others are waiting for, and an exception from
        ``loader`` reaches every caller waiting on that computation; nothing is cached then.

        Args:
            key: The key.
            loader: A coroutine function computing the value.
            ttl: TTL for the computed value (default: the policy's ``ttl``).
            tags: Labels for `invalidate_tags`.
            cache_none: Whether a ``None`` result is cached (default) or recomputed next time.
        """
        key = check_key(key, self._max_key_bytes)
        # Arguments are checked on every call, hit or miss; the job itself is built only when needed.
        seconds = self._ttl(ttl)
        labels = self._tags(tags) if tags != () else ()
        flag: object = cache_none  # the checks below hold for any object, whatever the annotations say
        if flag.__class__ is not bool or not callable(loader):
            check_callable("loader", loader)
            check_bool("cache_none", cache_none)
        return await self._lookup(key, loader, seconds, labels, cache_none)

    async def _lookup(
        self, key: str, loader: Loader[T], seconds: float | None, labels: tuple[str, ...], cache_none: bool
    ) -> T:
        """`get_or_compute` with its arguments checked (`cached` checks them once, when it decorates)."""
        stored = await self._read_stored(key)
        value: T | object = _UNREADABLE
        if stored is not None:
            # Only the value is deserialized: the entry's timing is the stored one.
            value = stored.value if self._serializer is None else self._value(key, stored)
        if value is _UNREADABLE:
            stored = None
        now = self._now()
        if stored is not None and stored.fresh(now):
            self._counters.hits += 1
            if stored.expires_at is not None and self._early(stored, now):
                # The value is still fresh: serve it and refresh behind it, so no reader ever waits.
                self._counters.early_refreshes += 1
                self._refresh_later(key, _Job(loader, seconds, labels, cache_none), stored.expires_at)
            return value  # type: ignore[return-value] # a T: the stored value, or its deserialized one
        job = _Job(loader, seconds, labels, cache_none)
        self._counters.misses += 1
        if stored is not None and stored.servable_stale(now):
            self._counters.stale_served += 1
            self._refresh_later(key, job, stored.expires_at)
            return value  # type: ignore[return-value] # a T, as above
        # An unreadable value was counted here: the computation's own looks at the key stay quiet.
        return await self._flight(key, job, _UNREADABLE if value is _UNREADABLE else None)

    def _hit_now(self, key: str) -> object:
        """A fresh value for ``key`` found without an await, or `NO_HIT` (the general path decides).

        ``key`` is a str that holds neither NUL nor a lone surrogate (a key `check_key` passed, or
        one `cached` built, which is printable or a digest). A hit is counted here; when XFetch
        draws an early refresh the value comes wrapped in an `EarlyHit` and the caller, which has
        the loader, starts the refresh with `_refresh_early`. This cache has no such path: a
        `TieredCache` reads its memory L1 here.
        """
        return NO_HIT

    def _refresh_early(
        self,
        key: str,
        loader: Loader[T],
        *,
        seconds: float | None,
        labels: tuple[str, ...],
        cache_none: bool,
        expires_at: float,
    ) -> None:
        """Recompute ``key`` in the background behind a hit that XFetch chose (see `_hit_now`)."""
        self._counters.early_refreshes += 1
        self._refresh_later(key, _Job(loader, seconds, labels, cache_none), expires_at)

    async def refresh(
        self,
        key: str,
        loader: Loader[T],
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] = (),
        cache_none: bool = True,
    ) -> T:
        """Compute ``key`` with ``loader`` now, ignoring any cached value, and cache the result.

        Concurrent refreshes and misses of the same key still share one computation.
        """
        key = check_key(key, self._max_key_bytes)
        check_callable("loader", loader)
        check_bool("cache_none", cache_none)
        return await self._flight(
            key, _Job(loader, self._ttl(ttl), self._tags(tags), cache_none), _ANY_EXPIRY
        )

    # --- statistics and lifecycle ----------------------------------------------------------------

    @property
    def stats(self) -> CacheStats:
        """A snapshot of this cache's counters."""
        return self._counters.snapshot()

    @property
    def breaker_state(self) -> BreakerState:
        """Where the circuit breaker in front of the storage stands: closed, open or half-open.

        Open means the storage is not called and every read is a miss until a probe gets through;
        buttress-health's ``BreakerCheck`` reports it.
        """
        return self._breaker.state

    async def _aclose(self) -> None:
        """Cancel background refreshes, let computations in flight finish, and close the storage."""
        pending = [*self._background, *self._flights.values()]
        for task in self._background:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._storage.aclose()

    # --- internals -------------------------------------------------------------------------------

    def _ttl(self, ttl: TTL | None) -> float | None:
        seconds = ttl_seconds(ttl)
        return self._default_ttl if seconds is None else seconds

    def _tags(self, tags: Iterable[str]) -> tuple[str, ...]:
        result = tuple(_iterable("tags", tags))
        for tag in result:
            if not isinstance(tag, str):
                raise CachingConfigurationError("tags", result, "every tag must be a non-empty string")
            check_text("tags", tag)
        return result

    def jittered(self, ttl: TTL) -> float:
        """Return ``ttl`` (seconds or a timedelta) shortened by a random fraction from the jitter band.

        Raises:
            CachingConfigurationError: ``ttl`` is not a valid TTL, or the cache's ``rng`` returned
                something other than a float in [0, 1).
        """
        seconds = ttl_seconds(ttl)
        if seconds is None:
            raise CachingConfigurationError("ttl", ttl, "must be a number of seconds or a timedelta")
        return self._jittered(seconds)

    def _jittered(self, ttl: float) -> float:
        low, high = self._jitter
        if high == 0.0:
            return ttl
        return ttl * (1.0 - (low + (high - low) * self._draw()))

    def _draw(self) -> float:
        """A float in [0, 1) from ``rng``; anything else is the rng's fault and says so."""
        try:
            u = self._random()
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise CachingConfigurationError("rng", self._random, f"failed when called: {exc!r}") from exc
        if u.__class__ is float and 0.0 <= u < 1.0:
            return u
        return self._checked_draw(u)

    def _checked_draw(self, u: object) -> float:
        if isinstance(u, int | float) and not isinstance(u, bool) and 0 <= u < 1:
            return float(u)
        raise CachingConfigurationError(
            "rng", self._random, f"must return a float in [0, 1), returned {u!r:.40}"
        )

    def _entry(self, value: T, ttl: float | None, delta: float) -> tuple[Entry[T], float | None]:
        if ttl is None:
            return Entry(value, None, None, delta), None
        effective = self._jittered(ttl)
        expires_at = self._now() + effective
        if self._stale_ttl is None:
            return Entry(value, expires_at, None, delta), effective
        return Entry(value, expires_at, expires_at + self._stale_ttl, delta), effective + self._stale_ttl

    def _early(self, entry: Entry[T], now: float) -> bool:
        # On every hit of get_or_compute: _draw and _should_refresh inlined.
        expires_at = entry.expires_at
        if self._beta == 0.0 or entry.delta <= 0.0 or expires_at is None:
            return False
        # Far from expiry no draw can call for a refresh, so none is made: -ln(1 - u) is below
        # _NO_DRAW_BEYOND for every float u in [0, 1) (at most 53 ln 2 = 36.74), and this is the
        # test below in the same float operations with that bound, which rounding keeps monotonic.
        if now + entry.delta * self._beta * _NO_DRAW_BEYOND < expires_at:
            return False
        try:
            u = self._random()
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise CachingConfigurationError("rng", self._random, f"failed when called: {exc!r}") from exc
        if u.__class__ is not float or not 0.0 <= u < 1.0:
            u = self._checked_draw(u)
        return now - entry.delta * self._beta * math.log(1.0 - u) >= expires_at

    def _flight(self, key: str, job: _Job[T], seen_expiry: float | object | None) -> Coroutine[Any, Any, T]:
        task = self._flights.get(key)
        if task is None:
            task = self._start(key, self._compute(key, job, seen_expiry))
        else:
            self._counters.single_flight_joins += 1
        return _shielded(task)

    def _start(self, key: str, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work, name=f"buttress-cache:{self.name}:{key[:60]}")
        self._flights[key] = task

        def finished(done: asyncio.Task[T]) -> None:
            if self._flights.get(key) is done:
                del self._flights[key]
            if not done.cancelled() and done.exception() is not None:
                # Retrieved here so an error nobody waited for (all callers cancelled) is still logged once.
                logger.debug("%s: computing %r failed: %r", self.name, key, done.exception())

        task.add_done_callback(finished)
        return task

    def _refresh_later(self, key: str, job: _Job[T], seen: float | None) -> None:
        if key in self._flights or self.closed:
            return
        task = self._start(key, self._compute(key, job, seen))
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._counters.errors += 1
            logger.warning("%s: background refresh failed: %r", self.name, task.exception())

    async def _compute(self, key: str, job: _Job[T], seen_expiry: float | object | None) -> T:
        token = secrets.token_hex(16)
        seen = _Seen(seen_expiry)
        held = await self._lock(key, token)
        if held is False:
            self._counters.lock_waits += 1
            outcome = await self._wait_for_other(key, token, seen)
            if isinstance(outcome, _Found):
                return outcome.value
            held = outcome  # True: the holder went and we took over; False/None: compute unlocked
        try:
            if held:
                # Another process may have stored a value between our read and taking the lock.
                found = await self._look(key, seen)
                if found is not None:
                    return found.value
            return await self._load_and_store(key, job)
        finally:
            if held:
                await self._unlock(key, token)

    async def _wait_for_other(self, key: str, token: str, seen: _Seen) -> _Found[T] | bool | None:
        """Wait for the holder's value; take the lock if the holder goes; give up after ``_lock_wait``.

        Returns ``None`` at once when the lock can no longer be reached (the backend is down or its
        circuit breaker is open): a holder we cannot see is no reason to wait, so the caller computes.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait
        delay = _FIRST_POLL
        while loop.time() < deadline:
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0.0)))
            delay = min(delay * 2, _MAX_POLL)
            found = await self._look(key, seen)
            if found is not None:
                return _Found(found.value)
            held = await self._lock(key, token)
            if held is None:
                logger.debug("%s: the lock for %r cannot be reached; computing it here", self.name, key)
                return None
            if held:
                return True
        logger.debug(
            "%s: gave up waiting for %r after %.2fs; computing it here", self.name, key, self._lock_wait
        )
        return False

    async def _look(self, key: str, seen: _Seen) -> Entry[T] | None:
        """A computation's look at ``key``: a fresh entry stored since ``seen.expiry``, or ``None``.

        An unreadable entry is ``None`` too, counted and logged only if this computation has not
        counted one yet (its caller's read, or an earlier look while waiting for a lock).
        """
        stored = await self._read_stored(key)
        if stored is None:
            return None
        entry: Entry[T] = stored
        if self._serializer is not None:
            value = self._value(key, stored, report=not seen.unreadable_counted)
            if value is _UNREADABLE:
                seen.unreadable_counted = True
                return None
            entry = Entry(cast("T", value), stored.expires_at, stored.stale_until, stored.delta)
        if entry.fresh(self._now()) and _is_newer(entry, seen.expiry):
            return entry
        return None

    async def _load_and_store(self, key: str, job: _Job[T]) -> T:
        started = self._clock.monotonic()
        self._counters.loads += 1
        pending = job.loader()
        if not inspect.isawaitable(pending):
            raise CachingConfigurationError(
                "loader",
                job.loader,
                f"must return an awaitable (an async def), returned {type(pending).__name__}",
            )
        value = await pending
        took = max(self._clock.monotonic() - started, 0.0)
        LOAD_DURATION.record(took, {"cache.name": self.name})
        if value is None and not job.cache_none:
            return value
        entry, keep_for = self._entry(value, job.ttl, took)
        await self._write([(key, entry, keep_for)], job.tags)
        self._counters.sets += 1
        return value


class _Found[V]:
    """The value another process computed while we waited for its lock."""

    __slots__ = ("value",)

    def __init__(self, value: V) -> None:
        self.value = value


# What `Cache._value` returns for a stored value that cannot be deserialized.
_UNREADABLE = object()


class _Seen:
    """What one computation has seen under its key, so that its looks (`Cache._look`) count nothing twice.

    ``expiry`` is the expiry of the entry whose read led to the computation (see `_is_newer`);
    ``unreadable_counted`` whether an unreadable entry under the key was already counted for it.
    A computation started by a read that found the value unreadable is given `_UNREADABLE`.
    """

    __slots__ = ("expiry", "unreadable_counted")

    def __init__(self, seen_expiry: float | object | None) -> None:
        self.unreadable_counted = seen_expiry is _UNREADABLE
        self.expiry = None if self.unreadable_counted else seen_expiry


# What `Cache._hit_now` returns when it found no value it may hand out without an await.
NO_HIT = object()


class EarlyHit:
    """What `Cache._hit_now` returns for a hit whose XFetch draw asks for a background refresh."""

    __slots__ = ("expires_at", "value")

    def __init__(self, value: object, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at


# A refresh replaces whatever is stored, so any stored entry counts as "not newer".
_ANY_EXPIRY = object()


def _is_newer(entry: Entry[Any], seen_expiry: float | object | None) -> bool:
    """Whether ``entry`` was written after the read that led to this computation."""
    if seen_expiry is _ANY_EXPIRY:
        return False
    return seen_expiry is None or entry.expires_at != seen_expiry


async def _shielded[R](task: asyncio.Task[R]) -> R:
    return await asyncio.shield(task)


def _iterable[V](name: str, values: Iterable[V]) -> Iterable[V]:
    """``values`` if it is an iterable of several items; a str or bytes (one item, surely) is rejected."""
    if isinstance(values, str | bytes | bytearray | memoryview) or not isinstance(values, Iterable):
        raise CachingConfigurationError(
            name, values, "must be an iterable (a list or tuple), not a single value"
        )
    return values


def _format_name(serializer: object) -> str:
    name = getattr(serializer, "format_name", None)
    return name if isinstance(name, str) else type(serializer).__name__
