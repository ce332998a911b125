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
from collections.abc import Callable
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
    AggregateNotFoundError,
    AppendResult,
    ConcurrencyError,
    DuplicateEventError,
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
from buttress.testing import PostgresSchema, acheck_hostile, check_hostile

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


Target = tuple[Callable[..., object], tuple[object, ...], dict[str, object]]

STORE = filled_store()
REPOSITORY = Repository(Account, filled_store(), account_codec(), snapshots=filled_store())

TARGETS: list[Target] = [
    # Records and sentinels.
    (EventData, (EVENT_ID, "Deposited", b"{}"), {"metadata": b"", "schema_version": 1, "timestamp": NOW}),
    (RecordedEvent, (EVENT_ID, "s", 1, 1, "T", b"", b"", 1, NOW), {}),
    (AppendResult, ("s", 1, 1), {}),
    (StreamState, ("ANY",), {}),
    (
        SnapshotRecord,
        ("s", 1, b"{}", "0" * 64, "Account", NOW),
        {"schema_version": 1, "last_event_id": EVENT_ID},
    ),
    (
        Snapshot.of,
        ("s", 1, {"a": 1}),
        {"aggregate_type": "Account", "last_event_id": EVENT_ID, "schema_version": 1},
    ),
    (Snapshot.of("s", 1, {}, aggregate_type="A", last_event_id=EVENT_ID).to_record, (NOW,), {}),
    (Snapshot, ("s", 1, {}, "0" * 64, "A", 1, EVENT_ID), {}),
    (canonical_bytes, ({"a": [1, "b"]},), {}),
    (
        state_hash,
        (b"{}",),
        {
            "stream_id": "s",
            "version": 1,
            "aggregate_type": "A",
            "schema_version": 1,
            "last_event_id": EVENT_ID,
        },
    ),
    (EveryNEvents, (10,), {}),
    (EveryNEvents(10).should_snapshot, (9, 10), {}),
    # Events and aggregates.
    (Deposited, (), {"stream_id": "s", "version": 1, "amount": Decimal(1)}),
    (Account, ("acc",), {}),
    (Account("acc").trigger, (Deposited,), {"amount": Decimal(1)}),
    (Account("s").apply, (DEPOSIT,), {}),
    (Account("s").restore_state, ({"balance": "1", "owner": "ada", "history": []},), {}),
    (applies, (Deposited,), {}),
    (applies(Deposited), (lambda self, event: None,), {}),
    # The codec.
    (
        EventCodec,
        ([Deposited],),
        {"serializer": None, "compressor": ZlibCompressor(), "compress_min_size": 1},
    ),
    (EventCodec, ([Deposited],), {"cipher": AesGcmCipher(KEY), "accept_plaintext": True}),
    (account_codec().register, (Deposited,), {"name": "bank.Deposited"}),
    (account_codec().upcaster, ("Deposited", 1), {}),
    (account_codec().upcaster("Deposited", 1), (lambda payload: payload,), {}),
    (account_codec().type_name, (Deposited,), {}),
    (account_codec().encode, (DEPOSIT,), {"metadata": {"correlation": "c"}}),
    (sealed().encode, (DEPOSIT,), {"metadata": None}),
    (account_codec().encode_all, ([DEPOSIT],), {}),
    (sealed().seal, (b"payload", b"aad"), {}),
    (sealed().unseal, (sealed().seal(b"payload", b"aad"), b"aad"), {}),
    (account_codec().knows, ("Deposited",), {}),
    (account_codec().decode, (RECORD,), {}),
    (sealed().decode, (RECORD,), {}),
    (account_codec().decode_all, ([RECORD],), {}),
    (ZlibCompressor, (6,), {}),
    (ZlibCompressor().compress, (b"data",), {}),
    (ZlibCompressor().decompress, (ZlibCompressor().compress(b"data"),), {}),
    (AesGcmCipher, (KEY,), {}),
    (AesGcmCipher.generate_key, (256,), {}),
    (AesGcmCipher(KEY).encrypt, (b"plain", b"aad"), {}),
    (AesGcmCipher(KEY).decrypt, (AesGcmCipher(KEY).encrypt(b"plain", b"aad"), b"aad"), {}),
    # The memory store.
    (MemoryEventStore().append, ("s", [DATA], NO_STREAM), {}),
    (STORE.append, ("s", [EventData(uuid.uuid4(), "T", b"")], ANY), {}),
    (STORE.read, ("s",), {"from_version": 1, "to_version": 2}),
    (STORE.read_all, (0, 10), {}),
    (STORE.wait_for_events, (0, 0.01), {"keep": ("timeout",)}),  # a valid timeout may be long
    (STORE.wait_for_events, (0, 0.01), {"keep": ("after_position",)}),  # events past 0: no wait
    (MemoryEventStore().save_snapshot, (SNAPSHOT,), {}),
    (STORE.load_snapshot, ("s",), {}),
    (STORE.read_with_snapshot, ("s",), {}),
    (STORE.load_checkpoint, ("sub",), {}),
    (MemoryEventStore().save_checkpoint, ("sub", 5), {}),
    # The repository.
    (
        Repository,
        (Account, MemoryEventStore(), account_codec()),
        {"snapshots": None, "policy": None, "strict_snapshots": False, "clock": None},
    ),
    (REPOSITORY.load, ("s",), {"use_snapshot": True}),
    (Repository(Account, MemoryEventStore(), account_codec()).save, (Account.open("new", "ada"),), {}),
    (REPOSITORY.take_snapshot, (loaded_account(),), {}),
    # Subscriptions.
    (
        Subscription,
        (MemoryEventStore(), handler),
        {"name": "sub", "checkpoints": MemoryEventStore(), "batch_size": 10, "poll_interval": 0.5},
    ),
    # Errors.
    (EventSourcingError, ("message",), {}),
    # show_value is kept: buttress.core's ConfigurationError tests its truth, which NotImplemented refuses.
    (EventSourcingConfigurationError, ("p", 1, "reason"), {"show_value": True, "keep": ("show_value",)}),
    (EventSourcingTypeError, ("p", "a str", 1), {}),
    (ConcurrencyError, ("s", 1, 2), {}),
    (DuplicateEventError, (EVENT_ID, "s", 1), {}),
    (EventSerializationError, ("event", "loads", "reason"), {"type_name": "X"}),
    (UnknownEventTypeError, ("X",), {}),
    (UpcastError, ("X", 1, 2, "reason"), {}),
    (SnapshotIntegrityError, ("s", 1, "reason"), {"expected_hash": "a", "actual_hash": "b"}),
    (AggregateNotFoundError, ("Account", "acc"), {}),
    (EventSourcingUnavailableError, ("postgresql", "postgresql://u:p@db/x", "refused"), {}),
    (MissingExtraError, ("PostgresEventStore", "postgres"), {}),
]


