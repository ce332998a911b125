"""Static checks of the public API's types; run by mypy only, never executed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, assert_type
from uuid import UUID

import asyncpg

from buttress.core import ArgumentTypeError, BackendUnavailableError, ConflictError
from buttress.event_sourcing import (
    ANY,
    NO_STREAM,
    AesGcmCipher,
    Aggregate,
    AppendResult,
    CheckpointStore,
    ConcurrencyError,
    Event,
    EventCodec,
    EventData,
    EventSourcingTypeError,
    EventSourcingUnavailableError,
    EventStore,
    EveryNEvents,
    MemoryEventStore,
    PostgresEventStore,
    PostgresProjectionRunner,
    RecordedEvent,
    Repository,
    Snapshot,
    SnapshotRecord,
    SnapshotStore,
    StreamState,
    Subscription,
    applies,
    state_hash,
)


@dataclass(frozen=True)
class Deposited(Event):
    amount: int


class Account(Aggregate[str]):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance = 0

    @applies(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount


async def check_store(store: MemoryEventStore, pool: asyncpg.Pool) -> None:
    assert_type(NO_STREAM, Literal[StreamState.NO_STREAM])
    assert_type(ANY, Literal[StreamState.ANY])
    result = await store.append(
        "s", [EventData(Deposited(stream_id="s", version=1, amount=1).event_id, "T", b"")], 0
    )
    assert_type(result, AppendResult)
    assert_type(await store.read("s"), Sequence[RecordedEvent])
    assert_type(await store.read_all(0, 10), Sequence[RecordedEvent])
    assert_type(await store.load_snapshot("s"), SnapshotRecord | None)
    as_protocols: tuple[EventStore, SnapshotStore, CheckpointStore] = (store, store, store)
    postgres = PostgresEventStore(pool=pool, table="app.orders_events")
    assert_type(postgres.table, str)
    assert_type(postgres.pool, asyncpg.Pool)
    owned = await PostgresEventStore.connect("postgresql://db/app", table="orders", min_size=1, max_size=4)
    assert_type(owned, PostgresEventStore)
    async with owned as entered:
        assert_type(entered, PostgresEventStore)
    assert_type(await owned.aclose(), None)
    assert_type(owned.closed, bool)
    also: tuple[EventStore, SnapshotStore, CheckpointStore] = (postgres, postgres, postgres)
    assert_type(await postgres.append("s", [], ANY), AppendResult)
    del as_protocols, also


async def check_repository(store: MemoryEventStore) -> None:
    codec = EventCodec([Deposited], cipher=AesGcmCipher(AesGcmCipher.generate_key()))
    accounts = Repository(Account, store, codec, snapshots=store, policy=EveryNEvents(100))
    account = await accounts.load("a")
    assert_type(account, Account)
    event = account.trigger(Deposited, amount=5)
    assert_type(event, Deposited)
    assert_type(await accounts.save(account), AppendResult | None)
    snapshot = await accounts.take_snapshot(account)
    assert_type(snapshot, Snapshot)
    assert_type(accounts.snapshot_integrity_failures, int)
    assert_type(account.last_event_id, UUID | None)
    assert_type(Account.state_schema_version, int)
    assert_type(snapshot.last_event_id, UUID)
    assert_type(
        state_hash(
            b"{}",
            stream_id="a",
            version=1,
            aggregate_type="Account",
            schema_version=1,
            last_event_id=snapshot.last_event_id,
        ),
        str,
    )
    assert_type(
        EventCodec(cipher=AesGcmCipher(AesGcmCipher.generate_key()), accept_plaintext=True), EventCodec
    )


def check_errors(
    error: ConcurrencyError, wrong: EventSourcingTypeError, down: EventSourcingUnavailableError
) -> None:
    conflict: ConflictError = error
    assert_type(error.stream_id, str)
    assert_type(error.actual, int)
    as_type_error: ArgumentTypeError = wrong
    assert_type(wrong.parameter, str)
    as_unavailable: BackendUnavailableError = down
    assert_type(down.address, str)
    del conflict, as_type_error, as_unavailable


async def check_subscriptions(store: MemoryEventStore, postgres: PostgresEventStore) -> None:
    async def handle(record: RecordedEvent) -> None:
        return None

    sub = Subscription(store, handle, name="p", checkpoints=store)
    assert_type(await sub.catch_up(), int)
    async with sub:
        assert_type(sub.start(), None)
        assert_type(sub.running, bool)
        assert_type(sub.crashes, int)
    assert_type(await sub.aclose(), None)

    class Totals:
        name = "totals"

        async def setup(self, conn: object) -> None: ...
        async def apply(self, conn: object, event: RecordedEvent) -> None: ...
        async def reset(self, conn: object) -> None: ...

    runner = PostgresProjectionRunner(postgres, Totals())
    assert_type(await runner.rebuild(), int)
    async with runner:
        assert_type(runner.start(), None)
        assert_type(runner.running, bool)
    assert_type(await runner.aclose(), None)
