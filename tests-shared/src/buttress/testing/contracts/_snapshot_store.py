"""`SnapshotStoreContract`: what a snapshot store for buttress-event-sourcing must do.

The suite is duck-typed, so buttress-testing does not depend on buttress-event-sourcing: a subclass
gives a factory for the store, one for snapshot records (with their hash computed by the package's
``state_hash``), and the hash a record's fields give.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["SnapshotStoreContract"]


class SnapshotStoreContract:
    """Conformance suite for a snapshot store (`buttress.event_sourcing.SnapshotStore`).

    Subclass it (as ``TestSomething``) and provide:

    - `make_store`: a new, empty store (closed after the test if it has ``aclose()`` or ``close()``);
    - `make_snapshot`: a snapshot record of ``stream_id`` at ``version`` whose ``state_hash`` binds
      its fields (``buttress.event_sourcing.state_hash`` over the state, stream id, version, aggregate
      type, schema version and last event id);
    - `rehash`: the hash a record's fields give now, as the repository recomputes it on load.

    Records expose ``stream_id``, ``version``, ``state`` (bytes), ``state_hash``, ``aggregate_type``,
    ``timestamp``, ``schema_version`` and ``last_event_id``, and `replace` makes a copy with some
    fields changed (``dataclasses.replace`` by default). The store must give back every bound field
    exactly (the timestamp may come back at a coarser precision), keep one snapshot per stream, let a
    later (or equal) version replace an earlier one, keep an intact later one against an earlier one,
    and never let a snapshot that fails its hash block a good one.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_store(self) -> Any:
        """Return a new, empty snapshot store. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store()")

    def make_snapshot(
        self,
        stream_id: str,
        version: int,
        *,
        state: bytes = b"{}",
        aggregate_type: str = "Thing",
        schema_version: int = 1,
        last_event_id: uuid.UUID | None = None,
    ) -> Any:
        """Return a record with its hash computed over these fields. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_snapshot()")

    def rehash(self, record: Any) -> str:
        """Return the hash ``record``'s fields give now. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement rehash()")

    def replace(self, record: Any, **changes: Any) -> Any:
        """A copy of ``record`` with ``changes`` and its hash left as it was (a damaged record)."""
        return dataclasses.replace(record, **changes)

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[Any]:
        """A fresh store from `make_store`, closed after the test."""
        made = await self.make_store()
        try:
            yield made
        finally:
            await close_quietly(made)

    def snapshot(self, stream_id: str, version: int, **fields: Any) -> Any:
        """`make_snapshot` with a fresh ``last_event_id`` unless one is given."""
        fields.setdefault("last_event_id", uuid.uuid4())
        return self.make_snapshot(stream_id, version, **fields)

    def assert_same(self, loaded: Any, saved: Any) -> None:
        """``loaded`` carries every bound field of ``saved``, and still matches its hash."""
        assert loaded is not None, "the saved snapshot was not found"
        for name in (
            "stream_id",
            "version",
            "state",
            "state_hash",
            "aggregate_type",
            "schema_version",
            "last_event_id",
        ):
            assert getattr(loaded, name) == getattr(saved, name), f"{name} changed in the store"
        assert self.rehash(loaded) == loaded.state_hash, "the loaded snapshot fails its own hash"
        drift = abs((loaded.timestamp - saved.timestamp).total_seconds())
        assert drift < 1, f"the timestamp moved by {drift} s"

    # Round trips --------------------------------------------------------------------------------

    async def test_an_unknown_stream_has_no_snapshot(self, store: Any) -> None:
        assert await store.load_snapshot("nobody") is None

    async def test_a_saved_snapshot_loads_with_every_bound_field(self, store: Any) -> None:
        saved = self.snapshot("s-1", 7, state=b'{"balance":12}', aggregate_type="Account")
        await store.save_snapshot(saved)
        self.assert_same(await store.load_snapshot("s-1"), saved)

    async def test_schema_version_and_last_event_id_are_kept(self, store: Any) -> None:
        event_id = uuid.uuid4()
        saved = self.snapshot("s-2", 3, schema_version=4, last_event_id=event_id)
        await store.save_snapshot(saved)
        loaded = await store.load_snapshot("s-2")
        self.assert_same(loaded, saved)
        assert (loaded.schema_version, loaded.last_event_id) == (4, event_id)

    async def test_the_state_bytes_come_back_exactly(self, store: Any) -> None:
        state = '{"name":"Zoë 流","notes":"'.encode() + b"x" * 200_000 + b'"}'
        saved = self.snapshot("s-3", 1, state=state)
        await store.save_snapshot(saved)
        self.assert_same(await store.load_snapshot("s-3"), saved)

    async def test_stream_ids_are_matched_exactly(self, store: Any) -> None:
        names = ["acc", "ACC", "acc ", "流-1", "a:b/c"]
        saved = {name: self.snapshot(name, n + 1) for n, name in enumerate(names)}
        for record in saved.values():
            await store.save_snapshot(record)
        for name in names:
            self.assert_same(await store.load_snapshot(name), saved[name])
        assert await store.load_snapshot("ac") is None

    # Which snapshot is kept ---------------------------------------------------------------------

    async def test_a_later_version_replaces_an_earlier_one(self, store: Any) -> None:
        await store.save_snapshot(self.snapshot("s-4", 2))
        later = self.snapshot("s-4", 5, state=b'{"v":5}')
        await store.save_snapshot(later)
        self.assert_same(await store.load_snapshot("s-4"), later)

    async def test_the_same_version_saved_again_replaces_it(self, store: Any) -> None:
        await store.save_snapshot(self.snapshot("s-5", 3, schema_version=1))
        again = self.snapshot("s-5", 3, schema_version=2, state=b'{"shape":2}')
        await store.save_snapshot(again)
        self.assert_same(await store.load_snapshot("s-5"), again)

    async def test_an_earlier_version_never_replaces_an_intact_later_one(self, store: Any) -> None:
        later = self.snapshot("s-6", 9)
        await store.save_snapshot(later)
        await store.save_snapshot(self.snapshot("s-6", 4))
        self.assert_same(await store.load_snapshot("s-6"), later)

    async def test_a_snapshot_that_fails_its_hash_never_blocks_a_good_one(self, store: Any) -> None:
        good = self.snapshot("s-7", 5)
        edited = self.replace(good, version=50)  # an edited version: the hash no longer matches
        assert self.rehash(edited) != edited.state_hash
        await store.save_snapshot(edited)
        await store.save_snapshot(good)
        self.assert_same(await store.load_snapshot("s-7"), good)

    async def test_a_snapshot_copied_from_another_stream_does_not_block_its_own(self, store: Any) -> None:
        theirs = self.snapshot("s-8-other", 40)
        copied = self.replace(theirs, stream_id="s-8")  # bound to the other stream
        await store.save_snapshot(copied)
        own = self.snapshot("s-8", 2)
        await store.save_snapshot(own)
        self.assert_same(await store.load_snapshot("s-8"), own)

    async def test_each_stream_keeps_its_own_snapshot(self, store: Any) -> None:
        first, second = self.snapshot("s-9a", 3), self.snapshot("s-9b", 1)
        await store.save_snapshot(first)
        await store.save_snapshot(second)
        await store.save_snapshot(self.snapshot("s-9a", 1))
        self.assert_same(await store.load_snapshot("s-9a"), first)
        self.assert_same(await store.load_snapshot("s-9b"), second)

    async def test_concurrent_saves_keep_the_latest_version(self, store: Any) -> None:
        records = [self.snapshot("s-10", version) for version in range(1, 21)]
        shuffled = records[:]
        random.Random(20).shuffle(shuffled)  # noqa: S311 - an order, not a secret
        await asyncio.gather(*(store.save_snapshot(record) for record in shuffled))
        self.assert_same(await store.load_snapshot("s-10"), records[-1])

    # Bad input ----------------------------------------------------------------------------------

    async def test_something_that_is_not_a_snapshot_is_refused(self, store: Any) -> None:
        with pytest.raises((TypeError, ValueError)):
            await store.save_snapshot("not a snapshot")
        assert await store.load_snapshot("not a snapshot") is None
