"""Disk space and the adapters for the suite's own objects: a pool's stats, a breaker, an outbox's backlog."""

from __future__ import annotations

import asyncio
import enum
from pathlib import Path

import pytest

from buttress.caching import RedisCache
from buttress.core import MISSING
from buttress.health import (
    BacklogCheck,
    BreakerCheck,
    DiskSpaceCheck,
    HealthConfigurationError,
    HealthRegistry,
    HealthTypeError,
    PoolCheck,
    Status,
)
from buttress.pooling import Pool
from buttress.testing import RedisServer
from buttress.webhooks import Endpoint, MemoryOutbox

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the Standard Webhooks spec's test secret


async def test_disk_space_passes_warns_and_fails_at_its_thresholds(tmp_path: Path) -> None:
    passing = await DiskSpaceCheck(tmp_path, warn_below=0.0, fail_below=0.0).check()
    assert passing.status is Status.PASS
    assert passing.observed_unit == "percent"
    assert 0 <= float(passing.observed_value or 0) <= 100
    assert (await DiskSpaceCheck(tmp_path, warn_below=1.0, fail_below=0.0).check()).status is Status.WARN
    failing = await DiskSpaceCheck(str(tmp_path), warn_below=1.0, fail_below=1.0).check()
    assert failing.status is Status.FAIL
    assert "% used" in (failing.output or "")


async def test_disk_space_of_a_missing_path_raises_for_the_registry(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await DiskSpaceCheck(tmp_path / "gone").check()


def test_disk_space_checks_its_arguments() -> None:
    with pytest.raises(HealthConfigurationError):
        DiskSpaceCheck(".", warn_below=0.05, fail_below=0.10)
    with pytest.raises(HealthConfigurationError):
        DiskSpaceCheck(".", warn_below=1.5)
    with pytest.raises(HealthTypeError):
        DiskSpaceCheck(b".")  # type: ignore[arg-type]


class Channel:
    pass


class ChannelFactory:
    async def create(self) -> Channel:
        return Channel()

    async def destroy(self, resource: Channel) -> None:
        return None


async def test_a_buttress_pool_warns_when_it_runs_out_of_room() -> None:
    async with Pool(ChannelFactory(), min_size=0, max_size=2) as pool:
        check = PoolCheck(pool, warn_at=0.9)
        assert (await check.check()).status is Status.PASS
        first = await pool.acquire()
        half = await check.check()
        assert (half.status, half.observed_value) == (Status.PASS, 50.0)
        second = await pool.acquire()
        full = await check.check()
        assert (full.status, full.observed_value, full.output) == (Status.WARN, 100.0, "2 of 2 in use")
        assert (await PoolCheck(pool, fail_at=1.0).check()).status is Status.FAIL
        await pool.release(first)
        await pool.release(second)
        assert (await check.check()).status is Status.PASS


async def test_callers_waiting_on_a_pool_warn() -> None:
    async with Pool(ChannelFactory(), min_size=0, max_size=1) as pool:
        held = await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        result = await PoolCheck(pool, warn_at=1.0, fail_at=None).check()
        assert result.status is Status.WARN
        assert result.output in ("1 of 1 in use", "1 caller(s) waiting")
        await pool.release(held)
        await pool.release(await waiter)


class State(enum.Enum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


class Guarded:
    """Any object with a circuit breaker: ``breaker_state`` is all the check reads."""

    def __init__(self) -> None:
        self.breaker_state: object = State.CLOSED


async def test_a_breaker_open_fails_half_open_warns() -> None:
    guarded = Guarded()
    check = BreakerCheck(guarded)
    assert (await check.check()).status is Status.PASS
    guarded.breaker_state = State.HALF_OPEN
    assert (await check.check()).status is Status.WARN
    guarded.breaker_state = "open"
    opened = await check.check()
    assert (opened.status, opened.output) == (Status.FAIL, "circuit breaker open")
    guarded.breaker_state = "melted"
    assert (await check.check()).status is Status.FAIL
    with pytest.raises(HealthTypeError):
        BreakerCheck(object())  # type: ignore[arg-type]


async def test_an_outbox_backlog_warns_then_fails() -> None:
    outbox = MemoryOutbox()
    await outbox.endpoints.create(Endpoint("https://example.test/hook", (SECRET,)))
    check = BacklogCheck(outbox, warn_above=1, fail_above=2)
    assert (await check.check()).status is Status.PASS
    for index in range(2):
        await outbox.send("order.paid", {"n": index})
    waiting = await check.check()
    assert (waiting.status, waiting.observed_value) == (Status.WARN, 2)
    await outbox.send("order.paid", {"n": 3})
    assert (await check.check()).status is Status.FAIL


def test_backlog_checks_its_arguments() -> None:
    outbox = MemoryOutbox()
    with pytest.raises(HealthConfigurationError):
        BacklogCheck(outbox, warn_above=10, fail_above=5)
    with pytest.raises(HealthTypeError):
        BacklogCheck(outbox, states=[])  # type: ignore[arg-type]
    with pytest.raises(HealthTypeError):
        BacklogCheck(object())  # type: ignore[arg-type]


@pytest.mark.redis
async def test_a_buttress_cache_breaker_fails_the_check_while_open(redis_server: RedisServer) -> None:
    cache: RedisCache[str] = RedisCache.from_url(
        redis_server.url, socket_timeout=0.5, prefix="bt:", breaker_threshold=2, breaker_recovery=3600
    )
    registry = HealthRegistry()
    registry.add("cache:breaker", BreakerCheck(cache), critical=False)
    try:
        await cache.set("k", "v")
        assert (await registry.ready()).status is Status.PASS
        redis_server.stop()
        for _ in range(2):
            assert await cache.get("k") is MISSING
        report = await registry.ready()
        assert report.checks[0].status is Status.FAIL
        assert report.checks[0].result.output == "circuit breaker open"
        assert report.status is Status.WARN, "a cache serving misses warns; it does not take the service out"
    finally:
        await cache.aclose()
