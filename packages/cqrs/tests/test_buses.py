"""CommandBus and QueryBus: one handler per type, typed errors, the onion, factories, scoped dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, make_dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import Command, CommandHandler, Query
from buttress.cqrs import (
    CommandBus,
    CQRSConfigurationError,
    CQRSTypeError,
    Dependencies,
    Dispatch,
    DuplicateHandlerError,
    HandlerNotFoundError,
    Next,
    QueryBus,
    after,
    before,
)

from .conftest import Balance, BalanceHandler, Deposit, DepositHandler, Layer, Ledger


async def test_send_reaches_the_registered_handler(ledger: Ledger) -> None:
    bus = CommandBus()
    bus.register(Deposit, DepositHandler(ledger))
    assert await bus.send(Deposit("a", 5)) == 5
    assert await bus.send(Deposit("a", 2)) == 7
    assert Deposit in bus
    assert bus.message_types == frozenset({Deposit})


async def test_ask_reaches_the_registered_handler(ledger: Ledger) -> None:
    ledger.balances["a"] = 3
    bus = QueryBus()
    bus.register(Balance, BalanceHandler(ledger))
    assert await bus.ask(Balance("a")) == 3


async def test_an_unregistered_type_raises_the_typed_error(ledger: Ledger) -> None:
    bus = CommandBus()
    with pytest.raises(HandlerNotFoundError) as caught:
        await bus.send(Deposit("a", 1))
    assert caught.value.message_type is Deposit
    assert isinstance(caught.value, LookupError)
    assert "Deposit" in str(caught.value)
    with pytest.raises(HandlerNotFoundError):
        await QueryBus().ask(Balance("a"))


async def test_a_subclass_is_not_its_base(ledger: Ledger) -> None:
    @dataclass(frozen=True)
    class BigDeposit(Deposit):
        pass

    bus = CommandBus()
    bus.register(Deposit, DepositHandler(ledger))
    with pytest.raises(HandlerNotFoundError):
        await bus.send(BigDeposit("a", 1))


def test_a_second_handler_for_a_type_is_refused(ledger: Ledger) -> None:
    bus = CommandBus()
    bus.register(Deposit, DepositHandler(ledger))
    with pytest.raises(DuplicateHandlerError) as caught:
        bus.register(Deposit, DepositHandler(ledger))
    assert caught.value.message_type is Deposit
    assert isinstance(caught.value, CQRSConfigurationError)
    queries = QueryBus()
    queries.register(Balance, BalanceHandler(ledger))
    with pytest.raises(DuplicateHandlerError):
        queries.register(Balance, BalanceHandler(ledger))


def test_registration_checks_its_arguments(ledger: Ledger) -> None:
    bus = CommandBus()
    with pytest.raises(CQRSTypeError):
        bus.register(Balance, BalanceHandler(ledger))  # type: ignore[type-var]  # a query on the command bus
    with pytest.raises(CQRSTypeError):
        bus.register(Deposit, DepositHandler)  # type: ignore[arg-type]  # a class, not an instance
    with pytest.raises(CQRSConfigurationError):
        bus.register(Deposit)  # type: ignore[call-overload]
    with pytest.raises(CQRSTypeError):
        bus.register(Deposit, DepositHandler(ledger), middleware=[print])  # type: ignore[list-item]
    assert bus.message_types == frozenset()


async def test_a_factory_builds_a_handler_per_dispatch(ledger: Ledger) -> None:
    built: list[DepositHandler] = []

    async def make(dispatch: Dispatch) -> DepositHandler:
        built.append(DepositHandler(ledger))
        return built[-1]

    bus = CommandBus()
    bus.register(Deposit, factory=make)
    await bus.send(Deposit("a", 1))
    await bus.send(Deposit("a", 1))
    assert len({id(h) for h in built}) == 2


async def test_scoped_dependencies_are_shared_within_a_dispatch_and_closed_after(ledger: Ledger) -> None:
    opened: list[Session] = []

    class Session:
        def __init__(self) -> None:
            self.closed_with: object = "open"

    @asynccontextmanager
    async def session(_scope: object) -> AsyncIterator[Session]:
        made = Session()
        opened.append(made)
        try:
            yield made
        except BaseException as exc:
            made.closed_with = type(exc)
            raise
        else:
            made.closed_with = None

    seen: list[Session] = []

    async def check(dispatch: Dispatch) -> None:
        seen.append(await dispatch.get(Session))

    class Handler:
        def __init__(self, session: Session) -> None:
            self.session = session

        async def handle(self, command: Deposit) -> int:
            seen.append(self.session)
            if command.amount < 0:
                raise ValueError("negative")
            return command.amount

    async def make(dispatch: Dispatch) -> Handler:
        return Handler(await dispatch.get(Session))

    bus = CommandBus(middleware=[before(check)], provider=Dependencies().scoped(Session, session))
    bus.register(Deposit, factory=make)
    await bus.send(Deposit("a", 1))
    assert seen[0] is seen[1]
    assert len(opened) == 1
    assert opened[0].closed_with is None
    with pytest.raises(ValueError, match="negative"):
        await bus.send(Deposit("a", -1))
    assert seen[2] is seen[3] is opened[1]
    assert opened[1].closed_with is ValueError


async def test_a_dispatch_without_a_provider_cannot_get_dependencies(ledger: Ledger) -> None:
    async def make(dispatch: Dispatch) -> DepositHandler:
        await dispatch.get(Ledger)
        return DepositHandler(ledger)

    bus = CommandBus()
    bus.register(Deposit, factory=make)
    with pytest.raises(CQRSConfigurationError, match="provider"):
        await bus.send(Deposit("a", 1))


async def test_before_and_after_hooks_wrap_the_handler(ledger: Ledger) -> None:
    trail: list[object] = []

    async def first(dispatch: Dispatch) -> None:
        trail.append(("before", dispatch.message))

    async def then(dispatch: Dispatch, result: object) -> None:
        trail.append(("after", result))

    bus = CommandBus(middleware=[before(first), after(then)])
    bus.register(Deposit, DepositHandler(ledger))
    await bus.send(Deposit("a", 4))
    assert trail == [("before", Deposit("a", 4)), ("after", 4)]
    with pytest.raises(CQRSTypeError):
        before(print)  # type: ignore[arg-type]
    with pytest.raises(CQRSTypeError):
        after(lambda d, r: None)  # type: ignore[arg-type,return-value]


async def test_a_middleware_may_replace_the_message(ledger: Ledger) -> None:
    async def double(dispatch: Dispatch, call_next: Next[Any]) -> Any:
        message = dispatch.message
        assert isinstance(message, Deposit)
        dispatch.message = Deposit(message.account, message.amount * 2)
        return await call_next(dispatch)

    bus = CommandBus(middleware=[double])
    bus.register(Deposit, DepositHandler(ledger))
    assert await bus.send(Deposit("a", 4)) == 8


async def test_a_query_records_no_events(ledger: Ledger) -> None:
    class Recording:
        async def handle(self, query: Balance) -> int:
            return 0

    async def make(dispatch: Dispatch) -> Recording:
        dispatch.record("an event")
        return Recording()

    bus = QueryBus()
    bus.register(Balance, factory=make)
    with pytest.raises(CQRSConfigurationError, match="records no events"):
        await bus.ask(Balance("a"))


# --- properties ---------------------------------------------------------------------------------------

MESSAGE_TYPES = [
    make_dataclass(f"Message{i}", [("value", int)], bases=(Command[tuple[int, int]],), frozen=True)
    for i in range(12)
]


class Recording:
    """A handler that returns (its index, the value) and keeps the messages it got."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.got: list[object] = []

    async def handle(self, command: Any) -> tuple[int, int]:
        self.got.append(command)
        return self.index, command.value


