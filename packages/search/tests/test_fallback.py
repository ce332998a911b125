"""FallbackSearch and its circuit breaker: a dead or slow primary, a stateful breaker model, typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from buttress.search import (
    BreakerState,
    CircuitBreaker,
    DatabaseFallback,
    FallbackSearch,
    MemorySearch,
    PostgresSearch,
    QuerySyntaxError,
    Schema,
    SearchConfigurationError,
    SearchQuery,
    SearchResult,
    SearchTypeError,
    SearchUnavailableError,
    Term,
    UnknownFieldError,
)
from buttress.testing import FakeClock, PostgresServer

DOCUMENTS = [
    {"id": "1", "title": "red running shoes", "category": "shoes"},
    {"id": "2", "title": "blue rain jacket", "category": "jackets"},
    {"id": "3", "title": "trail running shoes", "category": "shoes"},
]


class Flaky:
    """A primary that can be made to fail or to answer slowly; it counts the calls it gets."""

    def __init__(self, inner: MemorySearch) -> None:
        self.inner = inner
        self.calls = 0
        self.failing = False
        self.delay = 0.0

    async def search(self, query: SearchQuery) -> SearchResult[dict[str, Any]]:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failing:
            raise ConnectionResetError("the search cluster went away")
        return await self.inner.search(query)

    async def index(self, documents: Iterable[dict[str, Any]]) -> None:
        await self.inner.index(documents)

    async def delete(self, ids: Iterable[str]) -> int:
        return await self.inner.delete(ids)

    async def count(self, query: SearchQuery | None = None) -> int:
        return await self.inner.count(query)


class ScanFallback:
    """A `DatabaseFallback`: a plain scan with a substring match, no facets."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def search(self, query: SearchQuery) -> SearchResult[dict[str, Any]]:
        from buttress.search import SearchHit  # noqa: PLC0415

        words = [word.casefold() for word in query.parsed.terms]
        found = [row for row in self.rows if all(word in row["title"] for word in words)]
        page = found[query.offset : query.offset + query.limit]
        return SearchResult(hits=tuple(SearchHit(row["id"], 0.0, row) for row in page), total=len(found))


@pytest.fixture
async def primary(search_schema: Schema) -> Flaky:
    search = MemorySearch(search_schema)
    await search.index(DOCUMENTS)
    return Flaky(search)


async def test_a_failing_primary_is_answered_by_the_fallback(primary: Flaky) -> None:
    fallback: DatabaseFallback[dict[str, Any]] = ScanFallback(DOCUMENTS)
    search = FallbackSearch(primary, fallback, timeout=5)
    healthy = await search.search(SearchQuery("running"))
    assert not healthy.degraded
    primary.failing = True
    degraded = await search.search(SearchQuery("running"))
    assert degraded.degraded
    assert set(degraded.ids) == {"1", "3"}
    assert search.breaker.failures == 1
    assert await search.count(SearchQuery("shoes")) == 2


async def test_a_slow_primary_is_answered_by_the_fallback(primary: Flaky, search_schema: Schema) -> None:
    backup = MemorySearch(search_schema)
    await backup.index(DOCUMENTS)
    search = FallbackSearch(primary, backup, timeout=0.05)
    primary.delay = 10
    result = await search.search(SearchQuery("shoes", facets=("category",)))
    assert result.degraded
    assert result.facets["category"][0].count == 2


async def test_malformed_queries_are_raised_not_hidden(primary: Flaky) -> None:
    search = FallbackSearch(primary, ScanFallback(DOCUMENTS))
    with pytest.raises(UnknownFieldError):
        await search.search(SearchQuery(filter=Term("colour", "red")))
    with pytest.raises(QuerySyntaxError):
        await search.search(SearchQuery('"open'))
    with pytest.raises(SearchTypeError):
        await search.search("shoes")  # type: ignore[arg-type]
    assert search.breaker.failures == 0


async def test_the_breaker_stops_calling_a_dead_primary(primary: Flaky, fake_clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=30, clock=fake_clock)
    search = FallbackSearch(primary, ScanFallback(DOCUMENTS), breaker=breaker)
    primary.failing = True
    for _ in range(10):
        assert (await search.search(SearchQuery("shoes"))).degraded
    assert primary.calls == 3
    assert breaker.state is BreakerState.OPEN
    fake_clock.advance(30)
    assert breaker.state is BreakerState.HALF_OPEN
    assert (await search.search(SearchQuery("shoes"))).degraded  # the probe fails: open again
    assert primary.calls == 4
    assert breaker.state is BreakerState.OPEN
    primary.failing = False
    fake_clock.advance(30)
    assert not (await search.search(SearchQuery("shoes"))).degraded
    assert breaker.state is BreakerState.CLOSED


async def test_one_probe_at_a_time_and_a_cancelled_probe_frees_it(
    primary: Flaky, fake_clock: FakeClock
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=fake_clock)
    search = FallbackSearch(primary, ScanFallback(DOCUMENTS), breaker=breaker, timeout=None)
    primary.failing = True
    await search.search(SearchQuery("shoes"))
    fake_clock.advance(5)
    primary.failing, primary.delay = False, 10
    probe = asyncio.create_task(search.search(SearchQuery("shoes")))
    await asyncio.sleep(0.01)
    other = await search.search(SearchQuery("shoes"))
    assert other.degraded  # the probe is out: everyone else gets the fallback
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    primary.delay = 0
    assert not (await search.search(SearchQuery("shoes"))).degraded


