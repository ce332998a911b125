"""Messages, handlers and a small CacheProvider shared by the buttress-cqrs tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from buttress.core import MISSING, Clock, Command, Missing, Query, SystemClock
from buttress.cqrs import Dispatch, Next
from buttress.testing import FakeClock


@dataclass(frozen=True)
class Deposit(Command[int]):
    """Add ``amount`` to ``account``; the new balance is the result."""

    account: str
    amount: int


@dataclass(frozen=True)
class Deposited:
    account: str
    amount: int


@dataclass(frozen=True)
class Balance(Query[int]):
    account: str


@dataclass
class Ledger:
    """The state the handlers change: balances, applied when a unit of work commits."""

    balances: dict[str, int] = field(default_factory=dict)
    asked: int = 0


class DepositHandler:
    """Records `Deposited` and stages the change on the dispatch's unit of work when it has one."""

    def __init__(self, ledger: Ledger, dispatch: Dispatch | None = None, unit: Any = None) -> None:
        self.ledger, self.dispatch, self.unit = ledger, dispatch, unit

    async def handle(self, command: Deposit) -> int:
        new = self.ledger.balances.get(command.account, 0) + command.amount
        if self.unit is not None:
            self.unit.on_commit(lambda: self.ledger.balances.__setitem__(command.account, new))
        else:
            self.ledger.balances[command.account] = new
        if self.dispatch is not None:
            self.dispatch.record(Deposited(command.account, command.amount))
        return new


class BalanceHandler:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def handle(self, query: Balance) -> int:
        self.ledger.asked += 1
        return self.ledger.balances.get(query.account, 0)


class Layer:
    """A middleware that writes ``enter <name>`` and ``exit <name>`` around the rest of the onion."""

    def __init__(self, name: str, trail: list[str]) -> None:
        self.name, self.trail = name, trail

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        self.trail.append(f"enter {self.name}")
        try:
            return await call_next(dispatch)
        finally:
            self.trail.append(f"exit {self.name}")


class Collector:
    """An EventHandler that keeps what it was given."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    async def handle(self, event: object) -> None:
        self.seen.append(event)


class DictCache:
    """A `CacheProvider` over a dict, expiring on a `Clock` (it passes CacheProviderContract)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.entries: dict[str, tuple[object, float | None]] = {}

    def _live(self, key: str) -> tuple[object, float | None] | None:
        entry = self.entries.get(key)
        if entry is not None and entry[1] is not None and self.clock.monotonic() >= entry[1]:
            del self.entries[key]
            return None
        return entry

    async def get(self, key: str) -> object | Missing:
        entry = self._live(key)
        return MISSING if entry is None else entry[0]

    async def set(self, key: str, value: object, *, ttl: float | None = None) -> None:
        if ttl is not None and (isinstance(ttl, bool) or not ttl > 0):
            from buttress.core import ConfigurationError  # noqa: PLC0415

            raise ConfigurationError("ttl", ttl, "must be above 0")
        self.entries[key] = (value, None if ttl is None else self.clock.monotonic() + ttl)

    async def delete(self, key: str) -> bool:
        return self._live(key) is not None and self.entries.pop(key, None) is not None

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def clear(self) -> None:
        self.entries.clear()


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def cache() -> FakeCache:
    return FakeCache(FakeClock())


class FakeCache(DictCache):
    """A `DictCache` on a `FakeClock` the test moves."""

    clock: FakeClock
