"""The buttress-cqrs suites pass small correct implementations and catch broken ones."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from buttress.core import ConfigurationError
from buttress.testing import (
    DependencyProviderContract,
    EventOutboxContract,
    MiddlewareContract,
    UnitOfWorkContract,
)


class ListUnit:
    """A unit of work over a shared list: writes are staged, applied in order on commit."""

    def __init__(self, store: list[str]) -> None:
        self.store, self.staged = store, []

    async def commit(self) -> None:
        self.store.extend(self.staged)
        self.staged = []

    async def rollback(self) -> None:
        self.staged = []


class TestListUnit(UnitOfWorkContract):
    async def make_unit_of_work(self) -> Any:
        return ListUnit(self.__dict__.setdefault("store", []))

    async def stage(self, unit: Any, value: str) -> None:
        unit.staged.append(value)

    async def committed(self) -> list[str]:
        return list(self.__dict__.get("store", []))


@dataclass(frozen=True)
class Entry:
    id: str
    event: object
    position: int


class ListOutbox:
    """An event outbox that stores on its unit's commit (the unit runs its hooks)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.next = 0

    async def put(self, events: Sequence[object], unit_of_work: Any) -> None:
        unit_of_work.hooks.append(lambda: self._store(list(events)))

    def _store(self, events: list[object]) -> None:
        for event in events:
            self.entries.append(Entry(f"e{self.next}", event, self.next))
            self.next += 1

    async def claim(self, limit: int) -> list[Entry]:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise ConfigurationError("limit", limit, "must be an int")
        if not 1 <= limit <= 1000:
            raise ConfigurationError("limit", limit, "must be from 1 to 1000")
        return self.entries[:limit]

    async def ack(self, ids: Sequence[str]) -> None:
        gone = set(ids)
        self.entries = [e for e in self.entries if e.id not in gone]


class HookUnit:
    def __init__(self) -> None:
        self.hooks: list[Callable[[], None]] = []

    async def commit(self) -> None:
        for hook in self.hooks:
            hook()

    async def rollback(self) -> None:
        self.hooks.clear()


class TestListOutbox(EventOutboxContract):
    async def make_outbox(self) -> Any:
        return ListOutbox()

    async def make_unit_of_work(self, outbox: Any) -> Any:
        return HookUnit()


class Session:
    pass


class Settings:
    pass


class DictProvider:
    """A provider with one scoped and one shared kind."""

    def __init__(self) -> None:
        self.settings = Settings()

    @asynccontextmanager
    async def scope(self) -> Any:
        made: dict[type, object] = {Settings: self.settings}

        class Scope:
            async def get(self, kind: type) -> Any:
                return made.setdefault(kind, kind())

        yield Scope()


class TestDictProvider(DependencyProviderContract):
    scoped_kind = Session
    shared_kind = Settings

    async def make_provider(self) -> Any:
        return DictProvider()


class PassThrough:
    async def __call__(self, dispatch: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        return await call_next(dispatch)


class TestPassThrough(MiddlewareContract):
    async def make_middleware(self) -> Any:
        return PassThrough()

    def make_dispatch(self, message: object) -> Any:
        return message


# --- broken ones -----------------------------------------------------------------------------------


class EagerOutbox(ListOutbox):
    """Stores events at once, whether or not the unit commits."""

    async def put(self, events: Sequence[object], unit_of_work: Any) -> None:
        self._store(list(events))


class ForgetfulOutbox(ListOutbox):
    """Forgets what it claimed, so an unacked entry is never claimed again."""

    async def claim(self, limit: int) -> list[Entry]:
        claimed = await super().claim(limit)
        await self.ack([e.id for e in claimed])
        return claimed


@pytest.mark.parametrize(
    ("outbox", "test"),
    [
        (EagerOutbox, "test_rolled_back_events_are_never_claimed"),
        (EagerOutbox, "test_nothing_is_claimable_before_commit"),
        (ForgetfulOutbox, "test_unacked_entries_are_claimed_again"),
    ],
)
async def test_the_outbox_suite_catches_a_broken_outbox(outbox: type[ListOutbox], test: str) -> None:
    suite = TestListOutbox()
    with pytest.raises(AssertionError):
        await getattr(suite, test)(outbox())


class SwallowingMiddleware:
    async def __call__(self, dispatch: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return await call_next(dispatch)
        except LookupError:
            return None


class TwiceMiddleware:
    async def __call__(self, dispatch: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        await call_next(dispatch)
        return await call_next(dispatch)


@pytest.mark.parametrize(
    ("middleware", "test"),
    [
        (SwallowingMiddleware, "test_an_unhandled_error_passes_through_unchanged"),
        (TwiceMiddleware, "test_the_result_passes_through_and_next_runs_once"),
    ],
)
async def test_the_middleware_suite_catches_a_broken_middleware(middleware: type, test: str) -> None:
    class Suite(TestPassThrough):
        async def make_middleware(self) -> Any:
            return middleware()

    with pytest.raises((AssertionError, pytest.fail.Exception)):  # a raises() that saw nothing fails
        await getattr(Suite(), test)()


class LeakyUnit(ListUnit):
    """Applies writes at once."""

    async def commit(self) -> None:
        pass


async def test_the_unit_of_work_suite_catches_a_unit_that_writes_through() -> None:
    class Suite(TestListUnit):
        async def make_unit_of_work(self) -> Any:
            return LeakyUnit(self.__dict__.setdefault("store", []))

        async def stage(self, unit: Any, value: str) -> None:
            unit.store.append(value)

    with pytest.raises(AssertionError):
        await Suite().test_nothing_is_visible_before_commit()


async def test_the_provider_suite_catches_a_provider_without_scoping() -> None:
    class Fresh(DictProvider):
        @asynccontextmanager
        async def scope(self) -> Any:
            class Scope:
                async def get(self, kind: type) -> Any:
                    await asyncio.sleep(0)
                    return kind()

            yield Scope()

    class Suite(TestDictProvider):
        async def make_provider(self) -> Any:
            return Fresh()

    with pytest.raises(AssertionError):
        await Suite().test_one_instance_per_kind_within_a_scope()
