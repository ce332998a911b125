"""Static checks of the public API's types; run by mypy only, never executed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, assert_type
from uuid import UUID

import asyncpg

from buttress.core import ConflictError
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
    postgres = PostgresEventStore(pool, schema="app")
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


def check_errors(error: ConcurrencyError) -> None:
    conflict: ConflictError = error
    assert_type(error.stream_id, str)
    assert_type(error.actual, int)
    del conflict


async def check_subscriptions(store: MemoryEventStore, postgres: PostgresEventStore) -> None:
    async def handle(record: RecordedEvent) -> None:
        return None

    sub = Subscription(store, handle, name="p", checkpoints=store)
    assert_type(await sub.catch_up(), int)

    class Totals:
        name = "totals"

        async def setup(self, conn: object) -> None: ...
        async def apply(self, conn: object, event: RecordedEvent) -> None: ...
        async def reset(self, conn: object) -> None: ...

    runner = PostgresProjectionRunner(postgres, Totals())
    assert_type(await runner.rebuild(), int)
