"""Conformance suites for buttress-cqrs: units of work, event outboxes, dependency providers, middleware.

The suites are duck-typed, so buttress-testing does not depend on buttress-cqrs: a subclass gives
factories (and, where the Protocol leaves it to the implementation, a way to do work and to look at
what was committed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from buttress.core import ButtressError

from ._cache import close_quietly

__all__ = ["DependencyProviderContract", "EventOutboxContract", "MiddlewareContract", "UnitOfWorkContract"]


class UnitOfWorkContract:
    """Conformance suite for a unit of work (`buttress.cqrs.UnitOfWork`: ``commit`` and ``rollback``).

    Subclass it (as ``TestSomething``) and provide:

    - `make_unit_of_work`: a new, open unit of work over a store shared by every unit of the test;
    - `stage`: do one piece of work (write ``value``) inside a unit;
    - `committed`: the values visible outside any unit, in the order they were committed.

    A unit must make its work visible only when it commits, all of it, in order; a rollback must
    leave nothing behind; two units must not see each other's uncommitted work.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_unit_of_work(self) -> Any:
        """Return a new, open unit of work. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_unit_of_work()")

    async def stage(self, unit: Any, value: str) -> None:
        """Write ``value`` inside ``unit``. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement stage()")

    async def committed(self) -> list[str]:
        """The values visible outside any unit, in commit order. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement committed()")

    async def test_nothing_is_visible_before_commit(self) -> None:
        unit = await self.make_unit_of_work()
        await self.stage(unit, "a")
        assert await self.committed() == []
        await unit.rollback()

    async def test_commit_makes_all_the_work_visible_in_order(self) -> None:
        unit = await self.make_unit_of_work()
        for value in ("a", "b", "c"):
            await self.stage(unit, value)
        await unit.commit()
        assert await self.committed() == ["a", "b", "c"]

    async def test_rollback_leaves_nothing(self) -> None:
        unit = await self.make_unit_of_work()
        await self.stage(unit, "a")
        await self.stage(unit, "b")
        await unit.rollback()
        assert await self.committed() == []

    async def test_a_unit_with_no_work_commits(self) -> None:
        unit = await self.make_unit_of_work()
        await unit.commit()
        assert await self.committed() == []

    async def test_units_are_isolated(self) -> None:
        first, second = await self.make_unit_of_work(), await self.make_unit_of_work()
        await self.stage(first, "first")
        await self.stage(second, "second")
        await second.commit()
        assert await self.committed() == ["second"]
        await first.rollback()
        assert await self.committed() == ["second"]


class EventOutboxContract:
    """Conformance suite for an event outbox (`buttress.cqrs.EventOutbox`: ``put``, ``claim``, ``ack``).

    Subclass it (as ``TestSomething``) and provide:

    - `make_outbox`: a new, empty outbox (closed after the test if it has ``aclose()`` or ``close()``);
    - `make_unit_of_work`: a new unit of work that ``outbox.put`` can join.

    Events put in a unit become claimable exactly when it commits, in order; claims return the oldest
    unacked entries, the same ones until they are acked (at least once); ack removes them for good.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_outbox(self) -> Any:
        """Return a new, empty outbox. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_outbox()")

    async def make_unit_of_work(self, outbox: Any) -> Any:
        """Return a new unit of work that ``outbox.put`` joins. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_unit_of_work()")

    @pytest_asyncio.fixture
    async def outbox(self) -> AsyncIterator[Any]:
        """A fresh outbox from `make_outbox`, closed after the test."""
        made = await self.make_outbox()
        try:
            yield made
        finally:
            await close_quietly(made)

    async def put(self, outbox: Any, *events: object, commit: bool = True) -> None:
        unit = await self.make_unit_of_work(outbox)
        await outbox.put(list(events), unit)
        await (unit.commit() if commit else unit.rollback())

    async def test_committed_events_are_claimed_in_order(self, outbox: Any) -> None:
        await self.put(outbox, "a", "b")
        await self.put(outbox, "c")
        entries = list(await outbox.claim(10))
        assert [entry.event for entry in entries] == ["a", "b", "c"]
        assert len({entry.id for entry in entries}) == 3
        positions = [entry.position for entry in entries]
        assert positions == sorted(positions)
        assert len(set(positions)) == 3

    async def test_rolled_back_events_are_never_claimed(self, outbox: Any) -> None:
        await self.put(outbox, "lost", commit=False)
        await self.put(outbox, "kept")
        assert [entry.event for entry in await outbox.claim(10)] == ["kept"]

    async def test_nothing_is_claimable_before_commit(self, outbox: Any) -> None:
        unit = await self.make_unit_of_work(outbox)
        await outbox.put(["early"], unit)
        assert list(await outbox.claim(10)) == []
        await unit.commit()
        assert [entry.event for entry in await outbox.claim(10)] == ["early"]

    async def test_unacked_entries_are_claimed_again(self, outbox: Any) -> None:
        await self.put(outbox, "a", "b")
        first = [entry.id for entry in await outbox.claim(10)]
        again = [entry.id for entry in await outbox.claim(10)]
        assert first == again

    async def test_ack_removes_entries_for_good(self, outbox: Any) -> None:
        await self.put(outbox, "a", "b", "c")
        entries = list(await outbox.claim(10))
        await outbox.ack([entries[0].id, "no-such-entry"])
        assert [entry.event for entry in await outbox.claim(10)] == ["b", "c"]
        await outbox.ack([entry.id for entry in entries])
        assert list(await outbox.claim(10)) == []

    async def test_claim_respects_its_limit_oldest_first(self, outbox: Any) -> None:
        await self.put(outbox, *range(7))
        assert [entry.event for entry in await outbox.claim(3)] == [0, 1, 2]

    async def test_events_of_one_put_keep_their_order_across_units(self, outbox: Any) -> None:
        first = await self.make_unit_of_work(outbox)
        second = await self.make_unit_of_work(outbox)
        await outbox.put(["1a", "1b"], first)
        await outbox.put(["2a"], second)
        await second.commit()
        await first.commit()
        assert [entry.event for entry in await outbox.claim(10)] == ["2a", "1a", "1b"]

    @pytest.mark.parametrize("limit", [0, -1, 10**100, "10", 2.5, None, True])
    async def test_a_bad_limit_is_a_typed_error(self, outbox: Any, limit: object) -> None:
        with pytest.raises(ButtressError) as caught:
            await outbox.claim(limit)
        assert isinstance(caught.value, ValueError | TypeError)


