"""Pool behaviour, one guarantee per test, on a factory the tests control."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buttress.core import ConfigurationError
from buttress.pooling import (
    MAX_SIZE,
    ForeignResourceError,
    Pool,
    PoolClosedError,
    PoolConfig,
    PoolConfigurationError,
    PoolExhaustedError,
    PoolInvariantViolation,
    PoolTimeoutError,
    PoolTypeError,
    ResourceFactory,
    State,
)
from buttress.testing import FakeClock


def make(factory: Any, **options: Any) -> Pool[Any]:
    options.setdefault("health_check_interval", None)
    options.setdefault("timeout", 1.0)
    return Pool(factory, **options)


async def test_acquire_and_release_reuse_one_resource(factory: Any) -> None:
    async with make(factory, max_size=3) as pool:
        async with pool.acquire() as first:
            assert pool.stats().in_use == 1
        async with pool.acquire() as second:
            assert second is first
        assert factory.resets == 2
        assert pool.stats().idle == 1
    assert factory.created[0].destroyed == 1


async def test_open_fills_min_size_and_close_destroys_everything(factory: Any) -> None:
    pool = make(factory, min_size=3, max_size=5)
    await pool.open()
    assert pool.stats().idle == 3
    await pool.aclose()
    assert [t.destroyed for t in factory.created] == [1, 1, 1]
    assert pool.stats().total == 0


async def test_explicit_acquire_and_release(factory: Any) -> None:
    async with make(factory) as pool:
        resource = await pool.acquire()
        assert pool.stats().in_use == 1
        await pool.release(resource)
        assert pool.stats().in_use == 0


async def test_waiters_are_served_in_order(factory: Any) -> None:
    async with make(factory, max_size=1) as pool:
        held = await pool.acquire()
        served: list[int] = []

        async def wait(number: int) -> None:
            async with pool.acquire():
                served.append(number)
                await asyncio.sleep(0)

        waiters = [asyncio.ensure_future(wait(n)) for n in range(5)]
        await asyncio.sleep(0.01)
        assert pool.stats().waiting == 5
        await pool.release(held)
        await asyncio.gather(*waiters)
        assert served == [0, 1, 2, 3, 4]


async def test_max_size_is_never_exceeded_under_a_spike(factory: Any) -> None:
    factory.create_delay = 0.01
    peak = 0
    async with make(factory, max_size=4, timeout=60) as pool:

        async def work() -> None:
            nonlocal peak
            async with pool.acquire():
                peak = max(peak, pool.stats().total)
                await asyncio.sleep(0.001)

        await asyncio.gather(*(work() for _ in range(100)))
    assert peak <= 4
    assert len(factory.created) <= 4


async def test_lifo_and_fifo_order(factory: Any) -> None:
    for order, expected in (("lifo", "b"), ("fifo", "a")):
        pool = make(type(factory)(), order=order, max_size=2)
        async with pool:
            a, b = await pool.acquire(), await pool.acquire()
            names = {id(a): "a", id(b): "b"}
            await pool.release(a)
            await pool.release(b)
            async with pool.acquire() as next_one:
                assert names[id(next_one)] == expected, order


async def test_timeout_names_the_last_creation_error(factory: Any) -> None:
    factory.fail_create = True
    async with make(factory, backoff_initial=0.01) as pool:
        with pytest.raises(PoolTimeoutError) as info:
            await pool.acquire(timeout=0.1)
        assert isinstance(info.value, TimeoutError)
        assert "the server refused the connection" in str(info.value)
        assert pool.stats().create_errors >= 2, "creation was retried with backoff"
        assert pool.stats().timeouts == 1


async def test_creation_recovers_when_the_factory_does(factory: Any) -> None:
    factory.fail_create = True
    async with make(factory, backoff_initial=0.01, backoff_max=0.02) as pool:
        waiter = asyncio.ensure_future(pool.acquire(timeout=2))
        await asyncio.sleep(0.05)
        factory.fail_create = False
        resource = await waiter
        assert resource.destroyed == 0
        await pool.release(resource)


async def test_timeout_when_everything_is_in_use(factory: Any) -> None:
    async with make(factory, max_size=1) as pool, pool.acquire():
        with pytest.raises(PoolTimeoutError, match="all 1 resources are in use"):
            await pool.acquire(timeout=0.05)
        assert pool.stats().waiting == 0


async def test_a_shorter_timeout_behind_a_longer_one_times_out_first(factory: Any) -> None:
    """The line has one timer, armed at the earliest deadline: a later, shorter wait moves it forward."""
    async with make(factory, min_size=1, max_size=1, timeout=60) as pool:
        await pool.open()  # the first acquire finds a resource ready: no wait has armed the timer
        held = await pool.acquire()
        patient = asyncio.ensure_future(pool.acquire(timeout=5))
        await asyncio.sleep(0)
        with pytest.raises(PoolTimeoutError):
            await pool.acquire(timeout=0.02)
        assert not patient.done(), "the longer wait ended with the shorter one"
        assert pool.stats().waiting == 1
        patient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await patient
        assert pool.stats().timeouts == 1
        await pool.release(held)


async def test_waits_time_out_after_the_earliest_waiter_was_served_or_cancelled(factory: Any) -> None:
    """The line's timer fires for a waiter that is gone and is armed again for the next deadline."""
    async with make(factory, max_size=1) as pool:
        held = await pool.acquire()
        first = asyncio.ensure_future(pool.acquire(timeout=0.01))
        gone = asyncio.ensure_future(pool.acquire(timeout=0.02))
        later = [asyncio.ensure_future(pool.acquire(timeout=t)) for t in (0.04, 0.03, 0.05)]
        await asyncio.sleep(0)
        gone.cancel()
        await pool.release(held)  # served: `first`, whose deadline armed the timer
        await pool.release(await first)
        got = await asyncio.wait_for(asyncio.gather(*later, return_exceptions=True), 5)
        served = [g for g in got if not isinstance(g, BaseException)]
        failed = [type(g) for g in got if isinstance(g, BaseException)]
        assert failed == [PoolTimeoutError] * (3 - len(served))
        for resource in served:
            await pool.release(resource)
        stats = pool.stats()
        assert (stats.waiting, stats.in_use, stats.timeouts) == (0, 0, 3 - len(served))


