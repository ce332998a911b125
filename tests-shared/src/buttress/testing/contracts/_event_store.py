"""`EventStoreContract`: what an event store for buttress-event-sourcing must do.

The suite is duck-typed, so buttress-testing does not depend on buttress-event-sourcing: a subclass
gives a factory for the store, one for events, and the store's two expected-version sentinels.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from buttress.core import ConflictError

from ._cache import close_quietly

__all__ = ["EventStoreContract"]


class EventStoreContract:
    """Conformance suite for an event store (`buttress.event_sourcing.EventStore`).

    Subclass it (as ``TestSomething``) and provide:

    - `make_store`: a new, empty store (closed after the test if it has ``aclose()`` or ``close()``);
    - `make_event`: the event the store appends, the ``index``-th of a stream, with a fresh unique
      ``event_id`` on every call;
    - `no_stream` and `any_version`: the store's sentinels for "the stream must not exist" and "do
      not check the version".

    Stored events must expose ``event_id``, ``stream_id``, ``version`` (1, 2, ... per stream) and
    ``position`` (increasing in the global log). Conflicts must be `buttress.core.ConflictError`
    subclasses; version conflicts carry ``.stream_id``, ``.expected`` and ``.actual``. Malformed
    arguments raise `ValueError`.
    """

    no_stream: ClassVar[Any] = None
    any_version: ClassVar[Any] = None
    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_store(self) -> Any:
        """Return a new, empty store. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store()")

    def make_event(self, stream_id: str, index: int) -> Any:
        """Return a new event with a fresh id for ``stream_id``. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_event()")

    def events(self, stream_id: str, count: int, start: int = 0) -> list[Any]:
        """``count`` fresh events for ``stream_id``."""
        return [self.make_event(stream_id, start + n) for n in range(count)]

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[Any]:
        """A fresh store from `make_store`, closed after the test."""
        if self.no_stream is None or self.any_version is None:
            raise NotImplementedError(f"{type(self).__name__} must set no_stream and any_version")
        made = await self.make_store()
        try:
            yield made
        finally:
            await close_quietly(made)

    async def read_everything(self, store: Any) -> list[Any]:
        """Every event of the global log, read in pages of 7."""
        seen: list[Any] = []
        after = 0
        while page := list(await store.read_all(after, 7)):
            assert len(page) <= 7, f"read_all(limit=7) returned {len(page)} events"
            assert page[0].position > after, f"read_all({after}) returned position {page[0].position}"
            assert len(seen) < 10_000, "read_all never reaches the end of the log"
            seen.extend(page)
            after = page[-1].position
        return seen

    # Appending and reading ----------------------------------------------------------------------

    async def test_append_to_a_new_stream_then_read(self, store: Any) -> None:
        batch = self.events("s-1", 3)
        result = await store.append("s-1", batch, self.no_stream)
        assert result.version == 3
        stored = list(await store.read("s-1"))
        assert [e.event_id for e in stored] == [e.event_id for e in batch]
        assert [e.version for e in stored] == [1, 2, 3]
        assert {e.stream_id for e in stored} == {"s-1"}
        assert result.position == stored[-1].position

    async def test_an_unknown_stream_reads_as_empty(self, store: Any) -> None:
        assert list(await store.read("nobody")) == []
        assert list(await store.read_all(0, 10)) == []

    async def test_appends_with_the_current_version_continue_the_stream(self, store: Any) -> None:
        first = await store.append("s-2", self.events("s-2", 2), self.no_stream)
        second = await store.append("s-2", self.events("s-2", 3, 2), first.version)
        assert second.version == 5
        assert [e.version for e in await store.read("s-2")] == [1, 2, 3, 4, 5]

    async def test_read_from_and_to_a_version(self, store: Any) -> None:
        await store.append("s-3", self.events("s-3", 6), self.no_stream)
        assert [e.version for e in await store.read("s-3", from_version=4)] == [4, 5, 6]
        assert [e.version for e in await store.read("s-3", from_version=2, to_version=3)] == [2, 3]
        assert list(await store.read("s-3", from_version=7)) == []

    # Optimistic concurrency ---------------------------------------------------------------------

    async def test_a_stale_expected_version_conflicts_and_reports_both_versions(self, store: Any) -> None:
        await store.append("s-4", self.events("s-4", 3), self.no_stream)
        with pytest.raises(ConflictError) as info:
            await store.append("s-4", self.events("s-4", 1, 3), 1)
        error: Any = info.value
        assert (error.stream_id, error.expected, error.actual) == ("s-4", 1, 3)
        assert "1" in str(error)
        assert "3" in str(error)
        assert "s-4" in str(error)
        assert len(await store.read("s-4")) == 3

    async def test_no_stream_conflicts_when_the_stream_exists(self, store: Any) -> None:
        await store.append("s-5", self.events("s-5", 2), self.no_stream)
        with pytest.raises(ConflictError) as info:
            await store.append("s-5", self.events("s-5", 1, 2), self.no_stream)
        error: Any = info.value
        assert error.actual == 2
        assert error.stream_id == "s-5"

    async def test_an_exact_version_conflicts_when_the_stream_does_not_exist(self, store: Any) -> None:
        with pytest.raises(ConflictError) as info:
            await store.append("s-6", self.events("s-6", 1), 4)
        error: Any = info.value
        assert (error.expected, error.actual) == (4, 0)
        assert list(await store.read("s-6")) == []

    async def test_any_version_appends_whatever_the_stream_holds(self, store: Any) -> None:
        await store.append("s-7", self.events("s-7", 1), self.any_version)
        await store.append("s-7", self.events("s-7", 2, 1), self.any_version)
        assert [e.version for e in await store.read("s-7")] == [1, 2, 3]

    async def test_a_refused_append_stores_none_of_its_events(self, store: Any) -> None:
        await store.append("s-8", self.events("s-8", 1), self.no_stream)
        batch = self.events("s-8", 4, 1)
        with pytest.raises(ConflictError):
            await store.append("s-8", batch, self.no_stream)
        stored_ids = {e.event_id for e in await self.read_everything(store)}
        assert not stored_ids & {e.event_id for e in batch}

    async def test_racing_appends_at_one_version_let_exactly_one_win(self, store: Any) -> None:
        await store.append("s-9", self.events("s-9", 1), self.no_stream)
        batches = [self.events("s-9", 2, 100 * n) for n in range(8)]
        results = await asyncio.gather(
            *(store.append("s-9", batch, 1) for batch in batches), return_exceptions=True
        )
        winners = [n for n, r in enumerate(results) if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert all(isinstance(r, ConflictError) for r in results if isinstance(r, BaseException)), results
        stored = list(await store.read("s-9"))
        assert [e.version for e in stored] == [1, 2, 3]
        assert [e.event_id for e in stored[1:]] == [e.event_id for e in batches[winners[0]]]

    # The global log -----------------------------------------------------------------------------

    async def test_the_global_log_holds_every_event_once_in_increasing_positions(self, store: Any) -> None:
        appended: list[Any] = []
        for n in range(5):
            stream = f"g-{n % 3}"
            batch = self.events(stream, n + 1, 10 * n)
            await store.append(stream, batch, self.any_version)
            appended.extend(batch)
        seen = await self.read_everything(store)
        assert [e.event_id for e in seen] == [e.event_id for e in appended]
        positions = [e.position for e in seen]
        assert positions == sorted(set(positions))
        assert all(p > 0 for p in positions)

    async def test_read_all_after_a_position_and_with_a_limit(self, store: Any) -> None:
        await store.append("p-1", self.events("p-1", 10), self.no_stream)
        everything = list(await store.read_all(0, 100))
        middle = everything[3].position
        after = list(await store.read_all(middle, 4))
        assert [e.event_id for e in after] == [e.event_id for e in everything[4:8]]
        assert list(await store.read_all(everything[-1].position, 10)) == []

    async def test_concurrent_appends_to_many_streams_keep_every_stream_and_the_log_whole(
        self, store: Any
    ) -> None:
        streams = [f"c-{n}" for n in range(6)]

        async def writer(stream: str) -> None:
            version = self.no_stream
            for round_ in range(4):
                result = await store.append(stream, self.events(stream, 2, 2 * round_), version)
                version = result.version

        await asyncio.gather(*(writer(s) for s in streams))
        seen = await self.read_everything(store)
        assert len(seen) == len({e.event_id for e in seen}) == 6 * 8
        for stream in streams:
            assert [e.version for e in seen if e.stream_id == stream] == list(range(1, 9))

    # Idempotency --------------------------------------------------------------------------------

    async def test_re_appending_the_same_batch_to_the_same_place_is_a_no_op(self, store: Any) -> None:
        await store.append("i-1", self.events("i-1", 1), self.no_stream)
        batch = self.events("i-1", 3, 1)
        first = await store.append("i-1", batch, 1)
        again = await store.append("i-1", batch, 1)
        assert again.version == first.version == 4
        with_any = await store.append("i-1", batch, self.any_version)
        assert with_any.version == 4
        seen = await self.read_everything(store)
        assert len(seen) == 4
        assert len({e.event_id for e in seen}) == 4

    async def test_a_stored_event_id_in_another_stream_is_a_conflict(self, store: Any) -> None:
        batch = self.events("i-2", 2)
        await store.append("i-2", batch, self.no_stream)
        with pytest.raises(ConflictError):
            await store.append("i-3", batch[:1], self.any_version)
        assert list(await store.read("i-3")) == []
        assert len(await self.read_everything(store)) == 2

    async def test_a_batch_mixing_stored_and_new_ids_is_a_conflict(self, store: Any) -> None:
        batch = self.events("i-4", 2)
        await store.append("i-4", batch, self.no_stream)
        fresh = self.make_event("i-4", 9)
        with pytest.raises(ConflictError):
            await store.append("i-4", [batch[1], fresh], self.any_version)
        assert [e.event_id for e in await store.read("i-4")] == [e.event_id for e in batch]

    # Bad input ----------------------------------------------------------------------------------

    async def test_an_empty_batch_is_rejected(self, store: Any) -> None:
        with pytest.raises(ValueError, match="events"):
            await store.append("b-1", [], self.no_stream)

    async def test_a_bad_page_is_rejected(self, store: Any) -> None:
        with pytest.raises(ValueError, match="limit"):
            await store.read_all(0, 0)
        with pytest.raises(ValueError, match="after_position"):
            await store.read_all(-1, 10)

    async def test_a_bad_expected_version_is_rejected(self, store: Any) -> None:
        with pytest.raises(ValueError, match="expected_version"):
            await store.append("b-2", self.events("b-2", 1), -5)
        assert list(await store.read("b-2")) == []