async def test_when_both_fail_the_error_is_typed(primary: Flaky) -> None:
    class Down:
        async def search(self, query: SearchQuery) -> SearchResult[dict[str, Any]]:
            raise OSError("refused")

    primary.failing = True
    search = FallbackSearch(primary, Down())
    with pytest.raises(SearchUnavailableError) as info:
        await search.search(SearchQuery("shoes"))
    assert "ConnectionResetError" in str(info.value)
    assert isinstance(info.value, ConnectionError)


async def test_writes_go_to_the_primary_and_fail_loudly(primary: Flaky) -> None:
    search = FallbackSearch(primary, ScanFallback([]))
    await search.index([{"id": "4", "title": "green socks"}])
    assert await primary.inner.count() == 4
    assert await search.delete(["4"]) == 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"timeout": 0}, SearchConfigurationError),
        ({"timeout": "1"}, SearchTypeError),
        ({"breaker": object()}, SearchTypeError),
    ],
)
def test_bad_fallback_arguments(primary: Flaky, options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        FallbackSearch(primary, ScanFallback([]), **options)
    with pytest.raises(SearchTypeError):
        FallbackSearch(primary, object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"failure_threshold": 0}, SearchConfigurationError),
        ({"failure_threshold": 1.5}, SearchTypeError),
        ({"reset_timeout": -1}, SearchConfigurationError),
        ({"reset_timeout": None}, SearchTypeError),
    ],
)
def test_bad_breaker_arguments(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CircuitBreaker(**options)


class BreakerMachine(RuleBasedStateMachine):
    """Stateful test: the breaker follows closed → open → half-open → closed/open exactly as modelled."""

    THRESHOLD, TIMEOUT = 3, 10.0

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.breaker = CircuitBreaker(
            failure_threshold=self.THRESHOLD, reset_timeout=self.TIMEOUT, clock=self.clock
        )
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False
        self.admitted = 0  # calls allowed and not yet finished

    def _model_state(self) -> str:
        if self.state == "open" and self.clock.monotonic() - self.opened_at >= self.TIMEOUT:
            self.state = "half_open"
        return self.state

    @rule()
    def call(self) -> None:
        state = self._model_state()
        expected = state == "closed" or (state == "half_open" and not self.probing)
        if state == "half_open" and expected:
            self.probing = True
        assert self.breaker.allow() is expected
        self.admitted += expected

    @rule()
    def succeed(self) -> None:
        if not self.admitted:
            return
        self.admitted -= 1
        self.breaker.record_success()
        self.state, self.failures, self.probing = "closed", 0, False

    @rule()
    def fail(self) -> None:
        if not self.admitted:
            return
        self.admitted -= 1
        self.breaker.record_failure()
        state = self.state
        if state == "closed":
            self.failures += 1
            if self.failures < self.THRESHOLD:
                return
        elif state == "open":
            return
        self.state, self.opened_at, self.failures, self.probing = "open", self.clock.monotonic(), 0, False

    @rule()
    def cancel(self) -> None:
        if not self.admitted:
            return
        self.admitted -= 1
        self.breaker.abandon()
        self.probing = False

    @rule(seconds=st.sampled_from([1.0, 4.0, 10.0]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def same_state(self) -> None:
        assert self.breaker.state.value == self._model_state()
        if self.state == "closed":
            assert self.breaker.failures == self.failures


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# -- real faults: PostgreSQL stopped -------------------------------------------------------------


async def test_postgres_stopped_is_a_typed_error_and_recovers(
    postgres_server: PostgresServer, search_schema: Schema
) -> None:
    search = await PostgresSearch.connect(postgres_server.dsn, search_schema, command_timeout=3)
    try:
        await search.create_schema()
        await search.index(DOCUMENTS)
        postgres_server.stop()
        with pytest.raises(SearchUnavailableError) as info:
            await search.search(SearchQuery("shoes"))
        assert isinstance(info.value, ConnectionError)
        with pytest.raises(SearchUnavailableError):
            await search.index([{"id": "4", "title": "lost"}])
        postgres_server.start()
        for _ in range(50):  # the pool drops the dead connections and reconnects
            try:
                result = await search.search(SearchQuery("shoes"))
                break
            except SearchUnavailableError:
                await asyncio.sleep(0.1)
        assert set(result.ids) == {"1", "3"}
    finally:
        await search.aclose()


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_fallback_from_a_dead_postgres_to_memory(
    postgres_server: PostgresServer, search_schema: Schema, fake_clock: FakeClock, how: str
) -> None:
    """PostgreSQL shut down cleanly or killed mid-flight: queries are answered by memory, degraded."""
    primary = await PostgresSearch.connect(postgres_server.dsn, search_schema, command_timeout=3)
    backup = MemorySearch(search_schema)
    await backup.index(DOCUMENTS)
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=60, clock=fake_clock)
    search = FallbackSearch(primary, backup, timeout=5, breaker=breaker)
    try:
        await primary.create_schema()
        await primary.index(DOCUMENTS)
        query = SearchQuery("running shoes", facets=("category",))
        healthy = await search.search(query)
        assert not healthy.degraded
        getattr(postgres_server, how)()
        down = [await search.search(query) for _ in range(4)]
        assert all(result.degraded for result in down)
        assert all(set(result.ids) == set(healthy.ids) for result in down)
        assert all(result.facets == healthy.facets for result in down)
        assert breaker.state is BreakerState.OPEN
        postgres_server.start()
        fake_clock.advance(60)
        recovered = None
        for _ in range(50):
            recovered = await search.search(query)
            if not recovered.degraded:
                break
            fake_clock.advance(60)
            await asyncio.sleep(0.1)
        assert recovered is not None
        assert not recovered.degraded
        assert breaker.state is BreakerState.CLOSED
    finally:
        await primary.aclose()