async def test_a_wait_sets_no_timer_of_its_own(factory: Any) -> None:
    """Waiters with the default timeout share the line's one timer: waiting adds no loop timers."""
    loop = asyncio.get_running_loop()
    async with make(factory, max_size=1) as pool, pool.acquire():
        waiters = [asyncio.ensure_future(pool.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        timers = len(loop._scheduled)  # type: ignore[attr-defined] # the loop's heap of TimerHandles
        waiters += [asyncio.ensure_future(pool.acquire()) for _ in range(50)]
        await asyncio.sleep(0)
        assert len(loop._scheduled) == timers  # type: ignore[attr-defined]
        assert pool.stats().waiting == 52
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        assert pool.stats().waiting == 0


async def test_max_waiting_refuses_at_once(factory: Any) -> None:
    async with make(factory, max_size=1, max_waiting=1) as pool:
        async with pool.acquire():
            first = asyncio.ensure_future(pool.acquire(timeout=1))
            await asyncio.sleep(0)
            with pytest.raises(PoolExhaustedError):
                await pool.acquire()
            assert pool.stats().exhausted == 1
        await pool.release(await first)


async def test_a_cancelled_waiter_never_leaks_a_resource(factory: Any) -> None:
    async with make(factory, max_size=1) as pool:
        held = await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        # The cancellation lands in the same loop iteration as the hand-over, after it and before the
        # waiter runs again: the waiter is handed the resource but never gets to use it.
        factory.on_reset = lambda: asyncio.get_running_loop().call_soon(waiter.cancel)
        await pool.release(held)
        factory.on_reset = None
        with pytest.raises(asyncio.CancelledError):
            await waiter
        stats = pool.stats()
        assert (stats.in_use, stats.idle) == (0, 1), stats
        async with pool.acquire(timeout=0.1) as again:
            assert again is held


async def test_a_waiter_that_times_out_as_it_is_served_leaks_nothing(factory: Any) -> None:
    async with make(factory, max_size=1) as pool:
        held = await pool.acquire()
        results = await asyncio.gather(
            pool.acquire(timeout=0.05), _release_later(pool, held, 0.05), return_exceptions=True
        )
        got = results[0]
        if isinstance(got, BaseException):
            assert isinstance(got, PoolTimeoutError)
            assert pool.stats().in_use == 0
        else:
            assert pool.stats().in_use == 1
            await pool.release(got)
        assert pool.stats().in_use == 0


async def _release_later(pool: Pool[Any], resource: Any, delay: float) -> None:
    await asyncio.sleep(delay)
    await pool.release(resource)


async def test_a_cancelled_release_still_returns_the_resource(factory: Any) -> None:
    factory.reset_delay = 0.05
    async with make(factory) as pool:
        resource = await pool.acquire()
        releasing = asyncio.ensure_future(pool.release(resource))
        await asyncio.sleep(0.01)
        releasing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await releasing
        await asyncio.sleep(0.1)
        stats = pool.stats()
        assert (stats.in_use, stats.idle) == (0, 1), stats


async def test_an_error_while_giving_back_reaches_the_releasing_caller(
    factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release's work runs in the pool's task; what it raises (a bug) is raised by `release`."""
    factory.reset_delay = 0.01
    async with make(factory) as pool:
        resource = await pool.acquire()

        def broken(slot: Any) -> None:
            raise PoolInvariantViolation("a bug", {"total": 1})

        monkeypatch.setattr(pool, "_offer", broken)
        with pytest.raises(PoolInvariantViolation):
            await asyncio.wait_for(pool.release(resource), 5)
        monkeypatch.undo()
        await pool.aclose(timeout=0)


async def test_a_failed_reset_destroys_instead_of_reusing(factory: Any) -> None:
    factory.fail_reset = True
    async with make(factory) as pool:
        first = await pool.acquire()
        await pool.release(first)
        assert first.destroyed == 1
        assert pool.stats().reset_failures == 1
        async with pool.acquire() as second:
            assert second is not first


async def test_discard_destroys(factory: Any) -> None:
    async with make(factory) as pool:
        resource = await pool.acquire()
        await pool.release(resource, discard=True)
        assert resource.destroyed == 1
        assert pool.stats().total == 0


async def test_releasing_what_the_pool_did_not_hand_out(factory: Any) -> None:
    async with make(factory) as pool:
        with pytest.raises(ForeignResourceError):
            await pool.release(object())
        resource = await pool.acquire()
        await pool.release(resource)
        with pytest.raises(ForeignResourceError) as info:
            await pool.release(resource)
        assert isinstance(info.value, ValueError)


async def test_lifetime_retires_resources_with_jitter(factory: Any) -> None:
    clock = FakeClock()
    factory.clock = clock
    draws = itertools.chain([0.0, 1.0 - 1e-9], itertools.repeat(0.5))
    async with make(
        factory, max_size=2, max_lifetime=100, lifetime_jitter=0.05, clock=clock, rng=lambda: next(draws)
    ) as pool:
        a, b = await pool.acquire(), await pool.acquire()  # lifetimes 100 and ~95
        await pool.release(a)
        await pool.release(b)
        clock.advance(96)
        await pool.run_health_check()
        assert b.destroyed == 1
        assert a.destroyed == 0
        clock.advance(5)
        async with pool.acquire() as fresh:
            assert fresh not in (a, b), "an expired resource is never handed out"
        assert a.destroyed == 1


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(
    lifetime=st.floats(1, 1000),
    steps=st.lists(st.tuples(st.floats(0, 600), st.integers(1, 3)), min_size=1, max_size=8),
)
async def test_no_resource_older_than_max_lifetime_is_handed_out(
    factory_type: Any, lifetime: float, steps: list[tuple[float, int]]
) -> None:
    """Property 2 (lifetime): after a health pass, no resource older than max_lifetime is handed out."""
    clock = FakeClock()
    factory = factory_type(clock=clock)
    async with make(factory, max_size=3, max_lifetime=lifetime, clock=clock) as pool:
        for seconds, count in steps:
            clock.advance(seconds)
            await pool.run_health_check()
            held = [await pool.acquire() for _ in range(count)]
            for resource in held:
                assert clock.monotonic() - resource.born < lifetime
            for resource in held:
                await pool.release(resource)


async def test_max_idle_trims_down_to_min_size(factory: Any) -> None:
    clock = FakeClock()
    async with make(factory, min_size=1, max_size=4, max_idle=60, clock=clock) as pool:
        held = [await pool.acquire() for _ in range(4)]
        for resource in held:
            await pool.release(resource)
        clock.advance(61)
        await pool.run_health_check()
        assert pool.stats().total == 1, "idle resources beyond min_size are closed"


async def test_health_check_replaces_unhealthy_resources(factory: Any) -> None:
    async with make(factory, min_size=2, max_size=2) as pool:
        await pool.open()
        factory.fail_check = True
        await pool.run_health_check()
        assert pool.stats().check_failures == 2
        factory.fail_check = False
        assert [t.destroyed for t in factory.created[:2]] == [1, 1]
        assert pool.stats().idle == 2, "refilled to min_size"


async def test_the_health_loop_runs_by_itself(factory: Any) -> None:
    async with Pool(factory, min_size=1, health_check_interval=0.02) as pool:
        await pool.open()
        await asyncio.sleep(0.1)
        assert factory.checks >= 2
        assert pool.stats().idle == 1


async def test_close_waits_for_resources_in_use(factory: Any) -> None:
    pool = make(factory)
    await pool.open()
    resource = await pool.acquire()
    closing = asyncio.ensure_future(pool.aclose(timeout=5))
    await asyncio.sleep(0.01)
    assert not closing.done(), "close waits for the resource in use"
    with pytest.raises(PoolClosedError):
        await pool.acquire()
    await pool.release(resource)
    await closing
    assert resource.destroyed == 1


async def test_close_destroys_stragglers_after_its_timeout(
    factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make(factory)
    await pool.open()
    resource = await pool.acquire()
    with caplog.at_level(logging.WARNING, logger="buttress.pooling"):
        await pool.aclose(timeout=0.02)
    assert resource.destroyed == 1
    assert "still in use" in caplog.text
    await pool.release(resource)  # late release after a forced close is a no-op
    assert resource.destroyed == 1


async def test_close_fails_waiters_and_awaits_creations_in_flight(factory: Any) -> None:
    factory.create_delay = 0.05
    pool = make(factory, max_size=2)
    await pool.open()
    waiters = [asyncio.ensure_future(pool.acquire()) for _ in range(2)]
    await asyncio.sleep(0.01)
    await pool.aclose()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, PoolClosedError) for r in results)
    assert [t.destroyed for t in factory.created] == [1] * len(factory.created)
    assert len(factory.created) == 2


async def test_destroy_errors_are_counted_never_raised(factory: Any) -> None:
    factory.fail_destroy = True
    pool = make(factory, min_size=2, max_size=2)
    await pool.open()
    await pool.aclose()
    assert pool.stats().destroy_errors == 2
    assert pool.stats().total == 0


async def test_drain_replaces_every_resource(factory: Any) -> None:
    async with make(factory, min_size=2, max_size=3) as pool:
        held = await pool.acquire()
        await pool.drain()
        assert all(t.destroyed == 1 for t in factory.created[:2] if t is not held)
        await pool.release(held)
        assert held.destroyed == 1, "a resource from before the drain is not reused"
        for _ in range(20):  # its replacement is made in the background, after the release returned
            if pool.stats().idle == 2:
                break
            await asyncio.sleep(0)
        assert pool.stats().idle == 2


async def test_resize(factory: Any) -> None:
    async with make(factory, min_size=1, max_size=4) as pool:
        held = [await pool.acquire() for _ in range(4)]
        await pool.resize(max_size=2)
        for resource in held:
            await pool.release(resource)
        assert pool.stats().total <= 2
        await pool.resize(min_size=3, max_size=5)
        assert pool.stats().total == 3
        with pytest.raises(PoolConfigurationError, match="max_size"):
            await pool.resize(min_size=6)


async def test_the_invariant_is_checked(factory: Any) -> None:
    async with make(factory) as pool:
        pool._books.counts[State.IDLE] += 1  # corrupt the books as a bug would
        with pytest.raises(PoolInvariantViolation) as info:
            await pool.acquire()
        assert info.value.counts["idle"] == 1
        assert info.value.counts["creating"] == 1
        assert info.value.counts["total"] == 1
        assert "idle + in_use + creating + destroying + unhealthy != total" in str(info.value)
        pool._books.counts[State.IDLE] -= 1


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"min_size": 5, "max_size": 2}, "max_size"),
        ({"max_size": 0}, "max_size"),
        ({"min_size": -1}, "min_size"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"max_waiting": -1}, "max_waiting"),
        ({"max_lifetime": 0}, "max_lifetime"),
        ({"lifetime_jitter": 0.9}, "lifetime_jitter"),
        ({"max_idle": -5}, "max_idle"),
        ({"health_check_interval": 0}, "health_check_interval"),
        ({"order": "random"}, "order"),
        ({"backoff_initial": float("nan")}, "backoff_initial"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_settings_name_the_field(factory: Any, options: dict[str, Any], name: str) -> None:
    with pytest.raises(PoolConfigurationError) as info:
        Pool(factory, **options)
    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, ValueError)
    assert info.value.parameter == name


def test_a_factory_without_create_and_destroy_is_refused() -> None:
    with pytest.raises(PoolConfigurationError, match="factory"):
        Pool(object())  # type: ignore[misc]


async def test_acquire_timeout_is_validated(factory: Any) -> None:
    async with make(factory) as pool:
        with pytest.raises(PoolConfigurationError, match="timeout"):
            pool.acquire(timeout=-1)


def test_flaky_factory_is_a_resource_factory(factory: Any) -> None:
    assert isinstance(factory, ResourceFactory)


async def test_max_waiting_zero_still_lets_the_pool_grow(factory: Any) -> None:
    async with make(factory, max_size=2, max_waiting=0) as pool:
        first = await pool.acquire()
        second = await pool.acquire()
        with pytest.raises(PoolExhaustedError):
            await pool.acquire()
        await pool.release(first)
        await pool.release(second)


async def test_a_caller_who_finds_only_expired_resources_gets_a_new_one(factory: Any) -> None:
    clock = FakeClock()
    async with make(factory, min_size=2, max_size=2, max_lifetime=10, lifetime_jitter=0, clock=clock) as pool:
        await pool.open()
        clock.advance(11)  # both idle resources are past their lifetime; no health pass runs
        async with pool.acquire(timeout=2) as fresh:
            assert fresh.destroyed == 0
            assert fresh not in factory.created[:2]


# --- arguments are checked before anything changes (issue 17) ------------------------------------------


@pytest.mark.parametrize("timeout", ["soon", -1, -0.5, math.nan, math.inf, 10**400, True, [1]])
async def test_a_refused_close_leaves_the_pool_open_and_a_good_close_destroys_everything(
    factory: Any, timeout: object
) -> None:
    """A close with a bad timeout used to mark the pool closing first, so the next close returned at once."""
    pool = make(factory, min_size=2, max_size=3)
    await pool.open()
    resource = await pool.acquire()
    with pytest.raises(PoolConfigurationError) as info:
        await pool.aclose(timeout=timeout)  # type: ignore[arg-type]
    assert info.value.parameter == "timeout"
    assert not pool.closed
    async with pool.acquire() as other:  # still open for business
        assert other is not resource
    await pool.aclose(timeout=0.01)
    assert [t.destroyed for t in factory.created] == [1] * len(factory.created)
    assert resource.destroyed == 1
    assert pool.stats().total == 0


async def test_close_with_zero_destroys_resources_in_use_now_and_none_waits_without_limit(
    factory: Any,
) -> None:
    pool = make(factory)
    await pool.open()
    resource = await pool.acquire()
    await pool.aclose(timeout=0)
    assert resource.destroyed == 1

    other_pool = make(factory)
    await other_pool.open()
    held = await other_pool.acquire()
    closing = asyncio.ensure_future(other_pool.aclose(timeout=None))
    await asyncio.sleep(0.01)
    assert not closing.done()
    await other_pool.release(held)
    await closing
    assert held.destroyed == 1


async def test_a_close_cancelled_part_way_is_finished_by_the_next_close(factory: Any) -> None:
    pool = make(factory, min_size=1)
    await pool.open()
    resource = await pool.acquire()
    closing = asyncio.ensure_future(pool.aclose(timeout=60))
    await asyncio.sleep(0.01)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert pool.closed
    await pool.aclose(timeout=0)
    assert [t.destroyed for t in factory.created] == [1] * len(factory.created)
    assert resource.destroyed == 1


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("acquire", {"timeout": 10**400}),
        ("acquire", {"timeout": -1}),
        ("acquire", {"timeout": "1"}),
        ("resize", {"max_size": 10**400}),
        ("resize", {"min_size": -1}),
        ("resize", {"max_size": MAX_SIZE + 1}),
    ],
)
async def test_bad_arguments_are_refused_before_anything_changes(
    factory: Any, method: str, arguments: dict[str, object]
) -> None:
    async with make(factory, min_size=1, max_size=2) as pool:
        before = pool.stats()
        with pytest.raises(PoolConfigurationError):
            await getattr(pool, method)(**arguments)
        assert pool.stats() == before


@pytest.mark.parametrize("flag", ["yes", 1, None])
async def test_flags_must_be_bools_and_are_checked_before_anything_changes(
    factory: Any, flag: object
) -> None:
    async with make(factory, max_size=2) as pool:
        resource = await pool.acquire()
        with pytest.raises(PoolTypeError, match="discard must be a bool"):
            await pool.release(resource, discard=flag)  # type: ignore[arg-type]
        assert pool.stats().released == 0
        assert pool.stats().in_use == 1
        await pool.release(resource)
    fresh = make(factory)
    with pytest.raises(PoolTypeError, match="wait must be a bool"):
        await fresh.open(wait=flag)  # type: ignore[arg-type]
    assert fresh.stats().total == 0
    await fresh.open()
    await fresh.aclose()


async def test_creation_keeps_retrying_past_a_thousand_failures(caplog: pytest.LogCaptureFixture) -> None:
    """The backoff step 2**attempts overflowed a float past 1,024 failures, and the retries stopped."""

    class FailsAThousandTimes:
        def __init__(self) -> None:
            self.failures = 0

        async def create(self) -> object:
            if self.failures < 1100:
                self.failures += 1
                raise OSError("connection refused")
            return object()

        async def destroy(self, resource: object) -> None:
            pass

    caplog.set_level(logging.ERROR, logger="buttress.pooling")  # 1,100 creation warnings
    factory = FailsAThousandTimes()
    tiny = 1e-9
    pool = Pool(factory, min_size=1, health_check_interval=None, backoff_initial=tiny, backoff_max=tiny)
    async with pool:
        await pool.release(await pool.acquire(timeout=60))  # a guard against hanging, not a timing assertion
    assert factory.failures == 1100
    assert pool.stats().create_errors == 1100


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"clock": "monotonic"}, PoolTypeError),
        ({"rng": 0.5}, PoolTypeError),
        ({"check_on_acquire": "yes"}, PoolTypeError),
        ({"lifetime_jitter": 10**400}, PoolConfigurationError),
        ({"max_lifetime": 10**400}, PoolConfigurationError),
        ({"name": "a\x00b"}, PoolConfigurationError),
        ({"order": ["lifo"]}, PoolConfigurationError),
        ({"max_waiting": 10**400}, PoolConfigurationError),
    ],
)
def test_constructor_refuses_bad_settings_with_typed_errors(
    factory: Any, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Pool(factory, **options)  # type: ignore[arg-type]


def test_state_lookup_of_an_unknown_value_is_a_typed_error() -> None:
    with pytest.raises(PoolConfigurationError, match="not a State"):
        State("sleeping")
    assert State("idle") is State.IDLE


# --- opening, closing and the config (issue 18) --------------------------------------------------------


async def test_making_and_entering_a_pool_do_no_io_and_the_first_acquire_starts_it(factory: Any) -> None:
    pool = make(factory, min_size=3, max_size=5)
    async with pool:
        assert factory.created == [], "async with does no I/O"
        assert pool.stats().total == 0
        async with pool.acquire() as resource:
            assert resource.destroyed == 0
        await asyncio.sleep(0.01)  # the min_size creations the first acquire started
        assert pool.stats().total == 3
    assert [t.destroyed for t in factory.created] == [1, 1, 1]


async def test_open_warms_the_pool_up_and_is_idempotent(factory: Any) -> None:
    async with make(factory, min_size=2, max_size=4) as pool:
        await pool.open()
        assert pool.stats().idle == 2
        await pool.open()
        assert len(factory.created) == 2
    with pytest.raises(PoolClosedError):
        await pool.open()


async def test_aclose_is_idempotent_and_async_with_closes(factory: Any) -> None:
    pool = make(factory, min_size=1)
    async with pool:
        await pool.open()
    assert pool.closed
    await pool.aclose()
    await pool.aclose(timeout=0)
    assert [t.destroyed for t in factory.created] == [1]
    with pytest.raises(PoolClosedError):
        await pool.acquire()


def test_a_config_is_frozen_checked_and_shared(factory: Any) -> None:
    config = PoolConfig(min_size=1, max_size=4, timeout=2, name="shared")
    assert config.timeout == 2.0
    assert isinstance(config.timeout, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_size = 5  # type: ignore[misc]
    first, second = Pool(factory, config=config), Pool(factory, config=config, max_size=8)
    assert first.config is config
    assert (second.config.min_size, second.config.max_size, second.name) == (1, 8, "shared")
    with pytest.raises(PoolConfigurationError) as info:
        dataclasses.replace(config, max_size=0)
    assert info.value.parameter == "max_size"


def test_a_setting_that_does_not_exist_and_a_config_of_the_wrong_type_are_refused(factory: Any) -> None:
    with pytest.raises(PoolConfigurationError) as info:
        Pool(factory, max_sise=3)  # type: ignore[call-arg]
    assert info.value.parameter == "max_sise"
    with pytest.raises(PoolTypeError):
        Pool(factory, config={"max_size": 3})  # type: ignore[arg-type]


async def test_resize_updates_the_config(factory: Any) -> None:
    async with make(factory, min_size=1, max_size=4) as pool:
        await pool.resize(max_size=6)
        assert (pool.config.min_size, pool.config.max_size) == (1, 6)
        assert pool.stats().max_size == 6


async def test_a_timed_out_waiter_leaves_the_line(factory: Any) -> None:
    """A timed-out waiter stayed in the queue and counted against max_waiting until a release."""
    async with make(factory, max_size=1, max_waiting=1) as pool, pool.acquire():
        with pytest.raises(PoolTimeoutError):
            await pool.acquire(timeout=0.01)
        waiter = asyncio.ensure_future(pool.acquire(timeout=0.05))
        with pytest.raises(PoolTimeoutError):
            await waiter  # waited its turn: not refused as if two callers were waiting


async def test_a_timeout_after_failed_creations_carries_the_last_error(factory: Any) -> None:
    factory.fail_create = True
    async with make(factory, backoff_initial=0.01) as pool:
        with pytest.raises(PoolTimeoutError) as info:
            await pool.acquire(timeout=0.05)
    assert type(info.value.__cause__).__name__ == "FactoryError"
