"""AuditLogContract passes buttress-observability's MemoryAuditSink and catches it with one flaw each.

buttress-observability is in this package's test group for these self-tests.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

SINK = """
from buttress.observability import AuditEntry, AuditFilter, MemoryAuditSink
from buttress.testing import AuditLogContract


class Sink(MemoryAuditSink):
    {method}


class TestSink(AuditLogContract):
    async def make_sink(self):
        return Sink()

    def make_entry(self, actor, action, resource, timestamp):
        return AuditEntry.create(actor, action, resource, timestamp=timestamp)

    def make_filter(self, **fields):
        return AuditFilter(**fields)
"""

BROKEN = {
    "ignores_the_actor": (
        "async def query(self, where=None):\n"
        "        from dataclasses import replace\n"
        "        return await super().query(replace(where, actor=None) if where else where)",
        {"test_each_filter_field_selects", "test_property_10_filters_select_exactly_the_matching_entries"},
    ),
    "window_is_closed": (
        "async def query(self, where=None):\n"
        "        found = await super().query(None)\n"
        "        return [e for e in found if where.matches(e) or e.timestamp == where.until][: where.limit]",
        {"test_the_time_window_is_half_open"},
    ),
    "newest_first": (
        "async def query(self, where=None):\n        return list(reversed(await super().query(where)))",
        {
            "test_entries_come_oldest_first_whatever_the_order_they_arrived_in",
            "test_the_limit_keeps_the_oldest",
        },
    ),
    "limit_keeps_the_newest": (
        "async def query(self, where=None):\n"
        "        from dataclasses import replace\n"
        "        found = await super().query(replace(where, limit=10000) if where else where)\n"
        "        return found[-where.limit:] if where else found",
        {"test_the_limit_keeps_the_oldest"},
    ),
    "loses_concurrent_appends": (
        "async def append(self, entry):\n"
        "        import asyncio\n"
        "        before = list(self._entries)\n"
        "        await asyncio.sleep(0)\n"
        "        kept = await super().append(entry)\n"
        "        if len(self._entries) > len(before) + 1:\n"
        "            self._entries.pop()\n"
        "        return kept",
        {"test_concurrent_appends_are_all_kept"},
    ),
    "drops_the_timezone": (
        "async def append(self, entry):\n"
        "        from dataclasses import replace\n"
        "        from datetime import timedelta\n"
        "        return await super().append(replace(entry, timestamp=entry.timestamp + timedelta(hours=1)))",
        {"test_an_appended_entry_is_returned_as_given"},
    ),
}


def test_the_contract_passes_the_memory_sink(contract_passes: Callable[..., int]) -> None:
    assert contract_passes("-p", "no:randomly", test_sink=SINK.format(method="pass")) == 8


@pytest.mark.parametrize("flaw", sorted(BROKEN))
def test_the_contract_catches_a_broken_sink(contract_catches: Callable[..., set[str]], flaw: str) -> None:
    method, failing = BROKEN[flaw]
    contract_catches(failing, "-p", "no:randomly", test_sink=SINK.format(method=method))
