"""The ready-made middleware: logging, validation, retries, timeouts, telemetry (spans and metrics)."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from buttress.core import Command
from buttress.cqrs import (
    CommandBus,
    CQRSConfigurationError,
    CQRSTypeError,
    Dispatch,
    DispatchTimeoutError,
    LoggingMiddleware,
    MessageValidationError,
    MissingExtraError,
    RetryMiddleware,
    TelemetryMiddleware,
    TimeoutMiddleware,
    ValidationMiddleware,
)
from buttress.testing import RecordedMetrics, RecordedSpans

from .conftest import Deposit, DepositHandler, Ledger


class Transfer(BaseModel, Command[str]):
    source: str
    target: str
    cents: int


class TransferHandler:
    def __init__(self) -> None:
        self.got: list[Transfer] = []

    async def handle(self, command: Transfer) -> str:
        self.got.append(command)
        return f"{command.cents} from {command.source} to {command.target}"


async def test_logging_names_types_never_contents(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    bus = CommandBus(middleware=[LoggingMiddleware()])
    bus.register(Deposit, DepositHandler(ledger))
    with caplog.at_level(logging.INFO, logger="buttress.cqrs"):
        await bus.send(Deposit("secret-account", 5))
    assert "command Deposit handled in" in caplog.text
    assert "secret-account" not in caplog.text


async def test_logging_reports_a_failure_by_type(caplog: pytest.LogCaptureFixture) -> None:
    class Failing:
        async def handle(self, command: Deposit) -> int:
            raise KeyError("secret-account")

    bus = CommandBus(middleware=[LoggingMiddleware(logging.getLogger("app.bus"))])
    bus.register(Deposit, Failing())
    with caplog.at_level(logging.WARNING, logger="app.bus"), pytest.raises(KeyError):
        await bus.send(Deposit("secret-account", 5))
    assert "command Deposit failed" in caplog.text
    assert "KeyError" in caplog.text
    assert "secret-account" not in caplog.text


async def test_validation_checks_dataclass_messages_once_per_dispatch(ledger: Ledger) -> None:
    validation = ValidationMiddleware()
    bus = CommandBus(middleware=[validation, validation])
    handler = DepositHandler(ledger)
    bus.register(Deposit, handler)
    assert await bus.send(Deposit("a", "7")) == 7  # type: ignore[arg-type]  # coerced, as pydantic does
    with pytest.raises(MessageValidationError) as caught:
        await bus.send(Deposit("a", "seven"))  # type: ignore[arg-type]
    assert caught.value.message_type is Deposit
    assert caught.value.errors[0]["loc"] == ("amount",)
    assert "seven" not in str(caught.value)
    assert ledger.balances == {"a": 7}
    strict = CommandBus(middleware=[ValidationMiddleware(strict=True)])
    strict.register(Deposit, handler)
    with pytest.raises(MessageValidationError):
        await strict.send(Deposit("a", "7"))  # type: ignore[arg-type]
    assert await strict.send(Deposit("a", 1)) == 8


async def test_validation_checks_pydantic_models_built_without_validation() -> None:
    handler = TransferHandler()
    bus = CommandBus(middleware=[ValidationMiddleware()])
    bus.register(Transfer, handler)
    assert await bus.send(Transfer(source="a", target="b", cents=5)) == "5 from a to b"
    with pytest.raises(MessageValidationError):
        await bus.send(Transfer.model_construct(source="a", target="b", cents="lots"))
    assert len(handler.got) == 1


async def test_validation_counts_each_dispatch_once() -> None:
    calls: list[object] = []

    class Counting(ValidationMiddleware):
        def validate(self, message: object) -> object:
            calls.append(message)
            return super().validate(message)

    layer = Counting()
    attempts: list[int] = []

    class Flaky:
        async def handle(self, command: Transfer) -> str:
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionError("again")
            return "ok"

    bus = CommandBus(middleware=[RetryMiddleware(ConnectionError, delay=0), layer])
    bus.register(Transfer, Flaky())
    assert await bus.send(Transfer(source="a", target="b", cents=1)) == "ok"
    assert len(attempts) == 3
    assert len(calls) == 1


def test_validation_needs_the_pydantic_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydantic", None)
    monkeypatch.delitem(sys.modules, "buttress.cqrs._validation", raising=False)
    import buttress.cqrs as cqrs  # noqa: PLC0415

    with pytest.raises(MissingExtraError, match=r"buttress-cqrs\[pydantic\]"):
        _ = cqrs.ValidationMiddleware


async def test_retry_retries_declared_errors_only() -> None:
    attempts: list[str] = []
    waits: list[float] = []

    class Flaky:
        async def handle(self, command: Deposit) -> int:
            attempts.append(command.account)
            if command.account == "transient" and len(attempts) < 3:
                raise ConnectionError("again")
            if command.account == "permanent":
                raise ValueError("no")
            return len(attempts)

    retry = RetryMiddleware((ConnectionError, TimeoutError), attempts=4, delay=0.0, random=lambda: 0.0)
    bus = CommandBus(middleware=[retry])
    bus.register(Deposit, Flaky())
    assert await bus.send(Deposit("transient", 1)) == 3
    attempts.clear()
    with pytest.raises(ValueError, match="no"):
        await bus.send(Deposit("permanent", 1))
    assert attempts == ["permanent"]
    del waits


async def test_retry_gives_up_after_its_attempts(metric_reader: RecordedMetrics) -> None:
    attempts: list[int] = []

    class Down:
        async def handle(self, command: Deposit) -> int:
            attempts.append(1)
            raise ConnectionError("down")

    bus = CommandBus(middleware=[RetryMiddleware(ConnectionError, attempts=3, delay=0.001, jitter=False)])
    bus.register(Deposit, Down())
    with pytest.raises(ConnectionError):
        await bus.send(Deposit("a", 1))
    assert len(attempts) == 3
    assert metric_reader.value("buttress.cqrs.retries", {"cqrs.message": "Deposit"}) == 2


def test_retry_checks_its_arguments() -> None:
    for bad in (object, (), (ValueError, 3), KeyboardInterrupt):
        with pytest.raises(CQRSTypeError):
            RetryMiddleware(bad)  # type: ignore[arg-type]
    with pytest.raises(CQRSConfigurationError):
        RetryMiddleware(ValueError, attempts=0)
    with pytest.raises(CQRSConfigurationError):
        RetryMiddleware(ValueError, delay=-1)


async def test_a_timeout_cancels_the_rest_and_raises_the_typed_error() -> None:
    cancelled: list[bool] = []

    class Slow:
        async def handle(self, command: Deposit) -> int:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return 0

    bus = CommandBus(middleware=[TimeoutMiddleware(0.01)])
    bus.register(Deposit, Slow())
    with pytest.raises(DispatchTimeoutError) as caught:
        await bus.send(Deposit("a", 1))
    assert isinstance(caught.value, TimeoutError)
    assert (caught.value.message_type, caught.value.seconds) == (Deposit, 0.01)
    assert cancelled == [True]


async def test_a_handlers_own_timeout_error_is_not_the_middlewares() -> None:
    class Own:
        async def handle(self, command: Deposit) -> int:
            raise TimeoutError("the handler's own")

    bus = CommandBus(middleware=[TimeoutMiddleware(5)])
    bus.register(Deposit, Own())
    with pytest.raises(TimeoutError, match="the handler's own") as caught:
        await bus.send(Deposit("a", 1))
    assert not isinstance(caught.value, DispatchTimeoutError)


async def test_telemetry_records_a_span_and_the_duration(
    ledger: Ledger, metric_reader: RecordedMetrics, span_recorder: RecordedSpans
) -> None:
    class Failing:
        async def handle(self, command: Transfer) -> str:
            raise KeyError("nope")

    bus = CommandBus(middleware=[TelemetryMiddleware()])
    bus.register(Deposit, DepositHandler(ledger))
    bus.register(Transfer, Failing())
    await bus.send(Deposit("a", 1))
    with pytest.raises(KeyError):
        await bus.send(Transfer(source="a", target="b", cents=1))
    ok, failed = span_recorder.spans()
    assert (ok.name, ok.attributes, ok.error) == (
        "send Deposit",
        {"cqrs.kind": "command", "cqrs.message": "Deposit"},
        False,
    )
    assert (failed.name, failed.error, failed.exceptions) == ("send Transfer", True, ("KeyError",))
    assert metric_reader.count("buttress.cqrs.dispatch.duration", {"cqrs.message": "Deposit"}) == 1
    errors = {"cqrs.message": "Transfer", "error.type": "KeyError"}
    assert metric_reader.count("buttress.cqrs.dispatch.duration", errors) == 1


def test_middleware_constructors_check_their_arguments() -> None:
    with pytest.raises(CQRSTypeError):
        LoggingMiddleware("app")  # type: ignore[arg-type]
    with pytest.raises(CQRSTypeError):
        LoggingMiddleware(level="INFO")  # type: ignore[arg-type]
    with pytest.raises(CQRSConfigurationError):
        TimeoutMiddleware(0)
    with pytest.raises(CQRSTypeError):
        ValidationMiddleware(strict=1)  # type: ignore[arg-type]


async def test_a_dispatch_checks_what_it_is_given() -> None:
    with pytest.raises(CQRSConfigurationError):
        Dispatch(object(), "event")  # type: ignore[arg-type]
    with pytest.raises(CQRSTypeError):
        Dispatch(object(), "command", provider=object())  # type: ignore[arg-type]
    dispatch = Dispatch(Deposit("a", 1), "command")
    dispatch.record("one", "two", "three")
    dispatch.drop_events(1)
    assert dispatch.events == ("one",)
    assert dispatch.take_events() == ["one"]
    assert dispatch.events == ()
    assert dispatch.message_type is Deposit
    with pytest.raises(CQRSTypeError):
        dispatch.drop_events("1")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Nothing(Command[None]):
    pass
