"""Cached queries: per-query TTL and keys through a core CacheProvider, invalidated by declared events."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from buttress.core import MISSING, BackendUnavailableError, Query
from buttress.cqrs import (
    Cached,
    CommandBus,
    CQRSConfigurationError,
    CQRSTypeError,
    Dispatch,
    EventBus,
    QueryBus,
)
from buttress.testing import CacheProviderContract, RecordedMetrics

from .conftest import (
    Balance,
    BalanceHandler,
    Deposit,
    Deposited,
    DepositHandler,
    DictCache,
    FakeCache,
    Ledger,
)


class TestDictCache(CacheProviderContract):
    """The test's own CacheProvider honours the Protocol, so what the bus does with it is meaningful."""

    async def make_cache(self) -> Any:
        return DictCache()


def wire(ledger: Ledger, cache: FakeCache, policy: Cached[Balance]) -> tuple[CommandBus, QueryBus]:
    events = EventBus()
    queries = QueryBus(cache=cache, events=events)
    queries.register(Balance, BalanceHandler(ledger), cache=policy)

    async def make(dispatch: Dispatch) -> DepositHandler:
        return DepositHandler(ledger, dispatch)

    commands = CommandBus(events=events)
    commands.register(Deposit, factory=make)
    return commands, queries


INVALIDATED = Cached[Balance](ttl=60).invalidated_by(Deposited, lambda e: Balance(e.account))


async def test_a_cached_answer_is_served_without_the_handler(
    ledger: Ledger, cache: FakeCache, metric_reader: RecordedMetrics
) -> None:
    ledger.balances["a"] = 10
    _, queries = wire(ledger, cache, INVALIDATED)
    assert await queries.ask(Balance("a")) == 10
    assert await queries.ask(Balance("a")) == 10
    assert ledger.asked == 1
    assert await queries.ask(Balance("b")) == 0  # its own key
    assert ledger.asked == 2
    hits = {"cqrs.query": "Balance", "cqrs.outcome": "hit"}
    misses = {"cqrs.query": "Balance", "cqrs.outcome": "miss"}
    assert metric_reader.value("buttress.cqrs.cache.requests", hits) == 1
    assert metric_reader.value("buttress.cqrs.cache.requests", misses) == 2


async def test_a_declared_event_invalidates_the_answers_it_names(
    ledger: Ledger, cache: FakeCache, metric_reader: RecordedMetrics
) -> None:
    commands, queries = wire(ledger, cache, INVALIDATED)
    assert await queries.ask(Balance("a")) == 0
    assert await queries.ask(Balance("b")) == 0
    await commands.send(Deposit("a", 5))
    assert await queries.ask(Balance("a")) == 5  # invalidated: asked again
    assert await queries.ask(Balance("b")) == 0  # untouched: still cached
    assert ledger.asked == 3
    assert metric_reader.value("buttress.cqrs.cache.invalidations") == 1


async def test_a_failed_command_invalidates_nothing(ledger: Ledger, cache: FakeCache) -> None:
    _commands, queries = wire(ledger, cache, INVALIDATED)
    await queries.ask(Balance("a"))

    async def refuse(dispatch: Dispatch, call_next: Any) -> Any:
        await call_next(dispatch)
        raise RuntimeError("rolled back after the handler ran")

    failing = CommandBus(middleware=[refuse], events=EventBus())
    failing.register(Deposit, factory=lambda d: _handler(ledger, d))
    with pytest.raises(RuntimeError):
        await failing.send(Deposit("a", 5))
    assert await queries.ask(Balance("a")) == 0
    assert ledger.asked == 1


async def _handler(ledger: Ledger, dispatch: Dispatch) -> DepositHandler:
    return DepositHandler(ledger, dispatch)


async def test_answers_expire_after_their_ttl(ledger: Ledger, cache: FakeCache) -> None:
    _, queries = wire(ledger, cache, Cached(ttl=30))
    await queries.ask(Balance("a"))
    cache.clock.advance(29)
    await queries.ask(Balance("a"))
    assert ledger.asked == 1
    cache.clock.advance(1)
    await queries.ask(Balance("a"))
    assert ledger.asked == 2


async def test_a_policy_key_names_the_entry(ledger: Ledger, cache: FakeCache) -> None:
    _, queries = wire(ledger, cache, Cached(key=lambda q: q.account.upper()))
    await queries.ask(Balance("a"))
    (key,) = cache.entries
    assert key == f"cqrs:{Balance.__module__}.Balance:A"


