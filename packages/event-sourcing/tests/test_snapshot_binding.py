"""A snapshot row is trusted only as far as its hash binds it: stream, version, type, schema, last event.

Each test edits a stored snapshot the way a mistake or a restore would (an edited column, a row copied
from another stream or database, history that no longer holds the snapshot's last event) on the memory
store and on a real PostgreSQL, then shows that loading falls back to replay with the right state and
counts the failure, and that ``strict_snapshots=True`` raises instead.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from buttress.event_sourcing import (
    Aggregate,
    EventSourcingConfigurationError,
    EventSourcingTypeError,
    EveryNEvents,
    MemoryEventStore,
    PostgresEventStore,
    Repository,
    SnapshotIntegrityError,
    SnapshotRecord,
    applies,
    canonical_bytes,
)

from .conftest import Account, Deposited, Opened, account_codec, snapshot_record


@dataclass
class Backend:
    """A store plus ways to damage its snapshot rows in place, as an operator or a restore would."""

    store: MemoryEventStore | PostgresEventStore
    set_columns: Callable[..., Awaitable[None]]
    copy_row: Callable[[str, str], Awaitable[None]]
    drop_events_after: Callable[[str, int], Awaitable[None]]


def memory_backend() -> Backend:
    store = MemoryEventStore()

    async def set_columns(stream_id: str, **values: Any) -> None:
        store._snapshots[stream_id] = dataclasses.replace(store._snapshots[stream_id], **values)

    async def copy_row(source: str, target: str) -> None:
        # As on PostgreSQL, the copy is stored under (and labelled with) the target stream.
        store._snapshots[target] = dataclasses.replace(store._snapshots[source], stream_id=target)

    async def drop_events_after(stream_id: str, version: int) -> None:
        kept = store._streams[stream_id][:version]
        store._streams[stream_id] = kept

    return Backend(store, set_columns, copy_row, drop_events_after)


def postgres_backend(store: PostgresEventStore) -> Backend:
    table = store.snapshots_table

    async def set_columns(stream_id: str, **values: Any) -> None:
        names = list(values)
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(names, start=2))
        async with store.transaction() as conn:
            await conn.execute(
                f"UPDATE {table} SET {assignments} WHERE stream_id = $1",  # noqa: S608
                stream_id,
                *values.values(),
            )

    async def copy_row(source: str, target: str) -> None:
        async with store.transaction() as conn:
            await conn.execute(f"DELETE FROM {table} WHERE stream_id = $1", target)  # noqa: S608
            await conn.execute(
                f"INSERT INTO {table} SELECT $2, version, state, state_hash, aggregate_type, "  # noqa: S608
                f"timestamp, schema_version, last_event_id FROM {table} WHERE stream_id = $1",
                source,
                target,
            )

    async def drop_events_after(stream_id: str, version: int) -> None:
        async with store.transaction() as conn:
            await conn.execute(
                f"DELETE FROM {store.events_table} WHERE stream_id = $1 AND version > $2",  # noqa: S608
                stream_id,
                version,
            )

    return Backend(store, set_columns, copy_row, drop_events_after)


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return memory_backend()
    return postgres_backend(request.getfixturevalue("pg_store"))


async def saved_account(accounts: Repository[Account], stream_id: str, deposits: list[int]) -> Account:
    account = Account.open(stream_id, f"owner of {stream_id}")
    for amount in deposits:
        account.deposit(Decimal(amount))
    await accounts.save(account)
    return account


async def check_fallback(
    backend: Backend, stream_id: str, expected: Account, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Loading gives ``expected`` by replay, counts one failure, logs it; strict mode raises."""
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    with caplog.at_level(logging.WARNING, logger="buttress.event_sourcing"):
        loaded = await accounts.load(stream_id)
    assert loaded.snapshot_state() == expected.snapshot_state()
    assert loaded.version == expected.version
    assert loaded.last_event_id == expected.last_event_id
    assert accounts.snapshot_integrity_failures == 1
    assert reason in caplog.text
    strict = Repository(
        Account, backend.store, account_codec(), snapshots=backend.store, strict_snapshots=True
    )
    with pytest.raises(SnapshotIntegrityError, match=reason) as info:
        await strict.load(stream_id)
    assert info.value.stream_id == stream_id
    assert strict.snapshot_integrity_failures == 1


