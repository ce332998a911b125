"""`CachePolicy`: what a `Cache` does with its entries (TTLs, early refresh, locking, failures), as one value.

Every cache takes its policy as ``policy=CachePolicy(...)``, or the same settings as keyword
arguments (``MemoryCache(ttl=60)``); both are merged by `resolve_policy`, the only place a setting is
checked. A policy is frozen and checked when it is made, so one built at import time fails at import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypedDict

from ._validation import (
    DEFAULT_MAX_KEY_BYTES,
    TTL,
    check_bool,
    check_factor,
    check_jitter,
    check_non_negative,
    check_positive,
    check_positive_int,
    ttl_seconds,
)
from .exceptions import CachingConfigurationError

__all__ = ["CachePolicy", "CachePolicyOptions", "resolve_policy", "with_concurrency"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """The behaviour of a cache, whatever storage keeps its entries: checked once, then frozen.

    Give it to any cache as ``policy=``, or pass the same settings as keyword arguments (they
    override the ``policy`` given, if any)::

        STRICT = CachePolicy(ttl=60, stale_ttl=30, strict=True)
        users = MemoryCache[User](policy=STRICT)
        orders = RedisCache[Order].from_url(url, prefix="orders:", policy=STRICT, ttl=300)

    Values are read back normalized: TTLs in seconds (a ``timedelta`` becomes a float), ``jitter``
    as its ``(low, high)`` band, durations as floats. `dataclasses.replace` makes a variant.

    Attributes:
        ttl: TTL of writes that give none; ``None`` keeps values until evicted or deleted.
        jitter: Each write's TTL is shortened by a random fraction in this band, so values written
            together do not expire together. A single number ``f`` means ``(0, f)``; ``None`` is no jitter.
        stale_ttl: Keep values this many seconds past their TTL and serve them from `get_or_compute`
            while one background refresh runs (stale-while-revalidate). ``None`` disables.
        xfetch_beta: Eagerness of probabilistic early refresh (XFetch; 1.0 is the paper's optimum,
            0 disables).
        locking: Whether `get_or_compute` takes the storage's lock on a miss (when it has one), so
            one process computes while the others wait for its value.
        lock_ttl: Seconds after which a lock whose holder vanished frees itself.
        lock_wait: Seconds a caller waits for the lock holder's value before computing itself;
            ``None``: ``lock_ttl``.
        strict: Raise `CachingUnavailableError` when the storage cannot be reached, instead of
            serving misses and dropping writes.
        breaker_threshold: Consecutive storage failures that open the circuit breaker.
        breaker_recovery: Seconds the breaker stays open before it lets one probe through.
        warn_interval: The least time between two warnings about the storage being unreachable.
        max_concurrency: The most storage calls in flight at once; the others queue, and once the
            breaker opens, a queued call takes its fallback instead of waiting on a dead server.
            ``None``: no bound (a Redis cache's ``from_url`` uses its ``max_connections``).
        max_key_bytes: The longest key accepted, in UTF-8 bytes.

    Raises:
        CachingConfigurationError: A setting is out of range or of the wrong kind (its name is the
            error's ``parameter``).
    """

    ttl: TTL | None = None
    jitter: tuple[float, float] | float | None = (0.05, 0.15)
    stale_ttl: TTL | None = None
    xfetch_beta: float = 1.0
    locking: bool = True
    lock_ttl: float = 10.0
    lock_wait: float | None = None
    strict: bool = False
    breaker_threshold: int = 3
    breaker_recovery: float = 5.0
    warn_interval: float = 30.0
    max_concurrency: int | None = None
    max_key_bytes: int = DEFAULT_MAX_KEY_BYTES

    def __post_init__(self) -> None:
        lock_wait = self.lock_wait
        max_concurrency = self.max_concurrency
        checked = {
            "ttl": ttl_seconds(self.ttl, name="ttl"),
            "jitter": check_jitter(self.jitter),
            "stale_ttl": ttl_seconds(self.stale_ttl, name="stale_ttl"),
            "xfetch_beta": check_factor("xfetch_beta", self.xfetch_beta),
            "locking": check_bool("locking", self.locking),
            "lock_ttl": check_positive("lock_ttl", self.lock_ttl),
            "lock_wait": None if lock_wait is None else check_non_negative("lock_wait", lock_wait),
            "strict": check_bool("strict", self.strict),
            "breaker_threshold": check_positive_int("breaker_threshold", self.breaker_threshold),
            "breaker_recovery": check_non_negative("breaker_recovery", self.breaker_recovery),
            "warn_interval": check_non_negative("warn_interval", self.warn_interval),
            "max_concurrency": (
                None if max_concurrency is None else check_positive_int("max_concurrency", max_concurrency)
            ),
            "max_key_bytes": check_positive_int("max_key_bytes", self.max_key_bytes),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: the normalized value replaces the given one


class CachePolicyOptions(TypedDict, total=False):
    """The settings of `CachePolicy` as keyword arguments of a cache (``MemoryCache(ttl=60)``).

    Each key is the `CachePolicy` attribute of the same name, with the same meaning and default.
    """

    ttl: TTL | None
    jitter: tuple[float, float] | float | None
    stale_ttl: TTL | None
    xfetch_beta: float
    locking: bool
    lock_ttl: float
    lock_wait: float | None
    strict: bool
    breaker_threshold: int
    breaker_recovery: float
    warn_interval: float
    max_concurrency: int | None
    max_key_bytes: int


DEFAULT_POLICY: Final = CachePolicy()
_SETTINGS: Final = tuple(field.name for field in dataclasses.fields(CachePolicy))


def resolve_policy(policy: CachePolicy | None, options: Mapping[str, object]) -> CachePolicy:
    """``policy`` (default: `CachePolicy()`) with ``options`` applied, checked: what every cache holds.

    Raises:
        CachingConfigurationError: ``policy`` is not a `CachePolicy`, an option is not one of its
            settings, or a setting is invalid.
    """
    if policy is None:
        policy = DEFAULT_POLICY
    elif not isinstance(policy, CachePolicy):
        raise CachingConfigurationError("policy", policy, "must be a CachePolicy (or None for the defaults)")
    if not options:
        return policy
    for name in options:
        if name not in _SETTINGS:
            raise CachingConfigurationError(
                "options",
                str(name)[:80],
                f"is not a setting of CachePolicy; those are {', '.join(_SETTINGS)}",
            )
    return dataclasses.replace(policy, **options)  # type: ignore[arg-type]


def with_concurrency(policy: CachePolicy, max_connections: int) -> CachePolicy:
    """``policy``, bounded to ``max_connections`` calls in flight unless it sets its own bound.

    A cache whose ``from_url`` made a pool of ``max_connections`` queues its callers at that bound,
    so that once the circuit breaker opens the queued calls take their fallback at once.
    """
    bound = check_positive_int("max_connections", max_connections)
    if policy.max_concurrency is not None:
        return policy
    return dataclasses.replace(policy, max_concurrency=bound)
