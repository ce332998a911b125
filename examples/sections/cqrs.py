"""The tour's buttress-cqrs section: typed buses, events after commit, an outbox relayed into webhooks."""

from __future__ import annotations

from dataclasses import dataclass

from buttress.core import MISSING, Command, Missing, Query
from buttress.cqrs import (
    Cached,
    CommandBus,
    Dependencies,
    Dispatch,
    EventBus,
    HandlerNotFoundError,
    MemoryOutbox,
    MemoryUnitOfWork,
    OutboxRelay,
    QueryBus,
    TransactionMiddleware,
)
from buttress.webhooks import Endpoints, MemoryEndpointStore, generate_secret
from buttress.webhooks import MemoryOutbox as WebhookOutbox

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "send(Restock('tea', 5)) -> 5",
    "a failed restock published nothing and changed nothing: True",
    "ask(Stock('tea')) twice -> 5 5, handler ran 1 time(s)",
    "after Restocked('tea'): ask -> 12, handler ran 2 time(s)",
    "outbox: 1 event(s) relayed after commit, 0 pending",
    "relayed through a core EventHandler into buttress-webhooks: 1 delivery queued",
    "unregistered: HandlerNotFoundError",
)
REAL: tuple[str, ...] = ()


@dataclass(frozen=True)
class Restock(Command[int]):
    """Add ``quantity`` units of ``sku``: the new stock level is the result."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class Restocked:
    """Announced once a restock committed; it invalidates the cached stock level of its ``sku``."""

    sku: str


@dataclass(frozen=True)
class Stock(Query[int]):
    """How many units of ``sku`` are in stock (cached)."""

    sku: str


@dataclass(frozen=True)
class Discontinue(Command[None]):
    sku: str


class DictCache:
    """The smallest core CacheProvider: a dict (buttress-caching's MemoryCache in an application)."""

    def __init__(self) -> None:
        self.entries: dict[str, object] = {}

    async def get(self, key: str) -> object | Missing:
        return self.entries.get(key, MISSING)

    async def set(self, key: str, value: object, *, ttl: float | None = None) -> None:
        self.entries[key] = value

    async def delete(self, key: str) -> bool:
        return self.entries.pop(key, MISSING) is not MISSING

    async def exists(self, key: str) -> bool:
        return key in self.entries

    async def clear(self) -> None:
        self.entries.clear()


class Seen:
    def __init__(self) -> None:
        self.events: list[object] = []

    async def handle(self, event: object) -> None:
        self.events.append(event)


async def run(tour: Tour) -> None:
    stock: dict[str, int] = {}
    asked: list[str] = []

    class RestockHandler:
        def __init__(self, dispatch: Dispatch, unit: MemoryUnitOfWork) -> None:
            self.dispatch, self.unit = dispatch, unit

        async def handle(self, command: Restock) -> int:
            new = stock.get(command.sku, 0) + command.quantity
            self.unit.on_commit(lambda: stock.__setitem__(command.sku, new))
            self.dispatch.record(Restocked(command.sku))
            if command.quantity < 0:
                raise ValueError("a restock adds stock")
            return new

    class StockHandler:
        async def handle(self, query: Stock) -> int:
            asked.append(query.sku)
            return stock.get(query.sku, 0)

    async def unit_of_work(dispatch: Dispatch) -> MemoryUnitOfWork:
        return await dispatch.get(MemoryUnitOfWork)

    async def restock_handler(dispatch: Dispatch) -> RestockHandler:
        return RestockHandler(dispatch, await dispatch.get(MemoryUnitOfWork))

    events, seen = EventBus(), Seen()
    events.subscribe(Restocked, seen)
    dependencies = Dependencies().scoped(MemoryUnitOfWork, lambda _scope: MemoryUnitOfWork())
    commands = CommandBus(
        middleware=[TransactionMiddleware(unit_of_work)], events=events, provider=dependencies
    )
    commands.register(Restock, factory=restock_handler)
    tour.say(f"send(Restock('tea', 5)) -> {await commands.send(Restock('tea', 5))}")
    try:
        await commands.send(Restock("tea", -1))
    except ValueError:
        unchanged = stock == {"tea": 5} and seen.events == [Restocked("tea")]
        tour.say(f"a failed restock published nothing and changed nothing: {unchanged}")

    queries = QueryBus(cache=DictCache(), events=events)
    policy = Cached[Stock](ttl=60).invalidated_by(Restocked, lambda e: Stock(e.sku))
    queries.register(Stock, StockHandler(), cache=policy)
    first, second = await queries.ask(Stock("tea")), await queries.ask(Stock("tea"))
    tour.say(f"ask(Stock('tea')) twice -> {first} {second}, handler ran {len(asked)} time(s)")
    await commands.send(Restock("tea", 7))
    answer = await queries.ask(Stock("tea"))
    tour.say(f"after Restocked('tea'): ask -> {answer}, handler ran {len(asked)} time(s)")

    outbox = MemoryOutbox()
    durable = CommandBus(
        middleware=[TransactionMiddleware(unit_of_work, outbox=outbox)], provider=dependencies
    )
    durable.register(Restock, factory=restock_handler)
    await durable.send(Restock("cake", 3))
    relayed = Seen()
    count = await OutboxRelay(outbox, relayed).relay_once()
    tour.say(f"outbox: {count} event(s) relayed after commit, {outbox.pending} pending")
    # The bridge to a sibling package is the application's: a core EventHandler that turns each
    # event into a webhook in buttress-webhooks' outbox. buttress-cqrs knows neither side.
    endpoints = Endpoints(MemoryEndpointStore())
    await endpoints.create(
        "https://hooks.example.test/stock", secret=generate_secret(), event_types=["stock"]
    )
    webhooks, queued = WebhookOutbox(endpoints.store), []

    class ToWebhooks:
        async def handle(self, event: object) -> None:
            if isinstance(event, Restocked):
                message = await webhooks.send("stock", {"sku": event.sku})
                queued.extend(await webhooks.deliveries(message.id))

    await durable.send(Restock("cake", 2))
    await OutboxRelay(outbox, ToWebhooks()).relay_once()
    tour.say(f"relayed through a core EventHandler into buttress-webhooks: {len(queued)} delivery queued")
    try:
        await commands.send(Discontinue("tea"))
    except HandlerNotFoundError as exc:
        tour.say(f"unregistered: {type(exc).__name__}")
