"""The package's own implementations pass buttress-testing's suites for the Protocols it defines."""

from __future__ import annotations

from typing import Any

from buttress.cqrs import (
    Dependencies,
    Dispatch,
    LoggingMiddleware,
    MemoryOutbox,
    MemoryUnitOfWork,
    RetryMiddleware,
    TelemetryMiddleware,
    TimeoutMiddleware,
    TransactionMiddleware,
    ValidationMiddleware,
    after,
    before,
)
from buttress.testing import (
    DependencyProviderContract,
    EventOutboxContract,
    MiddlewareContract,
    UnitOfWorkContract,
)


class TestMemoryUnitOfWork(UnitOfWorkContract):
    async def make_unit_of_work(self) -> Any:
        self.__dict__.setdefault("store", [])
        return MemoryUnitOfWork()

    async def stage(self, unit: Any, value: str) -> None:
        store: list[str] = self.__dict__.setdefault("store", [])
        unit.on_commit(lambda: store.append(value))

    async def committed(self) -> list[str]:
        return list(self.__dict__.get("store", []))


class TestMemoryOutbox(EventOutboxContract):
    async def make_outbox(self) -> Any:
        return MemoryOutbox()

    async def make_unit_of_work(self, outbox: Any) -> Any:
        return MemoryUnitOfWork()


class Session:
    pass


class Settings:
    pass


class TestDependencies(DependencyProviderContract):
    scoped_kind = Session
    shared_kind = Settings

    async def make_provider(self) -> Any:
        return Dependencies().scoped(Session, lambda _scope: Session()).value(Settings, Settings())


class TestAsyncContextDependencies(DependencyProviderContract):
    """A factory that is an async context manager or an async function works the same way."""

    scoped_kind = Session
    shared_kind = Settings

    async def make_provider(self) -> Any:
        async def session(_scope: object) -> Session:
            return Session()

        return Dependencies().scoped(Session, session).value(Settings, Settings())


class MiddlewareSuite(MiddlewareContract):
    def make_dispatch(self, message: object) -> Any:
        return Dispatch(message, "command")


class TestLoggingMiddleware(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        return LoggingMiddleware()


class TestRetryMiddleware(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        return RetryMiddleware(ConnectionError, delay=0)


class TestTimeoutMiddleware(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        return TimeoutMiddleware(5)


class TestTelemetryMiddleware(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        return TelemetryMiddleware()


class TestTransactionMiddleware(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        async def begin(_dispatch: Dispatch) -> MemoryUnitOfWork:
            return MemoryUnitOfWork()

        return TransactionMiddleware(begin, outbox=MemoryOutbox())


class TestValidationMiddleware(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        return ValidationMiddleware()


async def nothing(_dispatch: Dispatch, *_result: object) -> None:
    return None


class TestBefore(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        return before(nothing)


class TestAfter(MiddlewareSuite):
    async def make_middleware(self) -> Any:
        return after(nothing)