def recording_bus(registered: set[int]) -> tuple[CommandBus, dict[int, Recording]]:
    """A bus with a `Recording` handler for each registered message type."""
    bus = CommandBus()
    handlers = {i: Recording(i) for i in registered}
    for i, handler in handlers.items():
        bus.register(MESSAGE_TYPES[i], handler)
    return bus, handlers


REGISTERED = st.sets(st.integers(0, 11))
SENDS = st.lists(st.tuples(st.integers(0, 11), st.integers()), max_size=40)


@given(registered=REGISTERED, sends=SENDS)
def test_property_12_every_registered_message_reaches_exactly_its_handler(
    registered: set[int], sends: list[tuple[int, int]]
) -> None:
    """Property 12: Handler Resolution. Every message of a registered type reaches its own handler,
    exactly once, and no other handler."""
    bus, handlers = recording_bus(registered)

    async def run() -> None:
        for i, value in sends:
            if i in registered:
                assert await bus.send(MESSAGE_TYPES[i](value)) == (i, value)

    asyncio.run(run())
    for i, handler in handlers.items():
        assert handler.got == [MESSAGE_TYPES[i](v) for j, v in sends if j == i]


@given(registered=REGISTERED, sends=SENDS)
def test_property_13_an_unregistered_message_raises_the_typed_error(
    registered: set[int], sends: list[tuple[int, int]]
) -> None:
    """Property 13: Unregistered Messages. A message whose type has no handler raises
    HandlerNotFoundError naming its type, and reaches no handler."""
    bus, handlers = recording_bus(registered)

    async def run() -> None:
        for i, value in sends:
            if i not in registered:
                with pytest.raises(HandlerNotFoundError) as caught:
                    await bus.send(MESSAGE_TYPES[i](value))
                assert caught.value.message_type is MESSAGE_TYPES[i]

    asyncio.run(run())
    assert all(handler.got == [] for handler in handlers.values())


