"""Property 1/4: the counter invariant and transition consistency, under any sequence of operations.

A hypothesis state machine drives a real Pool with a factory that can be told to fail: acquires,
releases (plain and discarding), failing creates, destroys, checks and resets, clock advances past
lifetimes and idle times followed by health passes, cancelled acquires, drains, resizes and close.
The pool checks its own invariant after every transition (it raises PoolInvariantViolation); the
machine checks the public view after every step. Property 3 (closure completeness) is checked at
the end of every run: every resource created was destroyed exactly once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from buttress.pooling import Pool, PoolClosedError, PoolError, PoolExhaustedError, PoolTimeoutError
from buttress.testing import FakeClock

MAX_SIZE = 4


class PoolMachine(RuleBasedStateMachine):
    factory_type: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.factory = self.factory_type(clock=self.clock)
        self.pool = Pool(
            self.factory,
            min_size=1,
            max_size=MAX_SIZE,
            timeout=0.02,
            max_waiting=8,
            max_lifetime=100.0,
            max_idle=30.0,
            health_check_interval=None,
            backoff_initial=0.001,
            backoff_max=0.005,
            clock=self.clock,
        )
        self.held: list[Any] = []
        self.closed = False
        self.steps = 0
        self.run(self.pool.open())

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @rule()
    def acquire(self) -> None:
        try:
            resource = self.run(self.pool.acquire())
        except (PoolTimeoutError, PoolExhaustedError):
            return
        except PoolClosedError:
            assert self.closed
            return
        assert not self.closed
        assert resource.destroyed == 0, "a destroyed resource was handed out"
        assert resource not in self.held, "one resource handed out twice"
        assert self.clock.monotonic() - resource.born < 100.0, "Property 2: handed out past max_lifetime"
        self.held.append(resource)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), discard=st.sampled_from([False, False, False, True]))
    def release(self, data: st.DataObject, discard: bool) -> None:
        resource = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        self.run(self.pool.release(resource, discard=discard))

    @precondition(lambda self: self.held)
    @rule()
    def release_newest(self) -> None:
        # A second release rule makes releases as likely as acquires.
        self.run(self.pool.release(self.held.pop()))

    @rule(flag=st.sampled_from(["fail_create", "fail_destroy", "fail_check", "fail_reset"]), on=st.booleans())
    def switch_failure(self, flag: str, on: bool) -> None:
        setattr(self.factory, flag, on)

    @rule(seconds=st.sampled_from([1.0, 1.0, 31.0, 101.0]))
    def advance_and_check(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.run(self.pool.run_health_check())

    @rule()
    def cancelled_acquire(self) -> None:
        async def start_then_cancel() -> None:
            task = asyncio.ensure_future(self.pool.acquire())
            await asyncio.sleep(0)
            task.cancel()
            try:
                resource = await task
            except (asyncio.CancelledError, PoolError):
                return
            self.held.append(resource)  # it won the race: the caller holds it

        self.run(start_then_cancel())

    @rule()
    def let_background_work_run(self) -> None:
        self.run(asyncio.sleep(0.01))

    @precondition(lambda self: not self.closed)
    @rule()
    def drain(self) -> None:
        self.run(self.pool.drain())

    @precondition(lambda self: not self.closed)
    @rule(size=st.integers(1, MAX_SIZE))
    def resize(self, size: int) -> None:
        self.run(self.pool.resize(min_size=min(1, size), max_size=size))

    @precondition(lambda self: not self.closed and self.steps > 20)
    @rule()
    def close(self) -> None:
        self.closed = True
        self.run(self.pool.aclose(timeout=0.01))
        self.held.clear()  # destroyed by close after its timeout; their release is a no-op

    @invariant()
    def counters_add_up(self) -> None:
        self.steps += 1
        stats = self.pool.stats()
        parts = stats.idle + stats.in_use + stats.creating + stats.destroying + stats.unhealthy
        assert parts == stats.total, stats
        assert stats.total <= max(stats.max_size, MAX_SIZE), stats
        # Between steps nothing is being checked or reset, so in use means held by this caller.
        assert stats.in_use == len(self.held), (stats, self.held)
        assert len({id(r) for r in self.held}) == len(self.held)
        assert len(self.factory.alive) == stats.total - stats.creating, (stats, self.factory.alive)

    def teardown(self) -> None:
        try:
            for resource in self.held:
                self.run(self.pool.release(resource))
            self.run(self.pool.aclose(timeout=0.01))
            self.run(asyncio.sleep(0.01))  # let a pending backoff retry notice the close
            # Property 3: closure completeness, every created resource destroyed exactly once.
            assert [t.destroyed for t in self.factory.created] == [1] * len(self.factory.created)
            assert self.pool.stats().total == 0
        finally:
            self.loop.close()


def test_the_pool_keeps_its_invariants_whatever_happens(factory_type: type) -> None:
    """Property 1 (counter invariant) and Property 4 (transition consistency), plus 2 and 3."""
    PoolMachine.factory_type = factory_type
    run_state_machine_as_test(
        PoolMachine, settings=settings(max_examples=100, stateful_step_count=40, deadline=None)
    )
