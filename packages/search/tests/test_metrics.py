"""Each OpenTelemetry instrument of buttress-search, read back with buttress-testing's metric_reader."""

from __future__ import annotations

import asyncio

import pytest

from buttress.search import (
    CircuitBreaker,
    FallbackSearch,
    MemorySearch,
    PostgresSearch,
    Schema,
    SearchQuery,
    SearchResult,
    SearchUnavailableError,
)
from buttress.testing import FakeClock, RecordedMetrics

QUERIES = "buttress.search.queries"
QUERY_DURATION = "buttress.search.query.duration"
INDEXED = "buttress.search.documents.indexed"
INDEX_DURATION = "buttress.search.index.duration"
TRANSITIONS = "buttress.search.breaker.transitions"
REJECTIONS = "buttress.search.breaker.rejections"
ANSWERS = "buttress.search.fallback.answers"
UNAVAILABLE = "buttress.search.unavailable"

DOCUMENTS = [
    {"id": "a", "title": "alpha bravo", "category": "x"},
    {"id": "b", "title": "bravo charlie", "category": "y"},
]


async def _exercise(provider: MemorySearch | PostgresSearch, name: str, metrics: RecordedMetrics) -> None:
    await provider.index(DOCUMENTS)
    await provider.index([DOCUMENTS[0]])  # a replacement is indexed again
    assert (await provider.search(SearchQuery("bravo"))).total == 2
    assert await provider.count(SearchQuery("alpha")) == 1
    assert await provider.delete(["b"]) == 1
    provider_attribute = {"search.provider": name}
    assert metrics.value(QUERIES, provider_attribute) == 2
    assert metrics.count(QUERY_DURATION, provider_attribute) == 2
    assert metrics.value(INDEXED, provider_attribute) == 3
    index = {"search.provider": name, "search.operation": "index"}
    delete = {"search.provider": name, "search.operation": "delete"}
    assert metrics.count(INDEX_DURATION, index) == 2
    assert metrics.count(INDEX_DURATION, delete) == 1
    assert {p.unit for p in metrics.points(QUERY_DURATION)} == {"s"}
    assert {p.unit for p in metrics.points(INDEXED)} == {"{document}"}
    assert {p.unit for p in metrics.points(QUERIES)} == {"{query}"}


async def test_memory_queries_and_writes_are_counted_and_timed(
    search_schema: Schema, metric_reader: RecordedMetrics
) -> None:
    await _exercise(MemorySearch(search_schema), "memory", metric_reader)


async def test_postgres_queries_and_writes_are_counted_and_timed(
    postgres: PostgresSearch, metric_reader: RecordedMetrics
) -> None:
    await _exercise(postgres, "postgresql", metric_reader)


def test_breaker_state_changes_are_counted(fake_clock: FakeClock, metric_reader: RecordedMetrics) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, clock=fake_clock)
    breaker.record_failure()
    assert metric_reader.value(TRANSITIONS) == 0  # one failure under the threshold changes nothing
    breaker.record_failure()
    fake_clock.advance(11)
    assert breaker.allow()  # half-open: the probe
    breaker.record_failure()  # the probe failed: open again
    fake_clock.advance(11)
    assert breaker.allow()
    breaker.record_success()
    assert metric_reader.value(TRANSITIONS, {"search.breaker.state": "open"}) == 2
    assert metric_reader.value(TRANSITIONS, {"search.breaker.state": "half_open"}) == 2
    assert metric_reader.value(TRANSITIONS, {"search.breaker.state": "closed"}) == 1
    assert {p.unit for p in metric_reader.points(TRANSITIONS)} == {"{transition}"}


async def test_fallback_answers_and_open_breaker_rejections_are_counted(
    dead: PostgresSearch, search_schema: Schema, fake_clock: FakeClock, metric_reader: RecordedMetrics
) -> None:
    backup = MemorySearch(search_schema)
    await backup.index(DOCUMENTS)
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=60, clock=fake_clock)
    search = FallbackSearch(dead, backup, breaker=breaker)
    assert (await search.search(SearchQuery("alpha"))).degraded  # the primary fails: open
    assert (await search.search(SearchQuery("alpha"))).degraded  # the open breaker skips it
    assert metric_reader.value(ANSWERS, {"search.fallback.reason": "failure"}) == 1
    assert metric_reader.value(ANSWERS, {"search.fallback.reason": "breaker_open"}) == 1
    assert metric_reader.value(REJECTIONS) == 1
    assert {p.unit for p in metric_reader.points(REJECTIONS)} == {"{query}"}


class SlowProvider:
    """An application's own provider that takes too long (FallbackSearch accepts any provider)."""

    async def search(self, query: SearchQuery) -> SearchResult[dict[str, object]]:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")


async def test_a_timed_out_primary_is_counted_as_a_timeout(
    search_schema: Schema, metric_reader: RecordedMetrics
) -> None:
    search = FallbackSearch(SlowProvider(), MemorySearch(search_schema), timeout=0.05)
    assert (await search.search(SearchQuery("alpha"))).degraded
    assert metric_reader.value(ANSWERS, {"search.fallback.reason": "timeout"}) == 1


async def test_an_unreachable_server_is_counted(
    dead: PostgresSearch, search_schema: Schema, metric_reader: RecordedMetrics
) -> None:
    with pytest.raises(SearchUnavailableError):
        await dead.search(SearchQuery("alpha"))
    with pytest.raises(SearchUnavailableError):
        await PostgresSearch.connect("postgresql://nobody@127.0.0.1:1/none", search_schema)
    postgres = {"search.provider": "postgresql"}
    assert metric_reader.value(UNAVAILABLE, {**postgres, "search.operation": "search"}) == 1
    assert metric_reader.value(UNAVAILABLE, {**postgres, "search.operation": "connect"}) == 1
    assert metric_reader.count(QUERY_DURATION, postgres) == 1  # a failed query is timed too
    assert {p.unit for p in metric_reader.points(UNAVAILABLE)} == {"{error}"}