@dataclass(frozen=True)
class Step(Command[str]):
    fail: bool


@given(bus_layers=st.integers(0, 5), own_layers=st.integers(0, 5), fail=st.booleans())
def test_property_middleware_runs_as_an_ordered_onion(bus_layers: int, own_layers: int, fail: bool) -> None:
    """Property: Middleware Order. Bus middleware wraps per-type middleware, which wraps the handler;
    layers enter in the order given and leave in reverse, on success and on failure alike."""
    trail: list[str] = []

    class Handler:
        async def handle(self, command: Step) -> str:
            trail.append("handler")
            if command.fail:
                raise RuntimeError("handler failed")
            return "ok"

    outer = [Layer(f"bus{i}", trail) for i in range(bus_layers)]
    inner = [Layer(f"own{i}", trail) for i in range(own_layers)]
    bus = CommandBus(middleware=outer)
    bus.register(Step, Handler(), middleware=inner)

    async def run() -> None:
        if fail:
            with pytest.raises(RuntimeError):
                await bus.send(Step(fail=True))
        else:
            assert await bus.send(Step(fail=False)) == "ok"

    asyncio.run(run())
    names = [layer.name for layer in (*outer, *inner)]
    assert trail == [f"enter {n}" for n in names] + ["handler"] + [f"exit {n}" for n in reversed(names)]


def test_middleware_per_type_applies_to_its_type_only(ledger: Ledger) -> None:
    trail: list[str] = []
    bus = CommandBus()
    bus.register(Deposit, DepositHandler(ledger), middleware=[Layer("deposit", trail)])
    bus.register(Step, _StepHandler())
    asyncio.run(bus.send(Step(fail=False)))
    assert trail == []
    asyncio.run(bus.send(Deposit("a", 1)))
    assert trail == ["enter deposit", "exit deposit"]


class _StepHandler:
    async def handle(self, command: Step) -> str:
        return "ok"


def test_handlers_conform_to_core_protocols(ledger: Ledger) -> None:
    handler: CommandHandler[Deposit, int] = DepositHandler(ledger)
    assert isinstance(handler, CommandHandler)
    assert issubclass(Balance, Query)
