"""CachePolicy: one frozen, checked value that every cache holds, given whole or setting by setting."""

from __future__ import annotations

import dataclasses
import typing
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from buttress.caching import (
    Cache,
    CachePolicy,
    CachePolicyOptions,
    CachingConfigurationError,
    MemoryCache,
    MemoryStorage,
    RedisCache,
    TieredCache,
)
from buttress.core import ConfigurationError
from buttress.testing import FakeClock


def test_the_defaults() -> None:
    policy = CachePolicy()
    assert policy == MemoryCache[Any]().policy
    assert (policy.ttl, policy.jitter, policy.stale_ttl, policy.xfetch_beta) == (
        None,
        (0.05, 0.15),
        None,
        1.0,
    )
    assert (policy.locking, policy.lock_ttl, policy.lock_wait, policy.strict) == (True, 10.0, None, False)
    assert (policy.breaker_threshold, policy.breaker_recovery, policy.warn_interval) == (3, 5.0, 30.0)
    assert (policy.max_concurrency, policy.max_key_bytes) == (None, 1024)


def test_values_are_read_back_normalized() -> None:
    policy = CachePolicy(ttl=timedelta(minutes=1), stale_ttl=5, jitter=0.2, lock_ttl=3)
    assert policy.ttl == 60.0
    assert isinstance(policy.ttl, float)
    assert policy.stale_ttl == 5.0
    assert policy.jitter == (0.0, 0.2)
    assert isinstance(policy.lock_ttl, float)
    assert CachePolicy(jitter=None).jitter == (0.0, 0.0)
    assert CachePolicy(ttl=timedelta(seconds=30)) == CachePolicy(ttl=30)


def test_a_policy_is_frozen_and_replace_checks_again() -> None:
    policy = CachePolicy(ttl=60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.ttl = 5  # type: ignore[misc]
    assert dataclasses.replace(policy, strict=True) == CachePolicy(ttl=60, strict=True)
    with pytest.raises(CachingConfigurationError, match="ttl"):
        dataclasses.replace(policy, ttl=-1)
    assert not hasattr(policy, "__dict__"), "a slots dataclass"


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": "60"}, "ttl"),
        ({"ttl": 10**400}, "ttl"),
        ({"stale_ttl": -1}, "stale_ttl"),
        ({"jitter": 1.0}, "jitter"),
        ({"jitter": (0.3, 0.1)}, "jitter"),
        ({"xfetch_beta": float("nan")}, "xfetch_beta"),
        ({"locking": 1}, "locking"),
        ({"lock_ttl": 0}, "lock_ttl"),
        ({"lock_wait": -0.5}, "lock_wait"),
        ({"strict": "yes"}, "strict"),
        ({"breaker_threshold": 0}, "breaker_threshold"),
        ({"breaker_recovery": float("inf")}, "breaker_recovery"),
        ({"warn_interval": True}, "warn_interval"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_key_bytes": 1.5}, "max_key_bytes"),
    ],
    ids=repr,
)
def test_a_bad_setting_is_a_typed_error_naming_it(settings: dict[str, Any], name: str) -> None:
    with pytest.raises(CachingConfigurationError) as policy_error:
        CachePolicy(**settings)
    assert isinstance(policy_error.value, ConfigurationError)
    assert isinstance(policy_error.value, ValueError)
    assert policy_error.value.parameter == name
    with pytest.raises(CachingConfigurationError) as short_error:
        MemoryCache[Any](**settings)
    assert short_error.value.parameter == name, "the short form reports it the same way"


def test_an_unknown_setting_or_a_policy_of_the_wrong_kind_is_a_typed_error() -> None:
    with pytest.raises(CachingConfigurationError, match="default_ttl") as info:
        MemoryCache[Any](default_ttl=60)  # type: ignore[call-arg]
    assert info.value.parameter == "options"
    assert "ttl" in str(info.value), "the message lists the settings"
    with pytest.raises(CachingConfigurationError, match="policy"):
        MemoryCache[Any](policy={"ttl": 60})  # type: ignore[arg-type]


def test_settings_given_one_by_one_override_the_policy() -> None:
    base = CachePolicy(ttl=60, strict=True, jitter=None)
    assert MemoryCache[Any](policy=base).policy is base
    assert MemoryCache[Any](policy=base, ttl=5).policy == CachePolicy(ttl=5, strict=True, jitter=None)
    assert MemoryCache[Any](ttl=60).policy == CachePolicy(ttl=60)


