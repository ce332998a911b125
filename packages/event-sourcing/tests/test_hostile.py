"""Every public entry point of buttress-event-sourcing, driven with hostile arguments: only typed errors.

Each function, constructor and method of the public surface (``buttress.event_sourcing.__all__``) is
called with hypothesis-generated hostile values in place of its arguments; anything but a
``ButtressError`` fails. The Protocols (`EventStore`, `SnapshotStore`, `CheckpointStore`, `Cipher`, ...)
and type aliases are not callables of this package and are left out; so are the methods without
parameters (``run``, ``stop``, ``aclose``...), which have nothing to be hostile about. Where a
parameter is a callback the package calls (an upcaster, a handler), it is kept valid.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from asyncpg.pool import PoolConnectionProxy

import buttress.event_sourcing as es
from buttress.event_sourcing import (
    ANY,
    NO_STREAM,
    AesGcmCipher,
    Aggregate,
    AggregateNotFoundError,
    AppendResult,
    ConcurrencyError,
    DuplicateEventError,
    Event,
    EventCodec,
    EventData,
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingError,
    EventSourcingTypeError,
    EventSourcingUnavailableError,
    EveryNEvents,
    MemoryEventStore,
    MissingExtraError,
    PostgresEventStore,
    PostgresProjectionRunner,
    RecordedEvent,
    Repository,
    Snapshot,
    SnapshotIntegrityError,
    SnapshotRecord,
    StreamState,
    Subscription,
    UnknownEventTypeError,
    UpcastError,
    ZlibCompressor,
    applies,
    canonical_bytes,
    state_hash,
)
from buttress.testing import HostileTarget, HostileTargets, PostgresSchema, acheck_hostile

from .conftest import Account, Deposited, account_codec, snapshot_record

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"k" * 32
EVENT_ID = uuid.UUID(int=1)
DATA = EventData(EVENT_ID, "Deposited", b'\x00{"amount":"1"}', timestamp=NOW)
RECORD = RecordedEvent(EVENT_ID, "s", 1, 1, "Deposited", b'\x00{"amount":"1"}', b"", 1, NOW)
SNAPSHOT = snapshot_record("s", 1, EVENT_ID, b'{"balance":"1"}')
DEPOSIT = Deposited(stream_id="s", version=1, amount=Decimal(1), event_id=EVENT_ID, timestamp=NOW)


def sealed() -> EventCodec:
    return account_codec(cipher=AesGcmCipher(KEY), compressor=ZlibCompressor(), compress_min_size=8)


def filled_store() -> MemoryEventStore:
    """A memory store holding stream ``s`` (three events), a snapshot of it and a checkpoint."""
    store = MemoryEventStore()
    account = Account.open("s", "ada")
    account.deposit(Decimal(1))
    account.deposit(Decimal(2))
    asyncio.run(store.append("s", account_codec().encode_all(account.collect_events()), NO_STREAM))
    asyncio.run(store.save_checkpoint("sub", 2))
    return store


def loaded_account() -> Account:
    account = Account.open("acc", "ada")
    account.deposit(Decimal(5))
    account.collect_events()
    return account


async def handler(record: RecordedEvent) -> None:
    return None


STORE = filled_store()
REPOSITORY = Repository(Account, filled_store(), account_codec(), snapshots=filled_store())

TARGETS = HostileTargets()
# Records and sentinels.
TARGETS.add(EventData, EVENT_ID, "Deposited", b"{}", metadata=b"", schema_version=1, timestamp=NOW)
TARGETS.add(RecordedEvent, EVENT_ID, "s", 1, 1, "T", b"", b"", 1, NOW)
TARGETS.add(AppendResult, "s", 1, 1)
TARGETS.add(StreamState, "ANY")
TARGETS.add(SnapshotRecord, "s", 1, b"{}", "0" * 64, "Account", NOW, schema_version=1, last_event_id=EVENT_ID)
TARGETS.add(Snapshot.of, "s", 1, {"a": 1}, aggregate_type="Account", last_event_id=EVENT_ID, schema_version=1)
TARGETS.add(Snapshot.of("s", 1, {}, aggregate_type="A", last_event_id=EVENT_ID).to_record, NOW)
TARGETS.add(Snapshot, "s", 1, {}, "0" * 64, "A", 1, EVENT_ID)
TARGETS.add(canonical_bytes, {"a": [1, "b"]})
TARGETS.add(
    state_hash, b"{}", stream_id="s", version=1, aggregate_type="A", schema_version=1, last_event_id=EVENT_ID
)
TARGETS.add(EveryNEvents, 10)
TARGETS.add(EveryNEvents(10).should_snapshot, 9, 10)
# Events and aggregates.
TARGETS.add(Event, stream_id="s", version=1)
TARGETS.add(Deposited, stream_id="s", version=1, amount=Decimal(1))
TARGETS.add(Aggregate, "acc")
TARGETS.add(Account, "acc")
TARGETS.add(Account("acc").trigger, Deposited, amount=Decimal(1))
TARGETS.add(Account("s").apply, DEPOSIT)
TARGETS.add(Account("s").restore_state, {"balance": "1", "owner": "ada", "history": []})
TARGETS.add(applies, Deposited)
TARGETS.add(applies(Deposited), lambda self, event: None)
# The codec.
TARGETS.add(EventCodec, [Deposited], serializer=None, compressor=ZlibCompressor(), compress_min_size=1)
TARGETS.add(EventCodec, [Deposited], cipher=AesGcmCipher(KEY), accept_plaintext=True)
TARGETS.add(account_codec().register, Deposited, name="bank.Deposited")
TARGETS.add(account_codec().upcaster, "Deposited", 1)
# The upcaster function is kept: what it raises is its own.
TARGETS.add(account_codec().add_upcaster, "Deposited", 1, lambda payload: payload, keep=("function",))
TARGETS.add(account_codec().upcaster("Deposited", 1), lambda payload: payload)
TARGETS.add(account_codec().type_name, Deposited)
TARGETS.add(account_codec().encode, DEPOSIT, metadata={"correlation": "c"})
TARGETS.add(sealed().encode, DEPOSIT, metadata=None)
TARGETS.add(account_codec().encode_all, [DEPOSIT])
TARGETS.add(sealed().seal, b"payload", b"aad")
TARGETS.add(sealed().unseal, sealed().seal(b"payload", b"aad"), b"aad")
TARGETS.add(account_codec().knows, "Deposited")
TARGETS.add(account_codec().decode, RECORD)
TARGETS.add(sealed().decode, RECORD)
TARGETS.add(account_codec().decode_all, [RECORD])
TARGETS.add(ZlibCompressor, 6)
TARGETS.add(ZlibCompressor().compress, b"data")
TARGETS.add(ZlibCompressor().decompress, ZlibCompressor().compress(b"data"))
TARGETS.add(AesGcmCipher, KEY)
TARGETS.add(AesGcmCipher.generate_key, 256)
TARGETS.add(AesGcmCipher(KEY).encrypt, b"plain", b"aad")
TARGETS.add(AesGcmCipher(KEY).decrypt, AesGcmCipher(KEY).encrypt(b"plain", b"aad"), b"aad")
# The memory store.
TARGETS.add(MemoryEventStore().append, "s", [DATA], NO_STREAM)
TARGETS.add(STORE.append, "s", [EventData(uuid.uuid4(), "T", b"")], ANY)
TARGETS.add(STORE.read, "s", from_version=1, to_version=2)
TARGETS.add(STORE.read_all, 0, 10)
TARGETS.add(STORE.wait_for_events, 0, 0.01, keep=("timeout",))  # a valid timeout may be long
TARGETS.add(STORE.wait_for_events, 0, 0.01, keep=("after_position",))  # events past 0: no wait
TARGETS.add(MemoryEventStore().save_snapshot, SNAPSHOT)
TARGETS.add(STORE.load_snapshot, "s")
TARGETS.add(STORE.read_with_snapshot, "s")
TARGETS.add(STORE.load_checkpoint, "sub")
TARGETS.add(MemoryEventStore().save_checkpoint, "sub", 5)
# The repository.
TARGETS.add(
    Repository,
    Account,
    MemoryEventStore(),
    account_codec(),
    snapshots=None,
    policy=None,
    strict_snapshots=False,
    clock=None,
)
TARGETS.add(REPOSITORY.load, "s", use_snapshot=True)
TARGETS.add(Repository(Account, MemoryEventStore(), account_codec()).save, Account.open("new", "ada"))
TARGETS.add(REPOSITORY.take_snapshot, loaded_account())
# Subscriptions.
TARGETS.add(
    Subscription,
    MemoryEventStore(),
    handler,
    name="sub",
    checkpoints=MemoryEventStore(),
    batch_size=10,
    poll_interval=0.5,
)
# Errors.
TARGETS.add(EventSourcingError, "message")
# show_value is kept: buttress.core's ConfigurationError tests its truth, which NotImplemented refuses.
TARGETS.add(EventSourcingConfigurationError, "p", 1, "reason", show_value=True, keep=("show_value",))
TARGETS.add(EventSourcingTypeError, "p", "a str", 1)
TARGETS.add(ConcurrencyError, "s", 1, 2)
TARGETS.add(DuplicateEventError, EVENT_ID, "s", 1)
TARGETS.add(EventSerializationError, "event", "loads", "reason", type_name="X")
TARGETS.add(UnknownEventTypeError, "X")
TARGETS.add(UpcastError, "X", 1, 2, "reason")
TARGETS.add(SnapshotIntegrityError, "s", 1, "reason", expected_hash="a", actual_hash="b")
TARGETS.add(AggregateNotFoundError, "Account", "acc")
TARGETS.add(EventSourcingUnavailableError, "postgresql", "postgresql://u:p@db/x", "refused")
TARGETS.add(MissingExtraError, "PostgresEventStore", "postgres")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a public function, constructor or method raise an untyped error."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(es)


# --- PostgreSQL, on the test's event loop.


@dataclass
class Counter:
    name: str = "hostile_counter"

    async def setup(self, conn: PoolConnectionProxy[Any]) -> None:
        return None

    async def apply(self, conn: PoolConnectionProxy[Any], event: RecordedEvent) -> None:
        return None

    async def reset(self, conn: PoolConnectionProxy[Any]) -> None:
        return None


@TARGETS.drives("PostgresEventStore")
@pytest.mark.postgres
async def test_the_postgres_store_raises_only_typed_errors(
    pg_store: PostgresEventStore, postgres_schema: PostgresSchema
) -> None:
    """Property: every method of `PostgresEventStore` answers hostile arguments with typed errors."""
    codec = account_codec()
    account = Account.open("s", "ada")
    account.deposit(Decimal(1))
    await pg_store.append("s", codec.encode_all(account.collect_events()), NO_STREAM)
    accounts = Repository(Account, pg_store, codec, snapshots=pg_store)
    await accounts.take_snapshot(await accounts.load("s"))
    await acheck_hostile(PostgresEventStore, pg_store.pool, table="hostile.es_events", notify=True)
    # The pool sizes are kept while the DSN is the shared server's (a hostile size must not open hundreds
    # of connections to it), then driven against an address that refuses at once.
    await acheck_hostile(
        PostgresEventStore.connect,
        postgres_schema.dsn,
        table=f"{postgres_schema.name}.es_events",
        notify=False,
        min_size=0,
        max_size=1,
        server_settings=postgres_schema.server_settings,
        keep=("min_size", "max_size"),
        max_examples=25,
    )
    await acheck_hostile(
        PostgresEventStore.connect, "postgresql://127.0.0.1:1/none", min_size=1, max_size=2, keep=("dsn",)
    )
    await acheck_hostile(pg_store.append, "s", [EventData(uuid.uuid4(), "T", b"")], ANY)
    await acheck_hostile(pg_store.read, "s", from_version=1, to_version=2)
    await acheck_hostile(pg_store.read_all, 0, 10)
    await acheck_hostile(pg_store.wait_for_events, 0, 0.01, keep=("timeout",))
    # Once a notification past 0 was seen, waiting past 0 returns at once, whatever the (valid) timeout.
    await pg_store.append("s", [EventData(uuid.uuid4(), "T", b"")], ANY)
    while not await pg_store.wait_for_events(0, 0.05):
        pass
    await acheck_hostile(pg_store.wait_for_events, 0, 0.01, keep=("after_position",))
    await acheck_hostile(pg_store.save_snapshot, snapshot_record("t", 1, uuid.uuid4()))
    await acheck_hostile(pg_store.load_snapshot, "s")
    await acheck_hostile(pg_store.read_with_snapshot, "s")
    await acheck_hostile(pg_store.load_checkpoint, "sub")
    await acheck_hostile(pg_store.save_checkpoint, "sub", 3)
    await acheck_hostile(accounts.load, "s", use_snapshot=True)


@TARGETS.drives("PostgresProjectionRunner")
@pytest.mark.postgres
async def test_the_projection_runner_raises_only_typed_errors(pg_store: PostgresEventStore) -> None:
    """Property: `PostgresProjectionRunner` refuses hostile arguments with typed errors."""
    await acheck_hostile(PostgresProjectionRunner, pg_store, Counter(), batch_size=10, poll_interval=0.5)
    await acheck_hostile(
        PostgresProjectionRunner, pg_store, Counter(), batch_size=10, poll_interval=0.5, keep=("store",)
    )
