"""Static checks of buttress-core's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, assert_type

from buttress.core import (
    MISSING,
    AsyncRepository,
    BackendErrors,
    CacheProvider,
    Clock,
    Command,
    CommandHandler,
    ConfigurationError,
    Counter,
    EventHandler,
    Histogram,
    Identifiable,
    JsonSerializer,
    LoopThread,
    Missing,
    Owned,
    Query,
    QueryHandler,
    Receive,
    RedisBackend,
    Send,
    Serializer,
    SystemClock,
    Telemetry,
    UpDownCounter,
    check_count,
    check_seconds,
    check_text,
    connection_errors,
    open_redis,
    read_body,
    respond,
    safe_repr,
    scope_state,
)


async def miss_narrows_away(cache: CacheProvider[int]) -> int:
    value = await cache.get("k")
    assert_type(value, int | Missing)
    if value is MISSING:
        return 0
    assert_type(value, int)
    return value


def clock_types(clock: Clock) -> None:
    assert_type(clock.now(), datetime)
    assert_type(clock.monotonic(), float)


def system_clock_is_a_clock() -> Clock:
    return SystemClock()


def json_serializer_is_generic() -> Serializer[dict[str, int]]:
    serializer = JsonSerializer[dict[str, int]]()
    assert_type(serializer.loads(b"{}"), dict[str, int])
    assert_type(serializer.dumps({"a": 1}), bytes)
    return serializer


@dataclass(frozen=True)
class User:
    id: int
    name: str


def user_is_identifiable() -> Identifiable[int]:
    return User(1, "ada")


class UserRepository:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}

    async def get(self, id: int) -> User | None:
        return self.users.get(id)

    async def add(self, entity: User) -> None:
        self.users[entity.id] = entity

    async def update(self, entity: User) -> None:
        self.users[entity.id] = entity

    async def delete(self, id: int) -> bool:
        return self.users.pop(id, None) is not None

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[User]:
        return list(self.users.values())[offset : offset + limit]


async def repository_types(repo: AsyncRepository[User, int]) -> None:
    assert_type(await repo.get(1), User | None)
    assert_type(await repo.list(limit=5), Sequence[User])
    assert_type(await repo.delete(1), bool)


def user_repository_conforms() -> AsyncRepository[User, int]:
    return UserRepository()


@dataclass(frozen=True)
class Rename(Command[User]):
    user_id: int
    name: str


@dataclass(frozen=True)
class Find(Query[User | None]):
    user_id: int


class FindHandler:
    async def handle(self, query: Find) -> User | None:
        return None


def query_handler_conforms() -> QueryHandler[Find, User | None]:
    return FindHandler()


async def a_bus_can_read_the_result_a_message_declares() -> None:
    async def send[R](command: Command[R]) -> R:
        raise NotImplementedError

    assert_type(await send(Rename(1, "ada")), User)


class RenameHandler:
    async def handle(self, command: Rename) -> User:
        return User(command.user_id, command.name)


def handler_conforms() -> CommandHandler[Rename, User]:
    return RenameHandler()


class Printer:
    async def handle(self, event: str) -> None: ...


def event_handler_conforms() -> EventHandler[str]:
    return Printer()


def checks_return_what_they_accept(value: object) -> None:
    assert_type(check_seconds("timeout", value, error=ConfigurationError), float)
    assert_type(check_count("max_size", value, minimum=1), int)
    assert_type(check_text("key", value, max_bytes=64, show_value=False), str)
    assert_type(safe_repr(value), str)


async def plumbing_types(receive: Receive, send: Send) -> None:
    telemetry = Telemetry("buttress.example")
    assert_type(telemetry.counter("buttress.example.hits"), Counter)
    assert_type(telemetry.histogram("buttress.example.duration"), Histogram)
    assert_type(telemetry.up_down_counter("buttress.example.inflight"), UpDownCounter)
    assert_type(telemetry.bind(), bool)
    assert_type(telemetry.bind(spans=True), bool)
    assert_type(Owned("pool").value, str)
    assert_type(await read_body(receive, limit=10), bytes | None)
    assert_type(connection_errors("redis"), tuple[type[BaseException], ...])
    await respond(send, 204)
    assert_type(scope_state({"type": "http"}), MutableMapping[str, Any])


class RedisThing(RedisBackend):
    errors = BackendErrors()

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "thing:") -> Self:
        return cls._from_url(url, lambda client: cls(client, prefix=prefix), max_connections=4)


async def redis_backend_types() -> None:
    thing = RedisThing.from_url("redis://127.0.0.1/0")
    assert_type(thing, RedisThing)
    assert_type(thing.prefix, str)
    assert_type(thing.owns_client, bool)
    assert_type(thing.accepts_cluster, bool)
    assert_type(open_redis("redis://127.0.0.1/0", cluster=False), Any)
    await thing.aclose()


def loop_thread_types() -> None:
    runner = LoopThread("typing")
    assert_type(runner.start(), asyncio.AbstractEventLoop)

    async def answer() -> int:
        return 42

    assert_type(runner.run(answer(), 1.0), int)
    assert_type(runner.submit(answer()), concurrent.futures.Future[int])
    assert_type(runner.stop(1.0), bool)
    assert_type(runner.running, bool)