def test_the_options_type_lists_exactly_the_policy_settings() -> None:
    """The keyword form is typed by CachePolicyOptions: it must name every setting, with its type."""
    assert list(CachePolicyOptions.__annotations__) == [
        field.name for field in dataclasses.fields(CachePolicy)
    ]
    assert CachePolicyOptions.__total__ is False
    hints = typing.get_type_hints(CachePolicyOptions)
    assert hints == typing.get_type_hints(CachePolicy)


SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "ttl": st.none() | st.floats(0.001, 1e6) | st.integers(1, 10**6),
        "jitter": st.none() | st.floats(0, 0.9) | st.tuples(st.floats(0, 0.4), st.floats(0.4, 0.9)),
        "stale_ttl": st.none() | st.timedeltas(timedelta(milliseconds=1), timedelta(days=30)),
        "xfetch_beta": st.floats(0, 10),
        "locking": st.booleans(),
        "lock_ttl": st.floats(0.001, 100),
        "lock_wait": st.none() | st.floats(0, 100),
        "strict": st.booleans(),
        "breaker_threshold": st.integers(1, 100),
        "breaker_recovery": st.floats(0, 100),
        "warn_interval": st.floats(0, 100),
        "max_concurrency": st.none() | st.integers(1, 1000),
        "max_key_bytes": st.integers(1, 1 << 20),
    },
)


@given(base=SETTINGS, override=SETTINGS)
def test_the_short_form_and_the_policy_form_agree(base: dict[str, Any], override: dict[str, Any]) -> None:
    """Property: settings given one by one make the same policy as a `CachePolicy` holding them, and
    override a given policy setting by setting; normalizing twice changes nothing."""
    policy = CachePolicy(**base)
    assert MemoryCache[Any](**base).policy == policy
    merged = MemoryCache[Any](policy=policy, **override).policy
    assert merged == CachePolicy(**{**base, **override})
    assert CachePolicy(**{f.name: getattr(merged, f.name) for f in dataclasses.fields(merged)}) == merged


async def test_the_policy_governs_the_cache(fake_clock: FakeClock) -> None:
    cache = Cache[int](
        MemoryStorage(clock=fake_clock), policy=CachePolicy(ttl=10, jitter=None), clock=fake_clock
    )
    await cache.set("k", 1)
    fake_clock.advance(9.9)
    assert await cache.get("k") == 1
    fake_clock.advance(0.2)
    assert not await cache.exists("k")


@pytest.mark.redis
async def test_every_cache_takes_a_policy(redis_url: str, redis_prefix: str, raw: Redis) -> None:
    policy = CachePolicy(ttl=30, jitter=None, strict=True, lock_wait=2.0)
    client = Redis.from_url(redis_url)
    caches: list[Cache[int]] = [
        MemoryCache[int](policy=policy),
        RedisCache[int](client, prefix=f"{redis_prefix}r:", policy=policy),
        TieredCache[int](client, prefix=f"{redis_prefix}t:", policy=policy),
        RedisCache[int].from_url(redis_url, prefix=f"{redis_prefix}ru:", policy=policy, max_concurrency=4),
        TieredCache[int].from_url(redis_url, prefix=f"{redis_prefix}tu:", policy=policy, max_concurrency=4),
    ]
    try:
        for cache in caches[:3]:
            assert cache.policy is policy
        for cache in caches[3:]:
            assert cache.policy == dataclasses.replace(policy, max_concurrency=4)
        for cache in caches[1:]:
            await cache.set("k", 1)
        for prefix in ("r:", "t:", "ru:", "tu:"):
            remaining = await raw.pttl(f"{redis_prefix}{prefix}k")
            assert 29_000 < remaining <= 30_000, "the policy's TTL, without jitter, reached Redis"
    finally:
        for cache in caches:
            await cache.aclose()
        await client.aclose()


@pytest.mark.redis
async def test_from_url_bounds_calls_in_flight_by_the_pool_unless_the_policy_does(redis_url: str) -> None:
    default = RedisCache[int].from_url(redis_url, max_connections=7)
    own = RedisCache[int].from_url(redis_url, max_connections=7, max_concurrency=3)
    tiered = TieredCache[int].from_url(redis_url, max_connections=5)
    try:
        assert default.policy.max_concurrency == 7
        assert own.policy.max_concurrency == 3
        assert tiered.policy.max_concurrency == 5
    finally:
        for cache in (default, own, tiered):
            await cache.aclose()
    with pytest.raises(CachingConfigurationError) as info:
        RedisCache[int].from_url(redis_url, max_connections=0)
    assert info.value.parameter == "max_connections"
