"""`FlagSourceContract` and `AuditSinkContract`: what buttress-feature-flags' sources and sinks must do.

Both suites are duck-typed, so buttress-testing does not depend on buttress-feature-flags. A source
is driven through ``load()`` (whose result has ``.flags``, a mapping of key to a definition with
``.key`` and ``.enabled``), and, when the subclass says it is writable, ``get`` / ``put`` / ``delete``
(each returning the previous definition or ``None``). A watchable source (one with
``wait_for_change(timeout)``) must report a write. A sink is driven through ``record(event)`` and
``history(flag_key, limit=...)``; events are compared on ``actor``, ``action``, ``flag_key``,
``before``, ``after`` and ``timestamp``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["AuditSinkContract", "FlagSourceContract"]

_KEYS = ("plain", "Plain", "with.dots", "with:colon", "With Spaces", "ключ", "🚩", "x" * 200)


class FlagSourceContract:
    """Conformance suite for a flag source (buttress-feature-flags' ``FlagSource``).

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_source` and
    `make_flag`. `make_source` builds a fresh source that serves exactly the flags given (a read-only
    source writes them where it reads from; a writable one may ``put`` them). When the source has
    ``aclose()`` or ``close()`` it is called after the test.

    Attributes:
        writable: Whether the source implements ``get``, ``put`` and ``delete``; their checks run only then.
        change_wait: Seconds a watchable source may take to report a write.
        concurrency: How many writers race in the concurrent-write check.
    """

    writable: ClassVar[bool] = True
    change_wait: ClassVar[float] = 5.0
    concurrency: ClassVar[int] = 20

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    _WRITE_CHECKS: ClassVar[tuple[str, ...]] = (
        "test_get_of_an_unknown_key_is_none",
        "test_put_returns_the_previous_definition",
        "test_delete_returns_what_was_removed",
        "test_keys_are_distinct",
        "test_concurrent_writers_lose_nothing",
        "test_concurrent_writes_of_one_key_report_one_history",
        "test_a_watchable_source_reports_a_write",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A read-only suite (``writable = False``) does not collect the write checks at all."""
        super().__init_subclass__(**kwargs)
        if not cls.writable:
            for name in cls._WRITE_CHECKS:
                setattr(cls, name, None)

    async def make_source(self, flags: Sequence[Any]) -> Any:
        """Return a new source serving exactly ``flags``. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_source()")

    def make_flag(self, key: str, *, enabled: bool = True, description: str | None = None) -> Any:
        """Return a flag definition with this key, state and description. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_flag()")

    @pytest_asyncio.fixture
    async def opened(self) -> AsyncIterator[list[Any]]:
        """Sources made during the test, closed after it."""
        sources: list[Any] = []
        try:
            yield sources
        finally:
            for source in sources:
                await close_quietly(source)

    async def _source(self, opened: list[Any], flags: Sequence[Any] = ()) -> Any:
        source = await self.make_source(list(flags))
        opened.append(source)
        return source

    async def test_an_empty_source_loads_no_flags(self, opened: list[Any]) -> None:
        source = await self._source(opened)
        loaded = await source.load()
        assert dict(loaded.flags) == {}

    async def test_load_returns_every_flag_given(self, opened: list[Any]) -> None:
        flags = [self.make_flag(key, enabled=index % 2 == 0) for index, key in enumerate(_KEYS)]
        source = await self._source(opened, flags)
        loaded = await source.load()
        assert set(loaded.flags) == set(_KEYS)
        for flag in flags:
            assert loaded.flags[flag.key] == flag, f"{flag.key!r} came back changed"

    async def test_load_twice_gives_the_same_flags(self, opened: list[Any]) -> None:
        source = await self._source(opened, [self.make_flag("a"), self.make_flag("b", enabled=False)])
        first, second = await source.load(), await source.load()
        assert dict(first.flags) == dict(second.flags)

    async def test_get_of_an_unknown_key_is_none(self, opened: list[Any]) -> None:
        source = await self._source(opened)
        assert await source.get("contract-absent") is None

    async def test_put_returns_the_previous_definition(self, opened: list[Any]) -> None:
        source = await self._source(opened)
        first = self.make_flag("contract-put", description="first")
        second = self.make_flag("contract-put", enabled=False, description="second")
        assert await source.put(first) is None
        assert await source.put(second) == first
        assert await source.get("contract-put") == second
        loaded = await source.load()
        assert loaded.flags["contract-put"] == second

    async def test_delete_returns_what_was_removed(self, opened: list[Any]) -> None:
        flag = self.make_flag("contract-delete")
        source = await self._source(opened)
        await source.put(flag)
        assert await source.delete("contract-delete") == flag
        assert await source.get("contract-delete") is None
        assert "contract-delete" not in (await source.load()).flags
        assert await source.delete("contract-delete") is None

    async def test_keys_are_distinct(self, opened: list[Any]) -> None:
        source = await self._source(opened)
        for index, key in enumerate(_KEYS):
            await source.put(self.make_flag(key, description=str(index)))
        for index, key in enumerate(_KEYS):
            stored = await source.get(key)
            assert stored is not None, key
            assert stored.description == str(index), key

    async def test_concurrent_writers_lose_nothing(self, opened: list[Any]) -> None:
        source = await self._source(opened)
        keys = [f"contract-race-{index}" for index in range(self.concurrency)]
        previous = await asyncio.gather(*(source.put(self.make_flag(key)) for key in keys))
        assert previous == [None] * len(keys)
        assert set(keys) <= set((await source.load()).flags)

    async def test_concurrent_writes_of_one_key_report_one_history(self, opened: list[Any]) -> None:
        """Every put sees a distinct "before": exactly one of N racing puts saw none."""
        source = await self._source(opened)
        flags = [self.make_flag("contract-one", description=str(index)) for index in range(self.concurrency)]
        previous = await asyncio.gather(*(source.put(flag) for flag in flags))
        assert sum(1 for item in previous if item is None) == 1
        befores = [item.description for item in previous if item is not None]
        assert len(befores) == len(set(befores)) == self.concurrency - 1

    async def test_a_watchable_source_reports_a_write(self, opened: list[Any]) -> None:
        source = await self._source(opened)
        if not callable(getattr(source, "wait_for_change", None)):
            pytest.skip("the source has no wait_for_change()")
        await source.wait_for_change(0.05)  # subscribe, and swallow anything pending
        waiter = asyncio.create_task(source.wait_for_change(self.change_wait))
        await asyncio.sleep(0.2)  # let the waiter subscribe before the write
        await source.put(self.make_flag("contract-watched"))
        assert await waiter is True

    async def test_an_idle_watchable_source_times_out(self, opened: list[Any]) -> None:
        source = await self._source(opened)
        if not callable(getattr(source, "wait_for_change", None)):
            pytest.skip("the source has no wait_for_change()")
        await source.wait_for_change(0.05)
        assert await source.wait_for_change(0.2) is False


class AuditSinkContract:
    """Conformance suite for an audit sink (buttress-feature-flags' ``AuditSink``).

    Subclass it, implement `make_sink` (a fresh, empty sink), `make_flag` (a flag definition, used as
    an event's before/after) and `make_event` (a ``FlagAuditEvent``).

    Attributes:
        actions: The action values events are built with (``action`` is passed to `make_event` as one
            of these strings).
        concurrency: How many events race in the concurrent-record check.
    """

    actions: ClassVar[tuple[str, ...]] = ("create", "enable", "disable", "modify", "delete")
    concurrency: ClassVar[int] = 25

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_sink(self) -> Any:
        """Return a new, empty sink. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_sink()")

    def make_flag(self, key: str, *, enabled: bool = True) -> Any:
        """Return a flag definition. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_flag()")

    def make_event(
        self, *, actor: str, action: str, flag_key: str, before: Any, after: Any, timestamp: datetime
    ) -> Any:
        """Return an audit event. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_event()")

    @pytest_asyncio.fixture
    async def sink(self) -> AsyncIterator[Any]:
        """A fresh sink from `make_sink`, closed after the test."""
        made = await self.make_sink()
        try:
            yield made
        finally:
            await close_quietly(made)

    def _event(self, key: str, index: int, action: str = "modify", *, actor: str = "alice") -> Any:
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=index, microseconds=index)
        before = None if action == "create" else self.make_flag(key, enabled=index % 2 == 0)
        after = None if action == "delete" else self.make_flag(key, enabled=index % 2 == 1)
        return self.make_event(
            actor=actor, action=action, flag_key=key, before=before, after=after, timestamp=at
        )

    @staticmethod
    def _same(got: Any, expected: Any) -> None:
        for field in ("actor", "action", "flag_key", "before", "after"):
            assert getattr(got, field) == getattr(expected, field), field
        assert got.timestamp == expected.timestamp
        assert got.timestamp.utcoffset() == timedelta(0), "timestamps come back in UTC"

    async def test_history_of_an_unknown_flag_is_empty(self, sink: Any) -> None:
        assert list(await sink.history("contract-none")) == []

    async def test_every_action_round_trips(self, sink: Any) -> None:
        events = [self._event("contract-rt", index, action) for index, action in enumerate(self.actions)]
        for event in events:
            await sink.record(event)
        history = list(await sink.history("contract-rt"))
        assert len(history) == len(events)
        for got, expected in zip(history, events, strict=True):
            self._same(got, expected)

    async def test_history_is_per_flag(self, sink: Any) -> None:
        await sink.record(self._event("contract-a", 0, actor="a"))
        await sink.record(self._event("contract-b", 1, actor="b"))
        await sink.record(self._event("contract-a", 2, actor="c"))
        assert [event.actor for event in await sink.history("contract-a")] == ["a", "c"]
        assert [event.actor for event in await sink.history("contract-b")] == ["b"]

    async def test_history_keeps_recording_order_even_with_equal_timestamps(self, sink: Any) -> None:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        for index in range(5):
            flag = self.make_flag("contract-order")
            await sink.record(
                self.make_event(
                    actor=f"actor-{index}",
                    action="modify",
                    flag_key="contract-order",
                    before=flag,
                    after=flag,
                    timestamp=at,
                )
            )
        assert [event.actor for event in await sink.history("contract-order")] == [
            f"actor-{i}" for i in range(5)
        ]

    async def test_limit_keeps_the_newest(self, sink: Any) -> None:
        for index in range(6):
            await sink.record(self._event("contract-limit", index, actor=str(index)))
        assert [event.actor for event in await sink.history("contract-limit", limit=2)] == ["4", "5"]
        assert len(await sink.history("contract-limit", limit=100)) == 6

    async def test_a_bad_limit_is_a_value_error(self, sink: Any) -> None:
        for limit in (0, -1):
            with pytest.raises(ValueError, match="limit"):
                await sink.history("contract-limit", limit=limit)

    async def test_concurrent_records_lose_nothing(self, sink: Any) -> None:
        events = [self._event("contract-race", index, actor=f"w{index}") for index in range(self.concurrency)]
        await asyncio.gather(*(sink.record(event) for event in events))
        assert sorted(event.actor for event in await sink.history("contract-race")) == sorted(
            event.actor for event in events
        )