async def test_an_edited_version_falls_back_to_replay(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """The acceptance run's case: a snapshot at 32 edited to say 20 counted events 21-32 twice."""
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-1", list(range(1, 32)))
    assert account.version == 32
    await accounts.take_snapshot(account)
    await backend.set_columns("acc-1", version=20)
    await check_fallback(backend, "acc-1", account, "SHA-256 does not match", caplog)
    assert (await accounts.load("acc-1")).balance == sum(range(1, 32))


async def test_another_streams_snapshot_copied_onto_this_stream_falls_back(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A copied row (same type, same version, a foreign balance) is refused: the stream id is bound."""
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    mine = await saved_account(accounts, "acc-mine", [1, 2, 3])
    theirs = await saved_account(accounts, "acc-theirs", [1000, 2000, 3000])
    await accounts.take_snapshot(mine)
    await accounts.take_snapshot(theirs)
    await backend.copy_row("acc-theirs", "acc-mine")
    await check_fallback(backend, "acc-mine", mine, "SHA-256 does not match", caplog)
    assert (await accounts.load("acc-mine")).balance == 6


async def test_an_edited_aggregate_type_falls_back(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-2", [5, 6])
    await accounts.take_snapshot(account)
    await backend.set_columns("acc-2", aggregate_type="Ledger")
    await check_fallback(backend, "acc-2", account, "SHA-256 does not match", caplog)


async def test_an_edited_schema_version_falls_back(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-3", [5, 6])
    await accounts.take_snapshot(account)
    await backend.set_columns("acc-3", schema_version=2)
    await check_fallback(backend, "acc-3", account, "SHA-256 does not match", caplog)


async def test_an_edited_last_event_id_falls_back(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-4", [5, 6])
    await accounts.take_snapshot(account)
    await backend.set_columns("acc-4", last_event_id=uuid.uuid4())
    await check_fallback(backend, "acc-4", account, "SHA-256 does not match", caplog)


async def test_a_snapshot_from_another_history_of_the_stream_falls_back(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """An intact snapshot whose last event is not in the stream (events restored from an older backup,
    or a row copied from another database where the same stream id means another aggregate) is refused:
    it is bound to the id of the event at its version."""
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-5", [1, 2, 3, 4, 5, 6])
    await accounts.take_snapshot(account)
    await backend.drop_events_after("acc-5", 4)
    expected = Account.open("acc-5", "owner of acc-5")
    for amount in (1, 2, 3):
        expected.deposit(Decimal(amount))
    # The same versions, other events (the acc-5 of another database):
    stored = await backend.store.read("acc-5")
    assert len(stored) == 4
    expected._last_event_id = stored[-1].event_id
    expected.collect_events()
    await check_fallback(backend, "acc-5", expected, "no event with its last event id at its version", caplog)

    for amount in (50, 60, 70):
        expected.deposit(Decimal(amount))
    await accounts.save(expected)  # at version 7 again, through other events
    assert expected.version == 7
    caplog.clear()
    await check_fallback(backend, "acc-5", expected, "no event with its last event id at its version", caplog)


class Ledger(Aggregate[str]):
    """Another aggregate type over the same events."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.entries = 0

    @applies(Opened, Deposited)
    def _any(self, event: object) -> None:
        self.entries += 1


async def test_an_intact_snapshot_of_another_aggregate_type_falls_back(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    ledgers = Repository(Ledger, backend.store, account_codec(), snapshots=backend.store)
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-6", [7, 8])
    await ledgers.take_snapshot(await ledgers.load("acc-6"))
    await check_fallback(backend, "acc-6", account, "it was taken of a Ledger, not a Account", caplog)


async def test_an_intact_state_that_does_not_restore_falls_back(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-7", [7, 8])
    last = account.last_event_id
    assert last is not None
    await backend.store.save_snapshot(snapshot_record("acc-7", 3, last, b'{"_pending":1}'))
    await check_fallback(backend, "acc-7", account, "its state cannot be restored", caplog)


class VersionedAccount(Account):
    state_schema_version = 2


async def test_a_snapshot_of_another_state_schema_version_is_skipped_not_counted(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A class that changed the shape of its state ignores older snapshots: replay, INFO, no failure."""
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-8", [3, 4])
    assert account.last_event_id is not None
    state = canonical_bytes(account.snapshot_state())
    # What VersionedAccount wrote before it raised its state_schema_version to 2:
    older = snapshot_record("acc-8", 3, account.last_event_id, state, aggregate_type="VersionedAccount")
    await backend.store.save_snapshot(older)
    new = Repository(
        VersionedAccount, backend.store, account_codec(), snapshots=backend.store, strict_snapshots=True
    )
    with caplog.at_level(logging.INFO, logger="buttress.event_sourcing"):
        loaded = await new.load("acc-8")
    assert loaded.snapshot_state() == account.snapshot_state()
    assert new.snapshot_integrity_failures == 0
    assert "state schema version is 1, the class's is 2" in caplog.text
    await new.take_snapshot(loaded)
    retaken = await backend.store.load_snapshot("acc-8")
    assert retaken is not None
    assert retaken.schema_version == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="buttress.event_sourcing"):
        assert (await new.load("acc-8")).snapshot_state() == account.snapshot_state()
    assert caplog.text == ""


async def test_a_damaged_row_never_blocks_a_good_snapshot(backend: Backend) -> None:
    """A row whose version was raised by hand would otherwise keep every newer snapshot out."""
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    account = await saved_account(accounts, "acc-9", [1, 2])
    await accounts.take_snapshot(account)
    await backend.set_columns("acc-9", version=500)
    account.deposit(Decimal(3))
    await accounts.save(account)
    await accounts.take_snapshot(account)
    stored = await backend.store.load_snapshot("acc-9")
    assert stored is not None
    assert stored.version == 4
    loaded = await accounts.load("acc-9")
    assert loaded.snapshot_state() == account.snapshot_state()
    assert accounts.snapshot_integrity_failures == 0
    # An intact newer snapshot, though, is never replaced by an older one.
    stale = snapshot_record("acc-9", 2, uuid.uuid4())
    await backend.store.save_snapshot(stale)
    assert (await backend.store.load_snapshot("acc-9")) == stored


async def test_a_snapshot_that_cannot_be_stored_does_not_fail_the_save(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The events are stored when the snapshot is taken: the save succeeded, and says so."""

    class Odd(Account):
        def snapshot_state(self) -> dict[str, Any]:
            return {"x": float("nan")}

    store = MemoryEventStore()
    accounts = Repository(Odd, store, account_codec(), snapshots=store, policy=EveryNEvents(1))
    account = Odd("odd")
    account.deposit(Decimal(1))
    with caplog.at_level(logging.WARNING, logger="buttress.event_sourcing"):
        result = await accounts.save(account)
    assert result is not None
    assert result.version == 1
    assert await store.load_snapshot("odd") is None
    assert "could not store a snapshot" in caplog.text


async def test_snapshots_of_nothing_or_of_bad_records_are_refused(backend: Backend) -> None:
    accounts = Repository(Account, backend.store, account_codec(), snapshots=backend.store)
    with pytest.raises(EventSourcingConfigurationError, match="no stored events"):
        await accounts.take_snapshot(Account("empty"))
    good = snapshot_record("s", 1, uuid.uuid4())
    for bad in (
        dataclasses.replace(good, version=0),
        dataclasses.replace(good, last_event_id=None),
        dataclasses.replace(good, schema_version=0),
        dataclasses.replace(good, aggregate_type=""),
        dataclasses.replace(good, stream_id="\x00"),
    ):
        with pytest.raises(EventSourcingConfigurationError):
            await backend.store.save_snapshot(bad)
    with pytest.raises(EventSourcingTypeError):
        await backend.store.save_snapshot("not a record")  # type: ignore[arg-type]
    with pytest.raises(EventSourcingConfigurationError):
        SnapshotRecord("s", 10**400, b"", "", "A", good.timestamp)
