"""Hostile input: every public constructor, function and method raises only the package's typed errors."""

from __future__ import annotations

import pytest

import buttress.cqrs as cqrs
from buttress.cqrs import (
    Cached,
    CommandBus,
    CQRSConfigurationError,
    CQRSError,
    CQRSTypeError,
    Dependencies,
    Dispatch,
    DispatchTimeoutError,
    DuplicateHandlerError,
    EventBus,
    EventDeliveryError,
    HandlerNotFoundError,
    LoggingMiddleware,
    MemoryOutbox,
    MemoryUnitOfWork,
    MessageValidationError,
    MissingExtraError,
    OutboxEntry,
    OutboxRelay,
    QueryBus,
    RetryMiddleware,
    TimeoutMiddleware,
    TransactionMiddleware,
    ValidationMiddleware,
    after,
    before,
)
from buttress.testing import HostileTarget, HostileTargets, acheck_hostile, check_hostile

from .conftest import Balance, BalanceHandler, Collector, Deposit, DepositHandler, DictCache, Ledger


async def begin(_dispatch: Dispatch) -> MemoryUnitOfWork:
    return MemoryUnitOfWork()


async def hook(_dispatch: Dispatch, *_result: object) -> None:
    return None


EVENTS = EventBus()

TARGETS = HostileTargets()
TARGETS.add(CommandBus, middleware=[LoggingMiddleware()], events=EVENTS, provider=Dependencies())
TARGETS.add(QueryBus, middleware=(), provider=None, cache=DictCache(), events=EVENTS, cache_prefix="app:")
TARGETS.add(Cached, ttl=30.0, key=str)
TARGETS.add(LoggingMiddleware, None, level=20)
TARGETS.add(RetryMiddleware, ConnectionError, attempts=3, delay=0.0, max_delay=1.0, jitter=False)
TARGETS.add(TimeoutMiddleware, 1.0)
TARGETS.add(TransactionMiddleware, begin, outbox=MemoryOutbox())
TARGETS.add(ValidationMiddleware, strict=False)
TARGETS.add(ValidationMiddleware().validate, Deposit("a", 1))
TARGETS.add(OutboxRelay, MemoryOutbox(), EVENTS, batch=10)
TARGETS.add(OutboxEntry, "id", "event", 1)
TARGETS.add(Dispatch, Deposit("a", 1), "command", provider=None)
TARGETS.add(before, hook)
TARGETS.add(after, hook)
# The errors: building one from any arguments must not raise anything but a typed error.
TARGETS.add(CQRSError, "message")
TARGETS.add(CQRSConfigurationError, "batch", 0, "must be at least 1", show_value=True)
TARGETS.add(CQRSTypeError, "handler", "a handler", 5)
TARGETS.add(HandlerNotFoundError, "command", Deposit)
TARGETS.add(DuplicateHandlerError, Deposit)
TARGETS.add(DispatchTimeoutError, Deposit, 1.0)
TARGETS.add(EventDeliveryError, [ValueError("boom")])
TARGETS.add(MessageValidationError, Deposit, [{"loc": ("amount",), "msg": "too small"}])
TARGETS.add(MissingExtraError, "ValidationMiddleware", "pydantic")


@TARGETS.parametrize()
def test_every_constructor_and_error_types_its_errors(target: HostileTarget) -> None:
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(cqrs)


@TARGETS.drives("CommandBus.register", "QueryBus.register", "Cached.invalidated_by")
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


@TARGETS.drives("CommandBus.send", "QueryBus.ask")
async def test_dispatching_types_its_errors(ledger: Ledger) -> None:
    commands, queries = CommandBus(), QueryBus()
    commands.register(Deposit, DepositHandler(ledger))
    queries.register(Balance, BalanceHandler(ledger))
    await acheck_hostile(commands.send, Deposit("a", 1))
    await acheck_hostile(queries.ask, Balance("a"))
    with pytest.raises(HandlerNotFoundError):
        await commands.send("not a command")  # type: ignore[arg-type]


@TARGETS.drives("EventBus", "Dependencies")
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


@TARGETS.drives("Dispatch.record", "Dispatch.get")
async def test_the_dispatch_types_its_errors() -> None:
    dispatch = Dispatch(Deposit("a", 1), "command", provider=Dependencies().value(str, "x"))
    await acheck_hostile(dispatch.record, "event")
    await acheck_hostile(dispatch.drop_events, 0)
    await acheck_hostile(dispatch.get, str)
    await dispatch._close(None)


@TARGETS.drives("MemoryUnitOfWork", "MemoryOutbox", "OutboxRelay.start")
async def test_units_of_work_and_the_outbox_type_their_errors() -> None:
    await acheck_hostile(MemoryUnitOfWork().on_commit, lambda: None)
    outbox = MemoryOutbox()
    await acheck_hostile(outbox.put, ["event"], MemoryUnitOfWork())
    await acheck_hostile(outbox.claim, 10)
    await acheck_hostile(outbox.ack, ["id"])
    relay = OutboxRelay(outbox, EventBus())
    await acheck_hostile(relay.start, 1.0)
    await relay.aclose()


def test_errors_share_one_root() -> None:
    assert issubclass(HandlerNotFoundError, CQRSError)


def test_errors_built_from_the_wrong_kinds_render_or_type_their_arguments() -> None:
    """Found when every public name was first driven: each raised AttributeError, TypeError or ValueError
    while being built from an argument of the wrong kind."""
    assert "str" in str(HandlerNotFoundError("command", ""))  # type: ignore[arg-type]
    assert "str" in str(DuplicateHandlerError(""))  # type: ignore[arg-type]
    assert "within 1 seconds" in str(DispatchTimeoutError(Deposit, "1"))  # type: ignore[arg-type]
    assert "int of" in str(DispatchTimeoutError(Deposit, 10**5000))
    with pytest.raises(CQRSTypeError, match="errors"):
        EventDeliveryError(5)  # type: ignore[arg-type]
    with pytest.raises(CQRSTypeError, match="errors"):
        MessageValidationError(Deposit, 5)  # type: ignore[arg-type]
    assert "int" in str(MessageValidationError(Deposit, [1]))  # type: ignore[list-item]
    assert str(DispatchTimeoutError(Deposit, 1.5)) == "Deposit was not handled within 1.5 seconds"