class DependencyProviderContract:
    """Conformance suite for a dependency provider (`buttress.cqrs.DependencyProvider`).

    Subclass it (as ``TestSomething``) and provide `make_provider`, a provider that can give the
    class in ``scoped_kind`` (a new instance per scope) and the one in ``shared_kind`` (one instance
    for every scope). Within a scope, ``get`` returns one instance per kind, even to tasks asking at
    the same time.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    scoped_kind: ClassVar[type] = object
    shared_kind: ClassVar[type] = object

    async def make_provider(self) -> Any:
        """Return the provider. Subclasses must implement it and set the two kinds."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_provider()")

    async def test_one_instance_per_kind_within_a_scope(self) -> None:
        provider = await self.make_provider()
        async with provider.scope() as scope:
            first = await scope.get(self.scoped_kind)
            assert isinstance(first, self.scoped_kind)
            assert await scope.get(self.scoped_kind) is first

    async def test_concurrent_asks_in_a_scope_get_one_instance(self) -> None:
        provider = await self.make_provider()
        async with provider.scope() as scope:
            found = await asyncio.gather(*(scope.get(self.scoped_kind) for _ in range(8)))
        assert len({id(item) for item in found}) == 1

    async def test_scoped_instances_differ_across_scopes(self) -> None:
        provider = await self.make_provider()
        async with provider.scope() as one:
            first = await one.get(self.scoped_kind)
        async with provider.scope() as two:
            second = await two.get(self.scoped_kind)
        assert first is not second

    async def test_shared_instances_are_the_same_in_every_scope(self) -> None:
        provider = await self.make_provider()
        async with provider.scope() as one, provider.scope() as two:
            assert await one.get(self.shared_kind) is await two.get(self.shared_kind)


type NextLayer = Callable[[Any], Awaitable[Any]]


class MiddlewareContract:
    """Conformance suite for a bus middleware (`buttress.cqrs.Middleware`).

    Subclass it (as ``TestSomething``) and provide `make_middleware` and `make_dispatch` (a dispatch
    carrying ``message``, as the bus makes it). A middleware that lets a call through must return
    what the rest of the onion returned, raise what it raised (errors it does not handle pass
    unchanged), and call the rest once on success.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_middleware(self) -> Any:
        """Return the middleware. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_middleware()")

    def make_dispatch(self, message: object) -> Any:
        """Return a dispatch of ``message``. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_dispatch()")

    def message(self) -> object:
        """The message the tests dispatch (override for a middleware that checks messages)."""
        return object()

    async def test_the_result_passes_through_and_next_runs_once(self) -> None:
        middleware = await self.make_middleware()
        calls: list[object] = []
        result = object()

        async def rest(dispatch: Any) -> object:
            calls.append(dispatch)
            return result

        dispatch = self.make_dispatch(self.message())
        assert await middleware(dispatch, call_next=rest) is result
        assert calls == [dispatch]

    async def test_an_unhandled_error_passes_through_unchanged(self) -> None:
        middleware = await self.make_middleware()
        error = LookupError("not for the middleware to handle")

        async def rest(dispatch: Any) -> object:
            raise error

        with pytest.raises(LookupError) as caught:
            await middleware(self.make_dispatch(self.message()), call_next=rest)
        assert caught.value is error

    async def test_layers_nest_in_order(self) -> None:
        outer, inner = await self.make_middleware(), await self.make_middleware()
        seen: list[str] = []

        async def rest(dispatch: Any) -> str:
            seen.append("handler")
            return "done"

        async def through_inner(dispatch: Any) -> object:
            return await inner(dispatch, call_next=rest)

        assert await outer(self.make_dispatch(self.message()), call_next=through_inner) == "done"
        assert seen == ["handler"]
