"""Each OpenTelemetry instrument of the package, read back through buttress-testing's `metric_reader`."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from buttress.event_sourcing import (
    NO_STREAM,
    ConcurrencyError,
    DuplicateEventError,
    EventData,
    EventSourcingUnavailableError,
    MemoryEventStore,
    PostgresEventStore,
    PostgresProjectionRunner,
    RecordedEvent,
    Repository,
    SnapshotRecord,
    Subscription,
)
from buttress.testing import RecordedMetrics

from .conftest import Account, account_codec

APPENDED = "buttress.event_sourcing.events.appended"
APPEND_DURATION = "buttress.event_sourcing.append.duration"
CONFLICTS = "buttress.event_sourcing.concurrency_conflicts"
UNAVAILABLE = "buttress.event_sourcing.unavailable"
LOADS = "buttress.event_sourcing.stream.loads"
LOAD_DURATION = "buttress.event_sourcing.load.duration"
REPLAYED = "buttress.event_sourcing.events.replayed"
SNAPSHOT_READS = "buttress.event_sourcing.snapshot.reads"
SNAPSHOT_WRITES = "buttress.event_sourcing.snapshot.writes"
INTEGRITY = "buttress.event_sourcing.snapshot.integrity_failures"
HANDLED = "buttress.event_sourcing.subscription.events"

ACCOUNT = {"aggregate.type": "Account"}


def batch(n: int) -> list[EventData]:
    return [EventData(uuid.uuid4(), "T", b"{}") for _ in range(n)]


async def check_appends(store: Any, backend: str, metrics: RecordedMetrics) -> None:
    """Appended events, the duration of each outcome, and conflicts, on either store."""
    on = {"backend": backend}
    events = batch(3)
    await store.append("m", events, NO_STREAM)
    assert metrics.value(APPENDED, on) == 3
    assert metrics.count(APPEND_DURATION, {**on, "outcome": "appended"}) == 1
    await store.append("m", events, NO_STREAM)  # the same batch again: an idempotent no-op
    assert metrics.value(APPENDED, on) == 3
    assert metrics.count(APPEND_DURATION, {**on, "outcome": "replayed"}) == 1
    with pytest.raises(ConcurrencyError):
        await store.append("m", batch(1), 1)
    assert metrics.value(CONFLICTS, on) == 1
    assert metrics.count(APPEND_DURATION, {**on, "outcome": "conflict"}) == 1
    with pytest.raises(DuplicateEventError):
        await store.append("other", events[:1], NO_STREAM)
    assert metrics.count(APPEND_DURATION, {**on, "outcome": "duplicate"}) == 1
    assert metrics.value(APPENDED, on) == 3
    assert metrics.value(APPEND_DURATION, on) >= 0


async def test_memory_appends_are_counted_and_timed(metric_reader: RecordedMetrics) -> None:
    await check_appends(MemoryEventStore(), "memory", metric_reader)


@pytest.mark.postgres
async def test_postgres_appends_are_counted_and_timed(
    pg_store: PostgresEventStore, metric_reader: RecordedMetrics
) -> None:
    await check_appends(pg_store, "postgresql", metric_reader)


async def test_an_unreachable_database_is_counted(metric_reader: RecordedMetrics) -> None:
    with pytest.raises(EventSourcingUnavailableError):
        await PostgresEventStore.connect("postgresql://app:secret@127.0.0.1:1/db", max_size=1)
    assert metric_reader.value(UNAVAILABLE, {"backend": "postgresql"}) == 1


async def test_loads_replays_and_snapshots_are_counted(metric_reader: RecordedMetrics) -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    account = Account.open("acc", "ada")
    account.deposit(Decimal(5))
    await accounts.save(account)

    loaded = await accounts.load("acc")  # no snapshot yet: a miss, two events replayed
    assert metric_reader.value(LOADS, {**ACCOUNT, "outcome": "found"}) == 1
    assert metric_reader.count(LOAD_DURATION, ACCOUNT) == 1
    assert metric_reader.value(REPLAYED, ACCOUNT) == 2
    assert metric_reader.value(SNAPSHOT_READS, {**ACCOUNT, "outcome": "miss"}) == 1

    await accounts.take_snapshot(loaded)
    assert metric_reader.value(SNAPSHOT_WRITES, {**ACCOUNT, "outcome": "stored"}) == 1
    loaded.deposit(Decimal(1))
    await accounts.save(loaded)
    await accounts.load("acc")  # the snapshot, then one event after it
    assert metric_reader.value(SNAPSHOT_READS, {**ACCOUNT, "outcome": "hit"}) == 1
    assert metric_reader.value(REPLAYED, ACCOUNT) == 3

    from buttress.event_sourcing import AggregateNotFoundError  # noqa: PLC0415

    with pytest.raises(AggregateNotFoundError):
        await accounts.load("nobody")
    assert metric_reader.value(LOADS, {**ACCOUNT, "outcome": "not_found"}) == 1
    assert metric_reader.count(LOAD_DURATION, ACCOUNT) == 3


async def test_a_damaged_snapshot_is_an_integrity_failure(metric_reader: RecordedMetrics) -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    account = Account.open("acc", "ada")
    await accounts.save(account)
    await accounts.take_snapshot(account)
    stored = await store.load_snapshot("acc")
    assert stored is not None
    await store.save_snapshot(dataclasses.replace(stored, state=b'{"owner":"eve"}'))
    await accounts.load("acc")
    assert metric_reader.value(INTEGRITY, ACCOUNT) == 1
    assert metric_reader.value(SNAPSHOT_READS, {**ACCOUNT, "outcome": "rejected"}) == 1
    assert accounts.snapshot_integrity_failures == 1


async def test_an_outdated_snapshot_is_read_but_not_a_failure(metric_reader: RecordedMetrics) -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    account = Account.open("acc", "ada")
    await accounts.save(account)
    await accounts.take_snapshot(account)

    class Account2(Account):
        state_schema_version = 2

    Account2.__name__ = "Account"
    newer = Repository(Account2, store, account_codec(), snapshots=store)
    await newer.load("acc")
    assert metric_reader.value(SNAPSHOT_READS, {**ACCOUNT, "outcome": "outdated"}) == 1
    assert metric_reader.value(INTEGRITY, ACCOUNT) == 0


async def test_a_failed_snapshot_write_is_counted(metric_reader: RecordedMetrics) -> None:
    class Refusing(MemoryEventStore):
        async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
            raise EventSourcingUnavailableError("postgresql", "db", "down")

    store = Refusing()
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    account = Account.open("acc", "ada")
    await accounts.save(account)
    with pytest.raises(EventSourcingUnavailableError):
        await accounts.take_snapshot(account)
    assert metric_reader.value(SNAPSHOT_WRITES, {**ACCOUNT, "outcome": "failed"}) == 1


async def test_subscriptions_count_the_events_they_handle(metric_reader: RecordedMetrics) -> None:
    store = MemoryEventStore()
    await store.append("a", batch(5), NO_STREAM)

    async def handle(record: RecordedEvent) -> None:
        return None

    await Subscription(store, handle, name="mail", checkpoints=store, batch_size=2).catch_up()
    wanted = {"subscription.name": "mail", "subscription.kind": "subscription"}
    assert metric_reader.value(HANDLED, wanted) == 5


@dataclasses.dataclass
class Nothing:
    name: str = "nothing"

    async def setup(self, conn: asyncpg.Connection) -> None:
        return None

    async def apply(self, conn: asyncpg.Connection, event: RecordedEvent) -> None:
        return None

    async def reset(self, conn: asyncpg.Connection) -> None:
        return None


@pytest.mark.postgres
async def test_projection_runners_count_the_events_they_apply(
    pg_store: PostgresEventStore, metric_reader: RecordedMetrics
) -> None:
    await pg_store.append("a", batch(4), NO_STREAM)
    runner = PostgresProjectionRunner(pg_store, Nothing(), batch_size=3)
    assert await runner.catch_up() == 4
    wanted = {"subscription.name": "nothing", "subscription.kind": "projection"}
    assert metric_reader.value(HANDLED, wanted) == 4


async def test_attributes_never_carry_stream_ids(metric_reader: RecordedMetrics) -> None:
    """Every point of every instrument carries only the bounded attribute keys."""
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    account = Account.open("secret-stream", "ada")
    await accounts.save(account)
    await accounts.take_snapshot(await accounts.load("secret-stream"))
    await accounts.load("secret-stream")

    async def handle(record: RecordedEvent) -> None:
        return None

    await Subscription(store, handle, name="s", checkpoints=store).catch_up()
    allowed = {"backend", "outcome", "aggregate.type", "subscription.name", "subscription.kind"}
    names = metric_reader.names("buttress.event_sourcing.")
    assert {APPENDED, APPEND_DURATION, LOADS, REPLAYED, SNAPSHOT_READS, SNAPSHOT_WRITES, HANDLED} <= names
    for name in names:
        for point in metric_reader.points(name):
            assert set(point.attributes) <= allowed, (name, point.attributes)
            assert "secret-stream" not in point.attributes.values()


_BOUND_WHEN_MADE = """
import sys

import asyncpg

from buttress.event_sourcing import PostgresEventStore
from buttress.event_sourcing._metrics import TELEMETRY, UNAVAILABLE, record_append

assert not [m for m in sys.modules if m.startswith("opentelemetry")], "imported with the package"
PostgresEventStore(asyncpg.create_pool("postgresql://nobody@127.0.0.1:1/none"))  # opens nothing yet


def made_late(*args, **kwargs):
    raise AssertionError("an instrument was made on its first measurement")


for kind in ("counter", "histogram", "up_down_counter"):
    setattr(TELEMETRY.meter(), f"create_{kind}", made_late)
before = set(sys.modules)
record_append("postgresql", 0.0, "conflict", 1)
UNAVAILABLE.add(1, {"backend": "postgresql"})
print(sorted(set(sys.modules) - before))
"""


def test_making_a_store_binds_the_instruments_so_the_first_append_imports_nothing() -> None:
    """The first append's measurements import and make nothing: the store bound them when it was made.

    A new interpreter, where nothing imported OpenTelemetry before the store was made.
    """
    done = subprocess.run(
        [sys.executable, "-c", _BOUND_WHEN_MADE], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
