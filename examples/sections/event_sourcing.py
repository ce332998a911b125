"""The tour's buttress-event-sourcing section."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from buttress.event_sourcing import (
    NO_STREAM,
    Aggregate,
    ConcurrencyError,
    Event,
    EventCodec,
    EveryNEvents,
    MemoryEventStore,
    PostgresEventStore,
    Repository,
    applies,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = ("memory: a stale save is refused: expected=7, actual=8",)
REAL: tuple[str, ...] = (
    "postgres: a stale save is refused: expected=7, actual=8",
    "postgres: snapshot v7 + tail -> balance 128",
)


@dataclass(frozen=True)
class WalletCredited(Event):
    amount: int


class Wallet(Aggregate[str]):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance = 0

    @applies(WalletCredited)
    def _credited(self, event: WalletCredited) -> None:
        self.balance += event.amount


async def wallet_walk(tour: Tour, name: str, store: MemoryEventStore | PostgresEventStore) -> None:
    codec = EventCodec([WalletCredited])
    wallets = Repository(Wallet, store, codec, snapshots=store, policy=EveryNEvents(5))
    wallet = Wallet(f"wallet-{secrets.token_hex(3)}")
    for amount in range(1, 8):
        wallet.trigger(WalletCredited, amount=amount)
    batch = codec.encode_all(wallet.pending_events)
    result = await wallets.save(wallet)
    again = await store.append(wallet.id, batch, NO_STREAM)
    saved = result.version if result else 0
    tour.say(
        f"{name}: 7 events in one append -> v{saved}; the same append retried is a no-op -> v{again.version}"
    )
    first, second = await wallets.load(wallet.id), await wallets.load(wallet.id)
    first.trigger(WalletCredited, amount=100)
    second.trigger(WalletCredited, amount=1)
    await wallets.save(first)
    try:
        await wallets.save(second)
    except ConcurrencyError as exc:
        tour.say(f"{name}: a stale save is refused: expected={exc.expected}, actual={exc.actual}")
    snapshot = await store.load_snapshot(wallet.id)
    loaded = await wallets.load(wallet.id)
    tour.say(f"{name}: snapshot v{snapshot.version if snapshot else 0} + tail -> balance {loaded.balance}")


async def run(tour: Tour) -> None:
    await wallet_walk(tour, "memory", MemoryEventStore())
    if tour.postgres_dsn is None:
        tour.say("PostgresEventStore: set BUTTRESS_POSTGRES_DSN to run it")
        return
    table = f"tour_{secrets.token_hex(3)}_events"
    async with await PostgresEventStore.connect(tour.postgres_dsn, table=table) as pg:
        await pg.create_schema()
        try:
            await wallet_walk(tour, "postgres", pg)
        finally:
            await pg.drop_schema()
