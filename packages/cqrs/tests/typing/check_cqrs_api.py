"""assert_type checks for buttress-cqrs's public API (run by mypy --strict, never executed)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import assert_type
from uuid import UUID, uuid4

from pydantic import BaseModel

from buttress.core import MISSING, Command, Missing, Query
from buttress.cqrs import (
    Cached,
    CommandBus,
    Dependencies,
    DependencyProvider,
    DependencyScope,
    Dispatch,
    EventBus,
    EventOutbox,
    LoggingMiddleware,
    MemoryOutbox,
    MemoryUnitOfWork,
    Middleware,
    Next,
    OutboxEntry,
    OutboxRelay,
    QueryBus,
    RetryMiddleware,
    TelemetryMiddleware,
    TimeoutMiddleware,
    TransactionMiddleware,
    UnitOfWork,
    ValidationMiddleware,
    after,
    before,
)


@dataclass(frozen=True)
class Register(Command[UUID]):
    email: str


class Rename(BaseModel, Command[None]):
    user_id: UUID
    name: str


@dataclass(frozen=True)
class FindUser(Query[str | None]):
    user_id: UUID


@dataclass(frozen=True)
class Registered:
    user_id: UUID


class RegisterHandler:
    async def handle(self, command: Register) -> UUID:
        return uuid4()


class RenameHandler:
    async def handle(self, command: Rename) -> None:
        return None


class FindUserHandler:
    async def handle(self, query: FindUser) -> str | None:
        return None


class OnRegistered:
    async def handle(self, event: Registered) -> None:
        return None


class Timing:
    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        return await call_next(dispatch)


class Cache:
    async def get(self, key: str) -> object | Missing:
        return MISSING

    async def set(self, key: str, value: object, *, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool:
        return False

    async def exists(self, key: str) -> bool:
        return False

    async def clear(self) -> None: ...


async def the_result_of_a_message_is_its_declared_type() -> None:
    events = EventBus()
    events.subscribe(Registered, OnRegistered())
    middleware: list[Middleware] = [
        Timing(),
        LoggingMiddleware(),
        TelemetryMiddleware(),
        TimeoutMiddleware(5),
    ]
    commands = CommandBus(middleware=middleware, events=events, provider=Dependencies())
    commands.register(Register, RegisterHandler())
    commands.register(Rename, RenameHandler(), middleware=[RetryMiddleware(ConnectionError)])
    assert_type(await commands.send(Register("ada@example.com")), UUID)
    assert_type(await commands.send(Rename(user_id=uuid4(), name="Ada")), None)

    queries = QueryBus(cache=Cache(), events=events)
    policy = Cached[FindUser](ttl=60, key=lambda q: str(q.user_id)).invalidated_by(
        Registered, lambda e: FindUser(e.user_id)
    )
    queries.register(FindUser, FindUserHandler(), cache=policy)
    assert_type(await queries.ask(FindUser(uuid4())), str | None)


async def factories_build_handlers_per_dispatch() -> None:
    async def make(dispatch: Dispatch) -> RegisterHandler:
        assert_type(await dispatch.get(str), str)
        dispatch.record(Registered(uuid4()))
        return RegisterHandler()

    bus = CommandBus()
    bus.register(Register, factory=make)
    assert_type(await bus.send(Register("x")), UUID)


def the_embedded_defaults_are_their_protocols() -> None:
    unit: UnitOfWork = MemoryUnitOfWork()
    outbox: EventOutbox = MemoryOutbox()
    provider: DependencyProvider = Dependencies().value(int, 1)
    scope: AbstractAsyncContextManager[DependencyScope] = provider.scope()
    relay = OutboxRelay(outbox, EventBus(), batch=50)
    assert_type(relay, OutboxRelay)
    del unit, scope


async def outbox_entries_and_middleware_helpers() -> None:
    entries = await MemoryOutbox().claim(10)
    assert_type(entries, list[OutboxEntry])

    async def begin(dispatch: Dispatch) -> MemoryUnitOfWork:
        return MemoryUnitOfWork()

    async def hook(dispatch: Dispatch) -> None: ...

    async def done(dispatch: Dispatch, result: object) -> None: ...

    layers: list[Middleware] = [
        TransactionMiddleware(begin, outbox=MemoryOutbox()),
        ValidationMiddleware(strict=True),
        before(hook),
        after(done),
    ]
    del layers


def a_mismatched_handler_is_a_type_error() -> None:
    bus = CommandBus()
    bus.register(Register, RenameHandler())  # type: ignore[misc]
