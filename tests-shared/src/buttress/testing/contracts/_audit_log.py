"""`AuditLogContract`: what a sink for buttress-observability's audit log (``AuditSink``) must do.

The suite is structural: the subclass gives the sink and builds the entries and filters with the
package's own classes, so it needs no buttress-observability import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._cache import close_quietly

__all__ = ["AuditLogContract"]

_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ACTORS = ("user:1", "user:2", "svc:billing")
_ACTIONS = ("order.create", "order.refund", "login")
_RESOURCES = ("order:1", "order:2", "session")


_ROW = st.tuples(
    st.sampled_from(_ACTORS), st.sampled_from(_ACTIONS), st.sampled_from(_RESOURCES), st.integers(0, 50)
)
_WANTED = st.fixed_dictionaries(
    {},
    optional={
        "actor": st.sampled_from(_ACTORS),
        "action": st.sampled_from(_ACTIONS),
        "resource": st.sampled_from(_RESOURCES),
        "since": st.integers(0, 50).map(lambda m: _T0 + timedelta(minutes=m)),
        "limit": st.integers(1, 20),
    },
)


def _key(entry: Any) -> tuple[str, str, str, str, datetime]:
    return (entry.id, entry.actor, entry.action, entry.resource, entry.timestamp)


class AuditLogContract:
    """Conformance suite for an audit sink (``append(entry)``, ``query(where)``).

    Subclass it (as ``TestSomething``) and implement `make_sink` (an empty sink), `make_entry` and
    `make_filter` (the package's ``AuditEntry.create`` and ``AuditFilter``). Sinks with ``aclose()``
    are closed after each test.

    The filter property (Property 10) makes a fresh sink for each of its 25 examples.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_sink(self) -> Any:
        """Return an empty sink. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_sink()")

    def make_entry(self, actor: str, action: str, resource: str, timestamp: datetime) -> Any:
        """Return a new entry (``AuditEntry.create``). Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_entry()")

    def make_filter(self, **fields: Any) -> Any:
        """Return a filter (``AuditFilter(**fields)``). Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_filter()")

    @pytest_asyncio.fixture
    async def sink(self) -> AsyncIterator[Any]:
        """The sink from `make_sink`, closed after the test."""
        made = await self.make_sink()
        try:
            yield made
        finally:
            await close_quietly(made)

    async def _fill(self, sink: Any, count: int) -> list[Any]:
        kept = []
        for index in range(count):
            entry = self.make_entry(
                _ACTORS[index % 3], _ACTIONS[index % 2], _RESOURCES[index % 3], _T0 + timedelta(minutes=index)
            )
            kept.append(await sink.append(entry))
        return kept

    async def test_an_appended_entry_is_returned_as_given(self, sink: Any) -> None:
        entry = self.make_entry("user:1", "order.refund", "order:7", _T0)
        kept = await sink.append(entry)
        assert _key(kept) == _key(entry), "append must keep the entry's fields"
        [found] = await sink.query(self.make_filter())
        assert _key(found) == _key(entry)
        assert found.details == entry.details
        assert found.outcome == entry.outcome

    async def test_returned_entries_are_utc_and_round_trip(self, sink: Any) -> None:
        """Property 9 and Property 8 at the sink: UTC timestamps, exact to_dict/from_dict round trips."""
        await self._fill(sink, 4)
        for entry in await sink.query(self.make_filter()):
            assert entry.timestamp.utcoffset() == timedelta(0)
            assert type(entry).from_dict(entry.to_dict()) == entry

    async def test_each_filter_field_selects(self, sink: Any) -> None:
        kept = await self._fill(sink, 12)
        for field, values in (("actor", _ACTORS), ("action", _ACTIONS), ("resource", _RESOURCES)):
            for value in values:
                found = await sink.query(self.make_filter(**{field: value}))
                expected = [e for e in kept if getattr(e, field) == value]
                assert [_key(e) for e in found] == [_key(e) for e in expected], f"filter by {field}={value}"

    async def test_the_time_window_is_half_open(self, sink: Any) -> None:
        kept = await self._fill(sink, 10)
        since, until = _T0 + timedelta(minutes=2), _T0 + timedelta(minutes=6)
        found = await sink.query(self.make_filter(since=since, until=until))
        assert [_key(e) for e in found] == [_key(e) for e in kept[2:6]]

    async def test_entries_come_oldest_first_whatever_the_order_they_arrived_in(self, sink: Any) -> None:
        late = await sink.append(self.make_entry("user:1", "login", "session", _T0 + timedelta(hours=1)))
        early = await sink.append(self.make_entry("user:1", "login", "session", _T0))
        found = await sink.query(self.make_filter())
        assert [e.id for e in found] == [early.id, late.id]

    async def test_the_limit_keeps_the_oldest(self, sink: Any) -> None:
        kept = await self._fill(sink, 8)
        found = await sink.query(self.make_filter(limit=3))
        assert [_key(e) for e in found] == [_key(e) for e in kept[:3]]

    async def test_concurrent_appends_are_all_kept(self, sink: Any) -> None:
        entries = [self.make_entry(f"user:{i}", "login", "session", _T0) for i in range(25)]
        await asyncio.gather(*(sink.append(entry) for entry in entries))
        found = await sink.query(self.make_filter())
        assert sorted(e.id for e in found) == sorted(e.id for e in entries), "appends were lost"

    @settings(
        max_examples=25,
        deadline=None,
        # each subclass (one per sink) is its own executor of this one method: that is the design
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(rows=st.lists(_ROW, max_size=15), fields=_WANTED, span=st.integers(0, 60))
    async def test_property_10_filters_select_exactly_the_matching_entries(
        self, rows: list[tuple[str, str, str, int]], fields: dict[str, Any], span: int
    ) -> None:
        """Property 10: Audit filtering.

        For any entries and any filter (actor, action, resource, time window, limit), a fresh sink
        returns exactly the matching entries, oldest first, at most ``limit``.
        """
        if "since" in fields:
            fields = {**fields, "until": fields["since"] + timedelta(minutes=span)}
        await self._check_filter(rows, fields)

    async def _check_filter(self, rows: list[tuple[str, str, str, int]], fields: dict[str, Any]) -> None:
        sink = await self.make_sink()
        try:
            kept = [
                await sink.append(self.make_entry(a, b, c, _T0 + timedelta(minutes=m))) for a, b, c, m in rows
            ]
            where = self.make_filter(**fields)
            found = await sink.query(where)
            order = {entry.id: index for index, entry in enumerate(kept)}
            expected = sorted(
                (e for e in kept if where.matches(e)), key=lambda e: (e.timestamp, order[e.id])
            )[: fields.get("limit", 1000)]
            assert [_key(e) for e in found] == [_key(e) for e in expected], f"filter {fields}"
        finally:
            await close_quietly(sink)