def _name(target: Callable[..., object]) -> str:
    return str(getattr(target, "__qualname__", repr(target)))


@pytest.mark.parametrize(("target", "args", "kwargs"), TARGETS, ids=[_name(t) for t, _, _ in TARGETS])
def test_public_entry_points_raise_only_typed_errors(
    target: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    """Property: no argument makes a public function, constructor or method raise an untyped error."""
    check_hostile(target, *args, **kwargs)


def test_an_upcaster_is_registered_with_typed_errors_for_bad_names_and_versions() -> None:
    """Property: `add_upcaster` refuses bad names and versions with typed errors (the function is kept)."""
    check_hostile(account_codec().add_upcaster, "Deposited", 1, lambda payload: payload, keep=("function",))


def test_every_public_name_is_driven_or_is_not_callable() -> None:
    """Every name in ``__all__`` is either driven above, a Protocol or alias, or a constant."""
    driven = {getattr(target, "__qualname__", "").split(".")[0] for target, _, _ in TARGETS}
    driven |= {"PostgresEventStore", "PostgresProjectionRunner", "applies"}  # driven below / above
    not_callables = {
        "ANY",
        "NO_STREAM",
        "CheckpointStore",
        "Cipher",
        "Compressor",
        "DomainEvent",
        "EventStore",
        "ExpectedVersion",
        "NotifyingEventStore",
        "Projection",
        "SnapshotPolicy",
        "SnapshotStore",
        "SnapshottingEventStore",
        "Upcaster",
        "__version__",
        "Aggregate",  # an abstract base: driven through its subclass Account
        "Event",  # a base: driven through its subclass Deposited
    }
    assert set(es.__all__) - driven - not_callables == set()


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


@pytest.mark.postgres
async def test_the_projection_runner_raises_only_typed_errors(pg_store: PostgresEventStore) -> None:
    """Property: `PostgresProjectionRunner` refuses hostile arguments with typed errors."""
    await acheck_hostile(PostgresProjectionRunner, pg_store, Counter(), batch_size=10, poll_interval=0.5)
    await acheck_hostile(
        PostgresProjectionRunner, pg_store, Counter(), batch_size=10, poll_interval=0.5, keep=("store",)
    )
