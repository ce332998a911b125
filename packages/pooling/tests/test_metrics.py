"""Every instrument of buttress.pooling, read back through buttress-testing's metric_reader."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from buttress.pooling import Pool, PoolExhaustedError, PoolTimeoutError
from buttress.testing import RecordedMetrics

from .conftest import FactoryError, FlakyFactory


def make(factory: Any, name: str, **options: Any) -> Pool[Any]:
    return Pool(factory, health_check_interval=None, timeout=1.0, name=name, **options)


async def test_sizes_are_observed_per_state(factory: FlakyFactory, metric_reader: RecordedMetrics) -> None:
    pool = make(factory, "metrics-sizes", min_size=2, max_size=3)
    async with pool:
        await pool.open()
        async with pool.acquire():
            name = {"pool.name": "metrics-sizes"}
            assert metric_reader.value("buttress.pooling.resources", {**name, "pool.state": "in_use"}) == 1
            assert metric_reader.value("buttress.pooling.resources", {**name, "pool.state": "idle"}) == 1
            for state in ("creating", "destroying", "unhealthy"):
                assert metric_reader.value("buttress.pooling.resources", {**name, "pool.state": state}) == 0
            assert metric_reader.value("buttress.pooling.resources.max", name) == 3
            assert metric_reader.value("buttress.pooling.resources.min", name) == 2
            assert metric_reader.value("buttress.pooling.waiting", name) == 0


async def test_waiting_callers_are_observed(factory: FlakyFactory, metric_reader: RecordedMetrics) -> None:
    async with make(factory, "metrics-waiting", max_size=1) as pool:
        held = await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        assert metric_reader.value("buttress.pooling.waiting", {"pool.name": "metrics-waiting"}) == 1
        await pool.release(held)
        await pool.release(await waiter)


async def test_created_and_destroyed_are_counted(
    factory: FlakyFactory, metric_reader: RecordedMetrics
) -> None:
    async with make(factory, "metrics-life", min_size=2, max_size=2) as pool:
        await pool.open()
    name = {"pool.name": "metrics-life"}
    assert metric_reader.value("buttress.pooling.created", name) == 2
    assert metric_reader.value("buttress.pooling.destroyed", name) == 2


async def test_failures_are_counted_by_operation(
    factory: FlakyFactory, metric_reader: RecordedMetrics
) -> None:
    factory.fail_create = True
    async with make(factory, "metrics-failures", backoff_initial=0.01) as pool:
        with pytest.raises(PoolTimeoutError):
            await pool.acquire(timeout=0.05)
        factory.fail_create = False
        factory.fail_reset = True
        factory.fail_destroy = True
        await pool.release(await pool.acquire())  # the reset fails, then the destroy
        factory.fail_check = True
        factory.fail_reset = False
        factory.fail_destroy = False
        await pool.release(await pool.acquire())
        await pool.run_health_check()  # the check answers False
    base = {"pool.name": "metrics-failures"}
    error = f"{FactoryError.__module__}.{FactoryError.__qualname__}"
    failures = metric_reader.points("buttress.pooling.failures", base)
    by_operation = {(p.attributes["pool.operation"], p.attributes["error.type"]): p.value for p in failures}
    assert by_operation[("create", error)] >= 1
    assert by_operation[("reset", error)] == 1
    assert by_operation[("destroy", error)] == 1
    assert by_operation[("check", "unhealthy")] == 1


async def test_timeouts_exhaustion_and_acquire_durations(
    factory: FlakyFactory, metric_reader: RecordedMetrics
) -> None:
    async with make(factory, "metrics-acquire", max_size=1, max_waiting=1) as pool:
        async with pool.acquire():
            with pytest.raises(PoolTimeoutError):
                await pool.acquire(timeout=0.01)
            waiter = asyncio.ensure_future(pool.acquire())
            await asyncio.sleep(0)
            with pytest.raises(PoolExhaustedError):
                await pool.acquire()
        await pool.release(await waiter)
    name = {"pool.name": "metrics-acquire"}
    assert metric_reader.value("buttress.pooling.timeouts", name) == 1
    assert metric_reader.value("buttress.pooling.exhausted", name) == 1
    durations = {
        p.attributes["outcome"]: p for p in metric_reader.points("buttress.pooling.acquire.duration", name)
    }
    assert durations["acquired"].count == 2
    assert durations["timeout"].count == 1
    assert durations["exhausted"].count == 1
    assert durations["timeout"].value > 0
