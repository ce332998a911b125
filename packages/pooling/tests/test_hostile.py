"""Every public entry point of buttress-pooling, driven with hostile arguments: only typed errors come out."""

from __future__ import annotations

from typing import Any

import pytest

import buttress.pooling as pooling
from buttress.pooling import (
    AcquireContext,
    AsyncpgFactory,
    ForeignResourceError,
    MissingExtraError,
    Pool,
    PoolClosedError,
    PoolConfig,
    PoolConfigurationError,
    PoolError,
    PoolExhaustedError,
    PoolInvariantViolation,
    PoolSettings,
    PoolStats,
    PoolTimeoutError,
    PoolTypeError,
    PoolUnavailableError,
    RedisFactory,
    State,
)
from buttress.testing import FakeClock, HostileTarget, HostileTargets, acheck_hostile, check_hostile

from .conftest import FlakyFactory

STATS = dict.fromkeys(PoolStats.__dataclass_fields__, 0)

SETTINGS: dict[str, object] = {
    "min_size": 0,
    "max_size": 10,
    "max_waiting": None,
    "max_lifetime": 3600.0,
    "lifetime_jitter": 0.05,
    "max_idle": 600.0,
    "health_check_interval": None,
    "check_on_acquire": False,
    "order": "lifo",
    "backoff_initial": 0.1,
    "backoff_max": 10.0,
    "name": "pool",
}

# `timeout` is never passed by name below: it is check_hostile's own parameter. The targets' `timeout`
# parameters are replaced all the same, since every keyword-able parameter of a signature is.
TARGETS = HostileTargets()
TARGETS.add(PoolConfig, **SETTINGS)
TARGETS.add(PoolSettings, **SETTINGS)
TARGETS.add(Pool, FlakyFactory(), config=PoolConfig(), clock=FakeClock(), rng=lambda: 0.5)
TARGETS.add(
    Pool,
    FlakyFactory(),
    min_size=0,
    max_size=10,
    max_waiting=None,
    max_lifetime=3600.0,
    lifetime_jitter=0.05,
    max_idle=600.0,
    health_check_interval=None,
    check_on_acquire=False,
    order="lifo",
    backoff_initial=0.1,
    backoff_max=10.0,
    name="pool",
    clock=FakeClock(),
    rng=lambda: 0.5,
)
TARGETS.add(State, "idle")
TARGETS.add(PoolStats, **STATS)
TARGETS.add(AsyncpgFactory, "postgresql://app@db/app", close_timeout=5.0, check_timeout=5.0)
TARGETS.add(RedisFactory, "redis://cache:6379/0")
TARGETS.add(AsyncpgFactory("postgresql://app@db/app").destroy, object())
TARGETS.add(AsyncpgFactory("postgresql://app@db/app").check, object())
TARGETS.add(AsyncpgFactory("postgresql://app@db/app").reset, object())
TARGETS.add(RedisFactory("redis://cache:6379/0").destroy, object())
TARGETS.add(RedisFactory("redis://cache:6379/0").check, object())
TARGETS.add(PoolError, "message")
TARGETS.add(PoolConfigurationError, "max_size", 0, "must be at least 1", show_value=True)
TARGETS.add(PoolTypeError, "wait", "a bool", "yes")
TARGETS.add(PoolTimeoutError, 5.0, "all 10 resources are in use")
TARGETS.add(PoolUnavailableError, "redis", "redis://:secret@cache:6379/0", "ConnectionError")
TARGETS.add(PoolExhaustedError, "10 callers are waiting already")
TARGETS.add(PoolClosedError, "pool 'pool' is closed")
TARGETS.add(ForeignResourceError, "pool 'pool' did not hand out this resource")
TARGETS.add(PoolInvariantViolation, "total > max_size", {"idle": 1, "total": 1, "max_size": 0})
TARGETS.add(MissingExtraError, "AsyncpgFactory", "postgres")


@TARGETS.parametrize()
def test_constructors_and_functions_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a constructor, factory method or error of buttress-pooling fail untyped."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(pooling)


@TARGETS.drives("AcquireContext")
def test_acquire_context_raises_only_typed_errors() -> None:
    """Property: AcquireContext, awaited as `pool.acquire()` is, raises only typed errors."""
    pool: Pool[Any] = Pool(FlakyFactory(), max_size=100_000, health_check_interval=None)
    check_hostile(AcquireContext, pool, 1.0)


@pytest.fixture
async def pool() -> Any:
    # Large enough that resources hostile calls acquire and never give back cannot fill it.
    pool: Pool[Any] = Pool(FlakyFactory(), min_size=1, max_size=100_000, health_check_interval=None)
    await pool.open()
    yield pool
    await pool.aclose(timeout=0)


async def test_acquire_raises_only_typed_errors(pool: Pool[Any]) -> None:
    """Property: acquire (awaited) refuses a bad timeout with PoolConfigurationError, at once."""
    await acheck_hostile(pool.acquire)


async def test_release_raises_only_typed_errors(pool: Pool[Any]) -> None:
    """Property: release refuses a foreign resource or a non-bool discard with a typed error."""
    resource = await pool.acquire()
    await acheck_hostile(pool.release, resource, discard=False)


async def test_open_and_resize_raise_only_typed_errors(pool: Pool[Any]) -> None:
    """Property: open and resize refuse bad arguments with typed errors, before changing anything."""
    await acheck_hostile(pool.open, wait=True)
    await acheck_hostile(pool.resize, min_size=1, max_size=10)


async def test_aclose_raises_only_typed_errors_and_leaves_nothing_behind() -> None:
    """Property: aclose refuses a bad timeout before changing anything; a good one destroys everything."""
    factory = FlakyFactory()
    pool: Pool[Any] = Pool(factory, min_size=2, health_check_interval=None)
    await pool.open()
    await acheck_hostile(pool.aclose, kwargs={"timeout": 0})
    await pool.aclose(timeout=0)
    assert pool.stats().total == 0
    assert [t.destroyed for t in factory.created] == [1] * len(factory.created)
