"""Domain events: published only after the command and its unit of work succeeded; the outbox; the relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import Command
from buttress.cqrs import (
    CommandBus,
    CQRSConfigurationError,
    CQRSTypeError,
    Dependencies,
    Dispatch,
    EventBus,
    EventDeliveryError,
    MemoryOutbox,
    MemoryUnitOfWork,
    OutboxRelay,
    RetryMiddleware,
    TimeoutMiddleware,
    TransactionMiddleware,
)
from buttress.testing import RecordedMetrics

from .conftest import Collector, Deposit, Deposited, DepositHandler, Ledger

type Outcome = Literal["ok", "handler fails", "commit fails", "times out"]


@dataclass(frozen=True)
class Act(Command[str]):
    """A command whose handler records one event, then does what ``outcome`` says."""

    n: int
    outcome: Outcome


class Unit(MemoryUnitOfWork):
    """A memory unit of work whose commit can be made to fail."""

    fail_commit = False

    async def commit(self) -> None:
        if self.fail_commit:
            raise ConnectionError("the database went away at commit")
        await super().commit()


class ActHandler:
    def __init__(self, dispatch: Dispatch, unit: Unit, applied: list[int]) -> None:
        self.dispatch, self.unit, self.applied = dispatch, unit, applied

    async def handle(self, command: Act) -> str:
        self.dispatch.record(("acted", command.n))
        self.unit.on_commit(lambda: self.applied.append(command.n))
        self.unit.fail_commit = command.outcome == "commit fails"
        if command.outcome == "handler fails":
            raise ValueError("the handler refused")
        if command.outcome == "times out":
            await asyncio.sleep(60)
        return "done"


def act_bus(events: Collector, applied: list[int], *, outbox: MemoryOutbox | None = None) -> CommandBus:
    async def make(dispatch: Dispatch) -> ActHandler:
        return ActHandler(dispatch, await dispatch.get(Unit), applied)

    async def begin(dispatch: Dispatch) -> Unit:
        return await dispatch.get(Unit)

    # A short limit is safe: the other outcomes never yield to the loop, so they cannot time out.
    bus = CommandBus(
        middleware=[TimeoutMiddleware(0.005), TransactionMiddleware(begin, outbox=outbox)],
        events=events,
        provider=Dependencies().scoped(Unit, lambda _scope: Unit()),
    )
    bus.register(Act, factory=make)
    return bus


async def send_all(bus: CommandBus, commands: list[Act]) -> None:
    for command in commands:
        with contextlib.suppress(ValueError, ConnectionError, TimeoutError):
            await bus.send(command)


outcomes = st.lists(st.sampled_from(["ok", "handler fails", "commit fails", "times out"]), max_size=12)


@given(outcomes)
def test_property_events_are_published_only_after_a_successful_commit(plan: list[Outcome]) -> None:
    """Property: Events After Commit. A command's events reach the event handlers if and only if the
    command and its unit of work succeeded: never after a handler error, a failed commit (rolled
    back) or a timeout; and then in the order they were recorded."""
    events, applied = Collector(), []
    commands = [Act(n, outcome) for n, outcome in enumerate(plan)]
    asyncio.run(send_all(act_bus(events, applied), commands))
    succeeded = [c.n for c in commands if c.outcome == "ok"]
    assert events.seen == [("acted", n) for n in succeeded]
    assert applied == succeeded


@given(outcomes)
def test_property_the_outbox_holds_exactly_the_committed_events(plan: list[Outcome]) -> None:
    """Property: Transactional Outbox. With an outbox, a command's events are stored with its unit of
    work (only when it commits), not published in process; the relay then delivers them in order."""
    events, applied, outbox = Collector(), [], MemoryOutbox()
    commands = [Act(n, outcome) for n, outcome in enumerate(plan)]

    async def run() -> None:
        await send_all(act_bus(events, applied, outbox=outbox), commands)
        assert events.seen == []
        relayed = Collector()
        relay = OutboxRelay(outbox, relayed, batch=5)
        while await relay.relay_once():
            pass
        assert relayed.seen == [("acted", c.n) for c in commands if c.outcome == "ok"]
        assert outbox.pending == 0

    asyncio.run(run())


async def test_failed_attempts_publish_nothing_and_the_retry_publishes_once(ledger: Ledger) -> None:
    attempts: list[int] = []

    class Flaky:
        def __init__(self, dispatch: Dispatch) -> None:
            self.dispatch = dispatch

        async def handle(self, command: Deposit) -> int:
            self.dispatch.record(Deposited(command.account, command.amount))
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionError("transient")
            return command.amount

    async def make(dispatch: Dispatch) -> Flaky:
        return Flaky(dispatch)

    seen = Collector()
    bus = CommandBus(middleware=[RetryMiddleware(ConnectionError, attempts=3, delay=0)], events=seen)
    bus.register(Deposit, factory=make)
    assert await bus.send(Deposit("a", 3)) == 3
    assert len(attempts) == 3
    assert seen.seen == [Deposited("a", 3)]


async def test_event_bus_delivers_to_every_handler_of_the_type_and_its_bases() -> None:
    exact, base, other = Collector(), Collector(), Collector()
    events = EventBus()
    events.subscribe(Deposited, exact)
    events.subscribe(object, base)
    events.subscribe(str, other)
    await events.publish(Deposited("a", 1), "text")
    assert exact.seen == [Deposited("a", 1)]
    assert base.seen == [Deposited("a", 1), "text"]
    assert other.seen == ["text"]
    assert events.handlers(Deposited) == (exact, base)


async def test_one_failing_event_handler_does_not_starve_the_others(metric_reader: RecordedMetrics) -> None:
    class Broken:
        async def handle(self, event: object) -> None:
            raise KeyError("broken")

    after = Collector()
    events = EventBus()
    events.subscribe(Deposited, Broken())
    events.subscribe(Deposited, after)
    with pytest.raises(EventDeliveryError) as caught:
        await events.publish(Deposited("a", 1), Deposited("b", 2))
    assert [type(e) for e in caught.value.errors] == [KeyError, KeyError]
    assert after.seen == [Deposited("a", 1), Deposited("b", 2)]
    failed = {"cqrs.event": "Deposited", "cqrs.outcome": "failed"}
    assert metric_reader.value("buttress.cqrs.event.deliveries", failed) == 2
    delivered = {"cqrs.event": "Deposited", "cqrs.outcome": "delivered"}
    assert metric_reader.value("buttress.cqrs.event.deliveries", delivered) == 2


async def test_a_publishing_failure_after_commit_is_logged_not_raised(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def handle(self, event: object) -> None:
            raise KeyError("broken")

    async def make(dispatch: Dispatch) -> DepositHandler:
        return DepositHandler(ledger, dispatch)

    bus = CommandBus(events=Broken())
    bus.register(Deposit, factory=make)
    with caplog.at_level(logging.WARNING, logger="buttress.cqrs"):
        assert await bus.send(Deposit("a", 5)) == 5
    assert ledger.balances == {"a": 5}
    assert "publishing Deposited after Deposit failed" in caplog.text


async def test_events_recorded_without_a_destination_are_dropped_with_a_warning(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    async def make(dispatch: Dispatch) -> DepositHandler:
        return DepositHandler(ledger, dispatch)

    bus = CommandBus()
    bus.register(Deposit, factory=make)
    with caplog.at_level(logging.WARNING, logger="buttress.cqrs"):
        await bus.send(Deposit("a", 5))
    assert "were dropped" in caplog.text


async def test_the_relay_keeps_order_and_retries_what_failed(metric_reader: RecordedMetrics) -> None:
    outbox = MemoryOutbox()
    unit = MemoryUnitOfWork()
    await outbox.put(["a", "b", "c"], unit)
    await unit.commit()
    delivered: list[object] = []

    class Flaky:
        failures = 1

        async def handle(self, event: object) -> None:
            if event == "b" and self.failures:
                self.failures -= 1
                raise ConnectionError("down")
            delivered.append(event)

    relay = OutboxRelay(outbox, Flaky())
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 2
    assert delivered == ["a", "b", "c"]
    assert outbox.pending == 0
    assert metric_reader.value("buttress.cqrs.outbox.relayed", {"cqrs.outcome": "failed"}) == 1
    assert metric_reader.value("buttress.cqrs.outbox.relayed", {"cqrs.outcome": "delivered"}) == 3


async def test_the_relay_runs_in_the_background_until_closed() -> None:
    outbox = MemoryOutbox()
    seen = Collector()
    async with OutboxRelay(outbox, seen) as relay:
        relay.start(interval=0.001)
        relay.start(interval=0.001)  # once
        unit = MemoryUnitOfWork()
        await outbox.put(["x"], unit)
        await unit.commit()
        for _ in range(1000):
            if seen.seen:
                break
            await asyncio.sleep(0.001)
    assert seen.seen == ["x"]
    assert relay.closed


async def test_a_memory_unit_of_work_is_used_once() -> None:
    unit = MemoryUnitOfWork()
    await unit.commit()
    assert unit.state == "committed"
    with pytest.raises(CQRSConfigurationError):
        unit.on_commit(lambda: None)
    with pytest.raises(CQRSConfigurationError):
        await unit.commit()
    await unit.rollback()  # a committed unit stays committed
    assert unit.state == "committed"


async def test_the_memory_outbox_joins_only_a_memory_unit_of_work() -> None:
    class Other:
        async def commit(self) -> None: ...
        async def rollback(self) -> None: ...

    with pytest.raises(CQRSTypeError):
        await MemoryOutbox().put(["x"], Other())


async def test_a_rollback_error_does_not_hide_the_original(caplog: pytest.LogCaptureFixture) -> None:
    class BadRollback(MemoryUnitOfWork):
        async def rollback(self) -> None:
            raise OSError("rollback failed too")

    async def begin(_dispatch: Dispatch) -> MemoryUnitOfWork:
        return BadRollback()

    class Failing:
        async def handle(self, command: Act) -> str:
            raise ValueError("the original")

    bus = CommandBus(middleware=[TransactionMiddleware(begin)])
    bus.register(Act, Failing())
    with caplog.at_level(logging.ERROR), pytest.raises(ValueError, match="the original"):
        await bus.send(Act(1, "ok"))
    assert "rollback failed" in caplog.text


def test_transaction_middleware_checks_its_arguments() -> None:
    with pytest.raises(CQRSTypeError):
        TransactionMiddleware("not callable")  # type: ignore[arg-type]
    with pytest.raises(CQRSTypeError):
        TransactionMiddleware(lambda d: MemoryUnitOfWork(), outbox=object())  # type: ignore[arg-type,return-value]


async def test_a_unit_of_work_factory_must_give_a_unit_of_work() -> None:
    async def begin(_dispatch: Dispatch) -> Any:
        return "no unit"

    class Ok:
        async def handle(self, command: Act) -> str:
            return "done"

    bus = CommandBus(middleware=[TransactionMiddleware(begin)])
    bus.register(Act, Ok())
    with pytest.raises(CQRSTypeError):
        await bus.send(Act(1, "ok"))