async def test_none_is_cached_like_any_answer(cache: FakeCache) -> None:
    @dataclass(frozen=True)
    class Find(Query[str | None]):
        name: str

    calls: list[str] = []

    class Finder:
        async def handle(self, query: Find) -> str | None:
            calls.append(query.name)
            return None

    queries = QueryBus(cache=cache)
    queries.register(Find, Finder(), cache=Cached())
    assert await queries.ask(Find("x")) is None
    assert await queries.ask(Find("x")) is None
    assert calls == ["x"]


async def test_an_answer_computed_across_an_invalidation_is_not_stored(
    ledger: Ledger, cache: FakeCache
) -> None:
    gate = asyncio.Event()

    class Slow:
        async def handle(self, query: Balance) -> int:
            value = ledger.balances.get(query.account, 0)
            await gate.wait()
            return value

    events = EventBus()
    queries = QueryBus(cache=cache, events=events)
    queries.register(Balance, Slow(), cache=INVALIDATED)
    pending = asyncio.ensure_future(queries.ask(Balance("a")))
    await asyncio.sleep(0)
    ledger.balances["a"] = 9
    await events.publish(Deposited("a", 9))
    gate.set()
    assert await pending == 0  # read before the change
    assert await cache.get(next(iter(cache.entries), "none")) is MISSING  # and not kept


async def test_a_cache_outage_degrades_to_the_handler(
    ledger: Ledger, caplog: pytest.LogCaptureFixture, metric_reader: RecordedMetrics
) -> None:
    class Down(DictCache):
        async def get(self, key: str) -> Any:
            raise BackendUnavailableError("redis", "redis://cache", "refused")

        async def set(self, key: str, value: object, *, ttl: float | None = None) -> None:
            raise BackendUnavailableError("redis", "redis://cache", "refused")

    _, queries = wire(ledger, Down(), Cached())
    with caplog.at_level(logging.WARNING, logger="buttress.cqrs"):
        assert await queries.ask(Balance("a")) == 0
    assert "query cache read failed" in caplog.text
    assert metric_reader.value("buttress.cqrs.cache.requests", {"cqrs.outcome": "error"}) == 1


def test_caching_is_configured_at_registration(ledger: Ledger, cache: FakeCache) -> None:
    with pytest.raises(CQRSConfigurationError, match="no cache"):
        QueryBus().register(Balance, BalanceHandler(ledger), cache=Cached())
    with pytest.raises(CQRSConfigurationError, match="events="):
        QueryBus(cache=cache).register(Balance, BalanceHandler(ledger), cache=INVALIDATED)
    with pytest.raises(CQRSTypeError):
        QueryBus(cache=cache).register(Balance, BalanceHandler(ledger), cache=60)  # type: ignore[arg-type]

    class Plain(Query[int]):
        pass

    class PlainHandler:
        async def handle(self, query: Plain) -> int:
            return 1

    with pytest.raises(CQRSConfigurationError, match="key"):
        QueryBus(cache=cache).register(Plain, PlainHandler(), cache=Cached())
    QueryBus(cache=cache).register(Plain, PlainHandler(), cache=Cached(key=lambda q: "all"))


async def test_a_key_function_must_return_a_short_str(ledger: Ledger, cache: FakeCache) -> None:
    _, queries = wire(ledger, cache, Cached(key=lambda q: 7))  # type: ignore[arg-type,return-value]
    with pytest.raises(CQRSTypeError):
        await queries.ask(Balance("a"))
    _, queries = wire(ledger, DictCache(), Cached(key=lambda q: "k" * 5000))
    with pytest.raises(CQRSConfigurationError):
        await queries.ask(Balance("a"))


async def test_an_invalidation_must_name_queries_of_its_type(ledger: Ledger, cache: FakeCache) -> None:
    events = EventBus()
    queries = QueryBus(cache=cache, events=events)
    queries.register(Balance, BalanceHandler(ledger), cache=Cached().invalidated_by(str, lambda e: 42))  # type: ignore[arg-type,return-value]
    with pytest.raises(Exception, match="failed") as caught:
        await events.publish("x")
    assert isinstance(caught.value.__cause__, CQRSTypeError)
    several = Cached[Balance]().invalidated_by(str, lambda e: [Balance("a"), Balance("b")])
    assert several.invalidations[0][0] is str
