"""`CacheStorageContract`: what every ``buttress.caching.CacheStorage`` must do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["CacheStorageContract"]


class CacheStorageContract:
    """Conformance suite for a cache storage (``buttress.caching.CacheStorage``).

    A storage keeps entries under string keys and decides nothing else: these checks hold for any
    storage, whatever cache sits in front. Subclass it in a ``test_*.py`` module (as
    ``TestSomething``) and implement `make_storage` and `make_entry`; this suite does not import
    buttress-caching, so the hooks build the storage and its entries::

        from buttress.caching import Entry
        from buttress.testing import CacheStorageContract

        class TestMyStorage(CacheStorageContract):
            async def make_storage(self) -> MyStorage:
                return MyStorage()

            def make_entry(self, value, expires_at=None, stale_until=None, delta=0.0):
                return Entry(value, expires_at, stale_until, delta)

    Each test gets a fresh, empty storage, closed after the test. Values are ``bytes`` (what a
    cache with a serializer writes), so storages that keep only bytes pass too.

    Attributes:
        short_keep: A ``keep_for`` (and lock TTL) in seconds the storage honours; the checks that
            an entry or a lock goes wait for it to pass.
        expiry_wait: How long, at most, those checks wait for the entry or lock to go.
    """

    short_keep: ClassVar[float] = 0.2
    expiry_wait: ClassVar[float] = 5.0

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_storage(self) -> Any:
        """Return a new, empty storage to test. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_storage()")

    def make_entry(
        self,
        value: bytes,
        expires_at: float | None = None,
        stale_until: float | None = None,
        delta: float = 0.0,
    ) -> Any:
        """Return ``Entry(value, expires_at, stale_until, delta)``. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_entry()")

    @pytest_asyncio.fixture
    async def storage(self) -> AsyncIterator[Any]:
        """A fresh storage from `make_storage`, closed after the test."""
        made = await self.make_storage()
        try:
            yield made
        finally:
            await close_quietly(made)

    # --- helpers ----------------------------------------------------------------------------------

    async def put(
        self,
        storage: Any,
        key: str,
        value: bytes,
        *,
        keep_for: float | None = None,
        tags: tuple[str, ...] = (),
    ) -> None:
        """Write one entry holding ``value``."""
        await storage.write([(key, self.make_entry(value), keep_for)], list(tags))

    async def value_of(self, storage: Any, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None``."""
        entry = await storage.read(key)
        return None if entry is None else entry.value

    # --- reading and writing ----------------------------------------------------------------------

    async def test_an_unknown_key_reads_as_none(self, storage: Any) -> None:
        assert await storage.read("contract:absent") is None
        assert await storage.read_many(["contract:absent", "contract:other"]) == [None, None]
        assert await storage.read_many([]) == []

    async def test_an_entry_is_read_back_with_its_timing(self, storage: Any) -> None:
        entry = self.make_entry(b"value", 1_700_000_000.25, 1_700_000_030.5, 0.125)
        await storage.write([("contract:entry", entry, 60.0)])
        got = await storage.read("contract:entry")
        assert got is not None
        assert (got.value, got.expires_at, got.stale_until, got.delta) == (
            b"value",
            1_700_000_000.25,
            1_700_000_030.5,
            0.125,
        )

    async def test_an_entry_without_expiry_is_read_back_without_one(self, storage: Any) -> None:
        await self.put(storage, "contract:forever", b"")
        got = await storage.read("contract:forever")
        assert got is not None
        assert (got.value, got.expires_at, got.stale_until) == (b"", None, None)

    async def test_an_entry_past_its_expiry_is_still_read_while_kept(self, storage: Any) -> None:
        """The storage never judges freshness: the cache in front may serve an expired entry stale."""
        await storage.write([("contract:old", self.make_entry(b"old", 1.0, 2.0, 0.0), 60.0)])
        got = await storage.read("contract:old")
        assert got is not None
        assert got.expires_at == 1.0

    async def test_a_write_replaces_the_entry(self, storage: Any) -> None:
        await self.put(storage, "contract:over", b"first")
        await self.put(storage, "contract:over", b"second")
        assert await self.value_of(storage, "contract:over") == b"second"

    async def test_a_batch_write_is_read_back_in_order(self, storage: Any) -> None:
        items = [(f"contract:batch:{i}", self.make_entry(str(i).encode()), 60.0) for i in range(30)]
        await storage.write(items)
        keys = [key for key, _, _ in items]
        entries = await storage.read_many([*reversed(keys), "contract:absent"])
        assert [_value(e) for e in entries[:-1]] == [str(i).encode() for i in reversed(range(30))]
        assert entries[-1] is None

    async def test_an_empty_batch_is_a_no_op(self, storage: Any) -> None:
        await storage.write([], ["contract:tag"])
        await storage.write([])
        assert await storage.remove_tags(["contract:tag"]) == []

    async def test_keys_are_distinct(self, storage: Any) -> None:
        keys = ["a", "A", "a ", "a:b", "a*", "a?", "[a]", "ключ", "🔑", "x" * 200, "a\nb"]
        for index, key in enumerate(keys):
            await self.put(storage, key, str(index).encode())
        for index, key in enumerate(keys):
            assert await self.value_of(storage, key) == str(index).encode(), key

    # --- removing ---------------------------------------------------------------------------------

    async def test_remove_reports_whether_the_key_held_an_entry(self, storage: Any) -> None:
        await self.put(storage, "contract:del", b"v")
        assert await storage.remove("contract:del") is True
        assert await storage.read("contract:del") is None
        assert await storage.remove("contract:del") is False

    async def test_remove_tags_removes_exactly_the_tagged_keys(self, storage: Any) -> None:
        await self.put(storage, "contract:t:a", b"a", tags=("red",))
        await self.put(storage, "contract:t:b", b"b", tags=("red", "blue"))
        await self.put(storage, "contract:t:c", b"c", tags=("blue",))
        await self.put(storage, "contract:t:d", b"d")
        assert sorted(await storage.remove_tags(["red"])) == ["contract:t:a", "contract:t:b"]
        assert await storage.read_many(["contract:t:a", "contract:t:b"]) == [None, None]
        assert await self.value_of(storage, "contract:t:c") == b"c"
        assert await self.value_of(storage, "contract:t:d") == b"d"
        assert await storage.remove_tags(["red"]) == []
        assert await storage.remove_tags(["blue", "green"]) == ["contract:t:c"]

    async def test_remove_tags_leaves_out_keys_already_removed(self, storage: Any) -> None:
        await self.put(storage, "contract:gone", b"x", tags=("t",))
        await self.put(storage, "contract:kept", b"y", tags=("t",))
        await storage.remove("contract:gone")
        assert await storage.remove_tags(["t"]) == ["contract:kept"]

    async def test_remove_pattern_removes_the_matching_keys(self, storage: Any) -> None:
        for key in ["user:1", "user:2", "user:10", "team:1", "user", "xuser:1"]:
            await self.put(storage, key, b"v")
        assert await storage.remove_pattern("user:?") == 2
        assert await storage.read_many(["user:1", "user:2"]) == [None, None]
        assert await storage.remove_pattern("user:*") == 1
        assert await storage.remove_pattern("[tx]*") == 2
        assert await self.value_of(storage, "user") == b"v"
        assert await storage.remove_pattern("nothing:*") == 0

    async def test_remove_pattern_takes_glob_characters_in_keys_literally_when_escaped(
        self, storage: Any
    ) -> None:
        await self.put(storage, "a*b", b"star")
        await self.put(storage, "axb", b"x")
        assert await storage.remove_pattern("a[*]b") == 1
        assert await self.value_of(storage, "axb") == b"x"

    async def test_clear_removes_every_key(self, storage: Any) -> None:
        for index in range(25):
            await self.put(storage, f"contract:clear:{index}", b"v", tags=("t",))
        await storage.clear()
        assert await storage.read_many([f"contract:clear:{i}" for i in range(25)]) == [None] * 25
        assert await storage.remove_tags(["t"]) == []
        await self.put(storage, "contract:after", b"ok")
        assert await self.value_of(storage, "contract:after") == b"ok"

    # --- keep_for ---------------------------------------------------------------------------------

    async def test_an_entry_goes_after_its_keep_for(self, storage: Any) -> None:
        await self.put(storage, "contract:short", b"soon gone", keep_for=self.short_keep)
        await self.put(storage, "contract:long", b"kept", keep_for=3600)
        await self.put(storage, "contract:always", b"kept")
        await self._wait_until_gone(storage, "contract:short")
        assert await self.value_of(storage, "contract:long") == b"kept"
        assert await self.value_of(storage, "contract:always") == b"kept"

    async def test_a_rewrite_without_keep_for_keeps_the_entry(self, storage: Any) -> None:
        await self.put(storage, "contract:reset", b"v1", keep_for=self.short_keep)
        await self.put(storage, "contract:reset", b"v2")
        await asyncio.sleep(self.short_keep * 2)
        assert await self.value_of(storage, "contract:reset") == b"v2"

    async def _wait_until_gone(self, storage: Any, key: str) -> None:
        await asyncio.sleep(self.short_keep)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expiry_wait
        while await storage.read(key) is not None:
            assert loop.time() < deadline, f"{key} outlived its keep_for by {self.expiry_wait}s"
            await asyncio.sleep(0.05)

    # --- locks ------------------------------------------------------------------------------------

    async def test_a_lock_has_one_holder_at_a_time(self, storage: Any) -> None:
        taken = await storage.lock("contract:lock", "first", 60.0)
        if taken is None:
            pytest.skip("this storage has no lock shared between processes (lock() returns None)")
        assert taken is True
        assert await storage.lock("contract:lock", "second", 60.0) is False
        assert await storage.lock("contract:other", "second", 60.0) is True
        await storage.unlock("contract:lock", "second")  # not the holder: nothing happens
        assert await storage.lock("contract:lock", "third", 60.0) is False
        await storage.unlock("contract:lock", "first")
        assert await storage.lock("contract:lock", "third", 60.0) is True

    async def test_concurrent_lockers_get_one_lock(self, storage: Any) -> None:
        results = await asyncio.gather(*(storage.lock("contract:race", f"t{i}", 60.0) for i in range(30)))
        if results[0] is None:
            assert set(results) == {None}
            return
        assert results.count(True) == 1
        assert results.count(False) == 29

    async def test_a_lock_frees_itself_after_its_ttl(self, storage: Any) -> None:
        if await storage.lock("contract:ttl-lock", "dead", self.short_keep) is None:
            pytest.skip("this storage has no lock shared between processes")
        await asyncio.sleep(self.short_keep)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expiry_wait
        while not await storage.lock("contract:ttl-lock", "alive", 60.0):
            assert loop.time() < deadline, f"the lock outlived its TTL by {self.expiry_wait}s"
            await asyncio.sleep(0.05)

    async def test_a_lock_never_touches_the_entry(self, storage: Any) -> None:
        await self.put(storage, "contract:locked", b"value")
        await storage.lock("contract:locked", "holder", 60.0)
        assert await self.value_of(storage, "contract:locked") == b"value"
        await storage.unlock("contract:locked", "holder")
        assert await self.value_of(storage, "contract:locked") == b"value"
        assert await storage.remove_pattern("contract:*") == 1

    # --- concurrency and closing ------------------------------------------------------------------

    async def test_concurrent_writers_on_distinct_keys_lose_nothing(self, storage: Any) -> None:
        await asyncio.gather(*(self.put(storage, f"contract:conc:{i}", str(i).encode()) for i in range(200)))
        entries = await storage.read_many([f"contract:conc:{i}" for i in range(200)])
        assert [_value(e) for e in entries] == [str(i).encode() for i in range(200)]

    async def test_concurrent_writers_on_one_key_leave_one_of_their_values(self, storage: Any) -> None:
        await asyncio.gather(*(self.put(storage, "contract:one", str(i).encode()) for i in range(50)))
        assert await self.value_of(storage, "contract:one") in {str(i).encode() for i in range(50)}

    async def test_aclose_can_be_called_twice(self) -> None:
        made = await self.make_storage()
        await made.aclose()
        await made.aclose()


def _value(entry: Any) -> bytes | None:
    """The value of a read entry, or ``None`` for no entry."""
    return None if entry is None else entry.value
