"""The buses' state, driven by hypothesis: registrations, commands that commit or fail, cached reads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from buttress.core import Command, Query
from buttress.cqrs import (
    Cached,
    CommandBus,
    Dependencies,
    Dispatch,
    DuplicateHandlerError,
    EventBus,
    HandlerNotFoundError,
    MemoryUnitOfWork,
    QueryBus,
    TransactionMiddleware,
)
from buttress.testing import FakeClock

from .conftest import FakeCache

KEYS = st.sampled_from(["a", "b", "c"])


@dataclass(frozen=True)
class Put(Command[int]):
    key: str
    value: int
    fail: bool = False


@dataclass(frozen=True)
class Changed:
    key: str


@dataclass(frozen=True)
class Read(Query[int | None]):
    key: str


@dataclass(frozen=True)
class Size(Query[int]):
    pass


class BusMachine(RuleBasedStateMachine):
    """Stateful: Buses and Cache. Against a dict model: a command changes the store and invalidates
    the cached reads it names only when it commits; a read is served from the cache until then or
    until its TTL passes; a second registration of a type is refused and an unregistered one raises."""

    @initialize()
    def build(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.store: dict[str, int] = {}
        self.model: dict[str, int] = {}
        self.reads = 0
        self.cached: dict[str, float] = {}  # key -> when its answer was stored
        self.expected_reads = 0
        events = EventBus()
        store, machine = self.store, self

        class PutHandler:
            def __init__(self, dispatch: Dispatch, unit: MemoryUnitOfWork) -> None:
                self.dispatch, self.unit = dispatch, unit

            async def handle(self, command: Put) -> int:
                self.unit.on_commit(lambda: store.__setitem__(command.key, command.value))
                self.dispatch.record(Changed(command.key))
                if command.fail:
                    raise RuntimeError("the command fails after recording its event")
                return command.value

        class ReadHandler:
            async def handle(self, query: Read) -> int | None:
                machine.reads += 1
                return store.get(query.key)

        async def begin(dispatch: Dispatch) -> MemoryUnitOfWork:
            return await dispatch.get(MemoryUnitOfWork)

        async def make(dispatch: Dispatch) -> PutHandler:
            return PutHandler(dispatch, await begin(dispatch))

        self.commands = CommandBus(
            middleware=[TransactionMiddleware(begin)],
            events=events,
            provider=Dependencies().scoped(MemoryUnitOfWork, lambda _scope: MemoryUnitOfWork()),
        )
        self.commands.register(Put, factory=make)
        self.queries = QueryBus(cache=FakeCache(self.clock), events=events)
        policy = Cached[Read](ttl=10).invalidated_by(Changed, lambda e: Read(e.key))
        self.queries.register(Read, ReadHandler(), cache=policy)

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    @rule(key=KEYS, value=st.integers(), fail=st.booleans())
    def put(self, key: str, value: int, fail: bool) -> None:
        try:
            assert self.run(self.commands.send(Put(key, value, fail))) == value
        except RuntimeError:
            assert fail
            return
        assert not fail
        self.model[key] = value
        self.cached.pop(key, None)

    @rule(key=KEYS)
    def read(self, key: str) -> None:
        assert self.run(self.queries.ask(Read(key))) == self.model.get(key)
        now = self.clock.monotonic()
        stored = self.cached.get(key)
        if stored is None or now >= stored + 10:  # a miss: never stored, invalidated, or past its TTL
            self.expected_reads += 1
            self.cached[key] = now

    @rule(seconds=st.sampled_from([1, 4, 9, 10]))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def the_handler_ran_once_per_miss(self) -> None:
        assert self.reads == self.expected_reads

    @invariant()
    def the_store_holds_what_committed(self) -> None:
        assert self.store == self.model

    @rule()
    def registering_twice_is_refused(self) -> None:
        try:
            self.commands.register(Put, factory=lambda d: None)  # type: ignore[arg-type,return-value]
        except DuplicateHandlerError:
            return
        raise AssertionError("a second handler was accepted")

    @rule()
    def an_unregistered_query_raises(self) -> None:
        try:
            self.run(self.queries.ask(Size()))
        except HandlerNotFoundError:
            return
        raise AssertionError("an unregistered query was answered")

    def teardown(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is not None:
            loop.close()


TestBusMachine = BusMachine.TestCase
