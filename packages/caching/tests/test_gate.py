"""The bound on calls in flight that the caches' hot paths take without awaiting (`Gate`)."""

from __future__ import annotations

import asyncio
from collections import deque

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from buttress.caching._gate import Gate


class GateMachine(RuleBasedStateMachine):
    """Stateful test: the gate admits at most ``limit`` holders, first come first served.

    Whatever the arrivals, departures and cancellations (including a waiter cancelled just as a
    place is handed to it), the holders are exactly those a FIFO model admits, and no place is lost.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.entered: list[int] = []
        self.next_id = 0
        self.holding: set[int] = set()
        self.admitted: list[int] = []  # the model's order of admission
        self.left: set[int] = set()
        self.waiting: deque[int] = deque()
        self.free = 0
        self.limit = 0

    @initialize(limit=st.integers(1, 4))
    def start(self, limit: int) -> None:
        self.limit = self.free = limit
        self.gate = Gate(limit)

    def settle(self) -> None:
        for _ in range(5):
            self.loop.run_until_complete(asyncio.sleep(0))

    def admit(self, ident: int) -> None:
        self.holding.add(ident)
        self.admitted.append(ident)

    def promote(self) -> None:
        if self.waiting:
            self.admit(self.waiting.popleft())
        else:
            self.free += 1

    @rule()
    def arrive(self) -> None:
        ident = self.next_id
        self.next_id += 1

        async def enter() -> None:
            await self.gate.enter()
            self.entered.append(ident)

        self.tasks[ident] = self.loop.create_task(enter())
        if self.free and not self.waiting:
            self.free -= 1
            self.admit(ident)
        else:
            self.waiting.append(ident)
        self.settle()

    @rule()
    def try_enter(self) -> None:
        taken = self.gate.try_enter()
        assert taken == bool(self.free and not self.waiting)
        if taken:
            self.gate.leave()  # a hit's call, over at once

    @precondition(lambda self: self.holding)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        ident = data.draw(st.sampled_from(sorted(self.holding)))
        self.holding.discard(ident)
        self.left.add(ident)
        self.gate.leave()
        self.promote()
        self.settle()

    @precondition(lambda self: self.waiting)
    @rule(data=st.data())
    def cancel_a_waiter(self, data: st.DataObject) -> None:
        ident = data.draw(st.sampled_from(list(self.waiting)))
        self.tasks[ident].cancel()
        self.waiting.remove(ident)
        self.settle()

    @precondition(lambda self: self.holding and self.waiting)
    @rule()
    def leave_as_the_next_waiter_is_cancelled(self) -> None:
        """The place handed to a waiter cancelled before it ran goes on to the waiter after it."""
        ident = min(self.holding)
        self.holding.discard(ident)
        self.left.add(ident)
        self.gate.leave()
        cancelled = self.waiting.popleft()
        self.tasks[cancelled].cancel()
        self.promote()
        self.settle()

    @invariant()
    def the_holders_are_the_models(self) -> None:
        if self.limit:
            assert self.entered == self.admitted  # first come, first served
            assert set(self.entered) - self.left == self.holding
            assert len(self.holding) + self.free == self.limit
            assert self.gate._free == self.free  # no place lost or made up

    def teardown(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        self.settle()
        self.loop.close()


TestGate = GateMachine.TestCase
