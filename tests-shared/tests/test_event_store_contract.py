"""`EventStoreContract` passes a small correct event store and catches broken ones."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from buttress.core import ConfigurationError, ConflictError
from buttress.testing import EventStoreContract

NO_STREAM = "NO_STREAM"
ANY = "ANY"


@dataclass(frozen=True)
class Ev:
    event_id: uuid.UUID
    body: str


@dataclass(frozen=True)
class Stored:
    event_id: uuid.UUID
    stream_id: str
    version: int
    position: int


@dataclass(frozen=True)
class Result:
    version: int
    position: int


class VersionConflictError(ConflictError):
    def __init__(self, stream_id: str, expected: object, actual: int) -> None:
        super().__init__("stream", stream_id, f"expected {expected}, stream is at {actual}")
        self.stream_id, self.expected, self.actual = stream_id, expected, actual


class ListStore:
    """A small but correct event store, to prove the contract passes what it should."""

    def __init__(self) -> None:
        self.log: list[Stored] = []

    async def append(self, stream_id: str, events: list[Ev], expected_version: object) -> Result:
        if not events:
            raise ConfigurationError("events", events, "must not be empty")
        if expected_version not in (NO_STREAM, ANY) and (
            not isinstance(expected_version, int) or expected_version < 0
        ):
            raise ConfigurationError("expected_version", expected_version, "bad")
        known = {s.event_id: s for s in self.log}
        if any(e.event_id in known for e in events):
            return self._replay(stream_id, events, expected_version, known)
        current = sum(1 for s in self.log if s.stream_id == stream_id)
        wanted = 0 if expected_version == NO_STREAM else expected_version
        if expected_version != ANY and current != wanted:
            raise VersionConflictError(stream_id, expected_version, current)
        await self.pause()
        for offset, event in enumerate(events, 1):
            self.log.append(Stored(event.event_id, stream_id, current + offset, len(self.log) + 1))
        return Result(current + len(events), len(self.log))

    async def pause(self) -> None:
        """Where a broken store yields to other tasks mid-append."""

    def _replay(
        self, stream_id: str, events: list[Ev], expected: object, known: dict[uuid.UUID, Stored]
    ) -> Result:
        found = [known.get(e.event_id) for e in events]
        first = found[0]
        start = 1 if expected == NO_STREAM else expected + 1 if isinstance(expected, int) else None
        if (
            first is not None
            and all(
                f is not None and f.stream_id == stream_id and f.version == first.version + n
                for n, f in enumerate(found)
            )
            and (start is None or first.version == start)
        ):
            last = found[-1]
            assert last is not None
            return Result(last.version, last.position)
        raise ConflictError("event", events[0].event_id, "stored already elsewhere")

    async def read(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[Stored]:
        top = to_version if to_version is not None else 1 << 62
        return [s for s in self.log if s.stream_id == stream_id and from_version <= s.version <= top]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Stored]:
        if limit < 1:
            raise ConfigurationError("limit", limit, "must be at least 1")
        if after_position < 0:
            raise ConfigurationError("after_position", after_position, "must not be negative")
        return [s for s in self.log if s.position > after_position][:limit]


class TestListStore(EventStoreContract):
    no_stream = NO_STREAM
    any_version = ANY

    async def make_store(self) -> Any:
        return ListStore()

    def make_event(self, stream_id: str, index: int) -> Ev:
        return Ev(uuid.uuid4(), "{stream_id}/{index}")


def test_the_contract_asks_for_its_factories(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        """
from buttress.testing import EventStoreContract

class TestNothing(EventStoreContract):
    pass
"""
    )
    result = run_inner("-q")
    result.assert_outcomes(errors=len([n for n in dir(EventStoreContract) if n.startswith("test_")]))


# Broken stores, each wrong in one way the contract promises to catch.
BROKEN = {
    "ignores_expected_version": (
        "async def append(self, stream_id, events, expected_version):\n"
        "        return await super().append(stream_id, events, ANY)",
        "test_a_stale_expected_version_conflicts_and_reports_both_versions",
    ),
    "duplicates_a_retried_batch": (
        "async def append(self, stream_id, events, expected_version):\n"
        "        events = [Ev(uuid.uuid4(), e.body) for e in events]\n"
        "        return await super().append(stream_id, events, ANY)",
        "test_re_appending_the_same_batch_to_the_same_place_is_a_no_op",
    ),
    "races_between_check_and_write": (
        "async def pause(self):\n        await asyncio.sleep(0)",
        "test_racing_appends_at_one_version_let_exactly_one_win",
    ),
    "read_all_ignores_the_position": (
        "async def read_all(self, after_position=0, limit=1000):\n"
        "        return await super().read_all(0, limit)",
        "test_read_all_after_a_position_and_with_a_limit",
    ),
    "reuses_ids_across_streams": (
        "def _replay(self, stream_id, events, expected, known):\n"
        "        current = sum(1 for s in self.log if s.stream_id == stream_id)\n"
        "        for n, e in enumerate(events, 1):\n"
        "            self.log.append(Stored(e.event_id, stream_id, current + n, len(self.log) + 1))\n"
        "        return Result(current + len(events), len(self.log))",
        "test_a_stored_event_id_in_another_stream_is_a_conflict",
    ),
    "partial_batches": (
        "async def append(self, stream_id, events, expected_version):\n"
        "        for e in events:\n"
        "            n = 1 + sum(1 for s in self.log if s.stream_id == stream_id)\n"
        "            self.log.append(Stored(e.event_id, stream_id, n, len(self.log) + 1))\n"
        "            if expected_version == NO_STREAM and n > 1:\n"
        "                raise VersionConflictError(stream_id, expected_version, 1)\n"
        "        return Result(len(self.log), len(self.log))",
        "test_a_refused_append_stores_none_of_its_events",
    ),
}


STORE = """
import asyncio
import uuid
from buttress.testing import EventStoreContract
from test_list_store import ANY, NO_STREAM, Ev, ListStore, Result, Stored, VersionConflictError

class Broken(ListStore):
    {method}

class TestBroken(EventStoreContract):
    no_stream = NO_STREAM
    any_version = ANY

    async def make_store(self):
        return Broken()

    def make_event(self, stream_id, index):
        return Ev(uuid.uuid4(), f"{{stream_id}}/{{index}}")
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN))
def test_the_event_store_contract_catches_a_broken_store(
    contract_catches: Callable[..., set[str]], flaw: str
) -> None:
    method, failing_test = BROKEN[flaw]
    module = STORE.format(method=method)
    contract_catches(failing_test, "test_broken.py", test_list_store=_reference_source(), test_broken=module)


def _reference_source() -> str:
    header = (
        "from __future__ import annotations\n"
        "import uuid\nfrom dataclasses import dataclass\nfrom typing import Any\n"
        "from buttress.core import ConfigurationError, ConflictError\n"
        f"NO_STREAM = {NO_STREAM!r}\nANY = {ANY!r}\n\n"
    )
    parts = [Ev, Stored, Result, VersionConflictError, ListStore]
    return header + "\n\n".join(inspect.getsource(part) for part in parts)


async def test_the_reference_store_is_really_serial() -> None:
    store = ListStore()
    events = [Ev(uuid.uuid4(), "x")]
    await asyncio.gather(
        store.append("a", events, NO_STREAM), store.append("b", [Ev(uuid.uuid4(), "y")], NO_STREAM)
    )
    assert [s.position for s in store.log] == [1, 2]
