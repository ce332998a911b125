"""Hostile input: every public constructor, function and method raises only the package's typed errors."""

from __future__ import annotations

import pytest

from buttress.cqrs import (
    Cached,
    CommandBus,
    CQRSError,
    Dependencies,
    Dispatch,
    EventBus,
    HandlerNotFoundError,
    LoggingMiddleware,
    MemoryOutbox,
    MemoryUnitOfWork,
    OutboxRelay,
    QueryBus,
    RetryMiddleware,
    TimeoutMiddleware,
    TransactionMiddleware,
    ValidationMiddleware,
    after,
    before,
)
from buttress.testing import acheck_hostile, check_hostile

from .conftest import Balance, BalanceHandler, Collector, Deposit, DepositHandler, DictCache, Ledger


async def begin(_dispatch: Dispatch) -> MemoryUnitOfWork:
    return MemoryUnitOfWork()


async def hook(_dispatch: Dispatch, *_result: object) -> None:
    return None


def test_every_constructor_types_its_errors() -> None:
    events = EventBus()
    check_hostile(CommandBus, middleware=[LoggingMiddleware()], events=events, provider=Dependencies())
    check_hostile(
        QueryBus, middleware=(), provider=None, cache=DictCache(), events=events, cache_prefix="app:"
    )
    check_hostile(Cached, ttl=30.0, key=str)
    check_hostile(LoggingMiddleware, None, level=20)
    check_hostile(RetryMiddleware, ConnectionError, attempts=3, delay=0.0, max_delay=1.0, jitter=False)
    check_hostile(TimeoutMiddleware, 1.0)
    check_hostile(TransactionMiddleware, begin, outbox=MemoryOutbox())
    check_hostile(ValidationMiddleware, strict=False)
    check_hostile(OutboxRelay, MemoryOutbox(), events, batch=10)
    check_hostile(Dispatch, Deposit("a", 1), "command", provider=None)
    check_hostile(before, hook)
    check_hostile(after, hook)


def test_registration_types_its_errors(ledger: Ledger) -> None:
    def register_command(*args: object, **kwargs: object) -> None:
        CommandBus().register(*args, **kwargs)  # type: ignore[call-overload]

    def register_query(*args: object, **kwargs: object) -> None:
        QueryBus(cache=DictCache(), events=EventBus()).register(*args, **kwargs)  # type: ignore[call-overload]

    check_hostile(register_command, Deposit, DepositHandler(ledger), middleware=())
    check_hostile(register_command, Deposit, factory=begin, middleware=())
    check_hostile(register_query, Balance, BalanceHandler(ledger), middleware=(), cache=Cached())
    check_hostile(Cached[Balance]().invalidated_by, str, lambda e: Balance("a"))
    check_hostile(CommandBus().__contains__, Deposit)


async def test_dispatching_types_its_errors(ledger: Ledger) -> None:
    commands, queries = CommandBus(), QueryBus()
    commands.register(Deposit, DepositHandler(ledger))
    queries.register(Balance, BalanceHandler(ledger))
    await acheck_hostile(commands.send, Deposit("a", 1))
    await acheck_hostile(queries.ask, Balance("a"))
    with pytest.raises(HandlerNotFoundError):
        await commands.send("not a command")  # type: ignore[arg-type]


async def test_events_and_dependencies_type_their_errors() -> None:
    events = EventBus()
    await acheck_hostile(events.subscribe, str, Collector())
    await acheck_hostile(events.handlers, str)
    await acheck_hostile(events.publish, "event")
    await acheck_hostile(events.handle, "event")
    dependencies = Dependencies()
    await acheck_hostile(Dependencies().value, str, "value")
    await acheck_hostile(Dependencies().scoped, int, lambda _scope: 1)
    async with dependencies.value(str, "x").scope() as scope:
        await acheck_hostile(scope.get, str)


async def test_the_dispatch_types_its_errors() -> None:
    dispatch = Dispatch(Deposit("a", 1), "command", provider=Dependencies().value(str, "x"))
    await acheck_hostile(dispatch.record, "event")
    await acheck_hostile(dispatch.drop_events, 0)
    await acheck_hostile(dispatch.get, str)
    await dispatch._close(None)


async def test_units_of_work_and_the_outbox_type_their_errors() -> None:
    await acheck_hostile(MemoryUnitOfWork().on_commit, lambda: None)
    outbox = MemoryOutbox()
    await acheck_hostile(outbox.put, ["event"], MemoryUnitOfWork())
    await acheck_hostile(outbox.claim, 10)
    await acheck_hostile(outbox.ack, ["id"])
    relay = OutboxRelay(outbox, EventBus())
    await acheck_hostile(relay.start, 1.0)
    await relay.aclose()


def test_validation_types_its_errors() -> None:
    check_hostile(ValidationMiddleware().validate, Deposit("a", 1))


def test_errors_share_one_root() -> None:
    assert issubclass(HandlerNotFoundError, CQRSError)
