"""PostgreSQL for real: gap safety when commits race, racing writers, followers, faults, projections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from asyncpg.pool import PoolConnectionProxy

from buttress.event_sourcing import (
    ANY,
    NO_STREAM,
    ConcurrencyError,
    EventData,
    EventSourcingConfigurationError,
    EventSourcingTypeError,
    EventSourcingUnavailableError,
    PostgresEventStore,
    PostgresProjectionRunner,
    RecordedEvent,
    Repository,
    SnapshotIntegrityError,
    Subscription,
)
from buttress.testing import PostgresSchema, PostgresServer, eventually

from .conftest import Account, account_codec, fresh_table

pytestmark = pytest.mark.postgres


def batch(n: int, tag: str = "T") -> list[EventData]:
    return [EventData(uuid.uuid4(), tag, f"{tag}:{i}".encode()) for i in range(n)]


async def test_a_later_append_cannot_commit_before_an_earlier_one(
    pg_store: PostgresEventStore, postgres_pool: asyncpg.Pool
) -> None:
    """Gap safety: while one append's transaction is held open, a second append waits, and a
    ``read_all`` follower never sees a position past an uncommitted one, so it never skips."""
    await pg_store.append("warm", batch(2), NO_STREAM)
    seen: list[int] = []

    async def follow() -> None:
        while len(seen) < 5:
            after = seen[-1] if seen else 0
            seen.extend(r.position for r in await pg_store.read_all(after, 100))
            await asyncio.sleep(0.005)

    follower = asyncio.create_task(follow())
    held = batch(1, "held")
    async with postgres_pool.acquire() as slow:
        transaction = slow.transaction()
        await transaction.start()
        # The first writer runs the store's own append statement but does not commit yet.
        row = await slow.fetchrow(
            pg_store._append_sql,
            "slow",
            0,
            [e.event_id for e in held],
            ["held"],
            [1],
            [b"x"],
            [b""],
            [held[0].timestamp],
            pg_store._lock_key,
            pg_store.channel,
        )
        assert row is not None
        assert row["ok"]
        held_position = row["last_position"]
        fast = asyncio.create_task(pg_store.append("fast", batch(2, "fast"), NO_STREAM))

        async def fast_waits_for_the_lock() -> bool:
            async with postgres_pool.acquire() as probe:
                waiting = await probe.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
            return bool(waiting)

        await eventually(fast_waits_for_the_lock, what="the second append waits for the commit-order lock")
        assert not fast.done()
        assert seen == [1, 2]  # nothing past the uncommitted position is visible
        await transaction.commit()
    result = await fast
    assert result.position == held_position + 2  # numbered after the held one, committed after it
    await asyncio.wait_for(follower, 10)
    assert seen == [1, 2, 3, 4, 5]


async def test_without_the_lock_a_follower_really_would_skip(
    postgres_pool: asyncpg.Pool, postgres_schema: PostgresSchema
) -> None:
    """Control: the scenario above, against a plain ``bigserial`` log, loses an event for a follower."""
    table = f'"{postgres_schema.name}".naive_{uuid.uuid4().hex[:8]}'
    async with postgres_pool.acquire() as conn:
        await conn.execute(f"CREATE TABLE {table} (position bigserial PRIMARY KEY, body text)")
    try:
        async with (
            postgres_pool.acquire() as slow,
            postgres_pool.acquire() as fast,
            postgres_pool.acquire() as reader,
        ):
            transaction = slow.transaction()
            await transaction.start()
            await slow.execute(f"INSERT INTO {table} (body) VALUES ('earlier number')")  # noqa: S608
            await fast.execute(f"INSERT INTO {table} (body) VALUES ('later number, committed first')")  # noqa: S608
            first_read = await reader.fetch(
                f"SELECT position FROM {table} WHERE position > 0 ORDER BY position"  # noqa: S608
            )
            checkpoint = first_read[-1]["position"]
            await transaction.commit()
            second_read = await reader.fetch(
                f"SELECT position FROM {table} WHERE position > $1 ORDER BY position",  # noqa: S608
                checkpoint,
            )
        assert [r["position"] for r in first_read] == [2]
        assert second_read == []  # position 1 committed later and is never delivered: the classic gap bug
    finally:
        async with postgres_pool.acquire() as conn:
            await conn.execute(f"DROP TABLE {table}")


async def test_eight_writers_racing_on_one_stream_lose_and_duplicate_nothing(
    pg_store: PostgresEventStore,
) -> None:
    await pg_store.append("race", batch(1), NO_STREAM)
    first_round = await asyncio.gather(
        *(pg_store.append("race", batch(2), 1) for _ in range(8)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in first_round) == 1
    losers = [r for r in first_round if isinstance(r, BaseException)]
    assert all(isinstance(r, ConcurrencyError) and r.expected == 1 and r.actual == 3 for r in losers), losers

    written: list[uuid.UUID] = []
    conflicts: list[tuple[int, object, int]] = []

    async def writer(rounds: int) -> None:
        done = 0
        while done < rounds:
            current = (await pg_store.read("race"))[-1].version
            events = batch(1 + done % 3)
            try:
                await pg_store.append("race", events, current)
            except ConcurrencyError as exc:
                conflicts.append((current, exc.expected, exc.actual))
                continue
            written.extend(e.event_id for e in events)
            done += 1

    await asyncio.gather(*(writer(5) for _ in range(8)))
    assert all(expected == current and actual > current for current, expected, actual in conflicts)
    stored = await pg_store.read("race")
    assert [e.version for e in stored] == list(range(1, len(stored) + 1))
    assert [e.event_id for e in stored[3:]] == written or sorted(e.event_id for e in stored[3:]) == sorted(
        written
    )
    assert len({e.event_id for e in stored}) == len(stored) == 3 + len(written)


async def test_ten_writers_and_a_follower_see_every_event_once_in_order(pg_store: PostgresEventStore) -> None:
    delivered: list[RecordedEvent] = []

    async def handle(record: RecordedEvent) -> None:
        delivered.append(record)

    follower = Subscription(
        pg_store, handle, name="follower", checkpoints=pg_store, batch_size=17, poll_interval=0.2
    )
    follower.start()
    appended: set[uuid.UUID] = set()

    async def writer(n: int) -> None:
        version: Any = NO_STREAM
        for round_ in range(12):
            events = batch(1 + (n + round_) % 4)
            version = (await pg_store.append(f"w-{n}", events, version)).version
            appended.update(e.event_id for e in events)

    await asyncio.gather(*(writer(n) for n in range(10)))

    async def caught_up() -> bool:
        return len(delivered) >= len(appended)

    await eventually(caught_up, what="the follower caught up")
    await follower.aclose()
    assert not follower.running
    positions = [r.position for r in delivered]
    assert positions == list(range(1, len(appended) + 1))  # every position, once, in order: no gap
    assert {r.event_id for r in delivered} == appended
    for n in range(10):
        versions = [r.version for r in delivered if r.stream_id == f"w-{n}"]
        assert versions == list(range(1, len(versions) + 1))
    assert await pg_store.load_checkpoint("follower") == positions[-1]


async def test_listen_notify_wakes_a_waiting_subscriber(pg_store: PostgresEventStore) -> None:
    assert await pg_store.wait_for_events(0, 0.01) is True  # the first call starts listening
    assert await pg_store.wait_for_events(0, 0.05) is False
    waiter = asyncio.create_task(pg_store.wait_for_events(0, 30))
    await asyncio.sleep(0.05)
    result = await pg_store.append("n", batch(3), NO_STREAM)
    assert await asyncio.wait_for(waiter, 10) is True
    assert await pg_store.wait_for_events(result.position - 1, 0.01) is True


async def test_the_listener_survives_its_connection_being_killed(
    pg_store: PostgresEventStore, postgres_pool: asyncpg.Pool
) -> None:
    await pg_store.wait_for_events(0, 0.01)
    listener = pg_store._listener
    assert listener is not None
    async with postgres_pool.acquire() as admin:
        await admin.execute("SELECT pg_terminate_backend($1)", listener.get_server_pid())

    # The loss wakes or times out a wait; the next wait listens again, and notifications arrive.
    async def listening_again() -> bool:
        await pg_store.wait_for_events(10**9, 0.01)
        return pg_store._listener not in (None, listener) and not pg_store._listener_lost

    await eventually(listening_again, what="listening again")
    waiter = asyncio.create_task(pg_store.wait_for_events(0, 30))
    await asyncio.sleep(0.05)
    await pg_store.append("n2", batch(1), NO_STREAM)
    assert await asyncio.wait_for(waiter, 10) is True


async def test_a_stopped_server_is_unavailable_then_recovers(postgres_server: PostgresServer) -> None:
    store = await PostgresEventStore.connect(postgres_server.dsn, min_size=1, max_size=2)
    try:
        await store.create_schema()
        await store.append("s", batch(1), NO_STREAM)
        postgres_server.stop()
        with pytest.raises(EventSourcingUnavailableError) as info:
            await store.append("s", batch(1), 1)
        assert isinstance(info.value, ConnectionError)
        postgres_server.start()

        async def appends() -> bool:
            try:
                await store.append("s", batch(1), ANY)
            except EventSourcingUnavailableError:
                return False
            return True

        await eventually(appends, what="appending after the restart")
        assert [e.version for e in await store.read("s")] == [1, 2]
    finally:
        await store.aclose()


async def test_a_subscription_rides_out_a_server_restart(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = await PostgresEventStore.connect(postgres_server.dsn, min_size=1, max_size=3)
    delivered: list[int] = []

    async def handle(record: RecordedEvent) -> None:
        delivered.append(record.position)

    async def delivered_count(n: int) -> bool:
        return len(delivered) >= n

    try:
        await store.create_schema()
        follower = Subscription(store, handle, name="f", checkpoints=store, poll_interval=0.05)
        follower.start()
        await store.append("s", batch(2), NO_STREAM)
        await eventually(lambda: delivered_count(2), what="the first events delivered")
        postgres_server.stop()

        async def warned() -> bool:
            assert follower.running
            assert follower.crashes == 0, "the outage was not ridden out inside the run"
            return "cannot reach the store" in caplog.text

        await eventually(warned, what="the subscription noticed the outage")
        postgres_server.start()

        async def appends() -> bool:
            try:
                await store.append("s", batch(2), 2)
            except EventSourcingUnavailableError:
                return False
            return True

        await eventually(appends, what="appending after the restart")
        await eventually(
            lambda: delivered_count(4), what="the events after the restart delivered", timeout=15
        )
        await follower.aclose()
        assert delivered == [1, 2, 3, 4]
    finally:
        await store.aclose()


async def test_connect_to_a_dead_address_is_unavailable_and_redacted() -> None:
    with pytest.raises(EventSourcingUnavailableError) as info:
        await PostgresEventStore.connect("postgresql://app:hunter2@127.0.0.1:1/db", min_size=1, max_size=1)
    assert "hunter2" not in str(info.value)


async def test_bad_store_arguments_are_rejected(postgres_pool: asyncpg.Pool) -> None:
    with pytest.raises(EventSourcingTypeError, match="pool"):
        PostgresEventStore("postgresql://x")  # type: ignore[arg-type]
    with pytest.raises(EventSourcingConfigurationError, match="table"):
        PostgresEventStore(postgres_pool, table="Bad-Name")
    with pytest.raises(EventSourcingConfigurationError, match="table"):
        PostgresEventStore(postgres_pool, table='x"; DROP TABLE y; --.events')
    with pytest.raises(EventSourcingConfigurationError, match="table"):
        PostgresEventStore(postgres_pool, table="a" * 41)
    with pytest.raises(EventSourcingTypeError, match="table"):
        PostgresEventStore(postgres_pool, table=7)  # type: ignore[arg-type]
    with pytest.raises(EventSourcingTypeError, match="notify"):
        PostgresEventStore(postgres_pool, notify="yes")  # type: ignore[arg-type]
    with pytest.raises(EventSourcingConfigurationError, match="max_size"):  # core's check_pool_size
        await PostgresEventStore.connect("postgresql://127.0.0.1:1/db", max_size="10")  # type: ignore[arg-type]
    with pytest.raises(EventSourcingConfigurationError, match="min_size"):
        await PostgresEventStore.connect("postgresql://127.0.0.1:1/db", min_size=3, max_size=2)


async def test_a_borrowed_pool_stays_open_and_an_owned_one_is_closed(
    postgres_pool: asyncpg.Pool, postgres_schema: PostgresSchema, postgres_table: str
) -> None:
    async with PostgresEventStore(pool=postgres_pool, table=postgres_table) as borrowed:
        assert borrowed.pool is postgres_pool
    assert borrowed.closed
    assert not postgres_pool.is_closing()
    owned = await PostgresEventStore.connect(
        postgres_schema.dsn, table=postgres_table, server_settings=postgres_schema.server_settings
    )
    async with owned:
        await owned.create_schema()
        await owned.append("s", batch(1), NO_STREAM)
    assert owned.pool.is_closing()
    await owned.aclose()  # idempotent


async def test_connect_prepares_the_append_on_each_connection_and_never_on_a_borrowed_pool(
    postgres_pool: asyncpg.Pool, postgres_schema: PostgresSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each connection `connect`'s pool opens prepares the append once; the application's pool, never."""
    prepared: list[int] = []  # the server pid of each connection that prepared the append
    real_prepare = asyncpg.connection.Connection.prepare
    table = fresh_table()

    async def prepare(conn: asyncpg.Connection, query: str, **options: Any) -> Any:
        statement = await real_prepare(conn, query, **options)
        if query == PostgresEventStore(postgres_pool, table=table)._append_sql:
            prepared.append(conn.get_server_pid())  # only once the server accepted it
        return statement

    monkeypatch.setattr(asyncpg.connection.Connection, "prepare", prepare)
    settings = postgres_schema.server_settings
    # Before create_schema there is nothing to prepare: the pool opens all the same.
    early = await PostgresEventStore.connect(
        postgres_schema.dsn, table=table, min_size=1, max_size=1, server_settings=settings
    )
    async with early:
        assert prepared == []
        await early.create_schema()  # its connection prepares what its init could not
        async with early.pool.acquire() as conn:
            assert prepared == [conn.get_server_pid()]
    prepared.clear()
    owned = await PostgresEventStore.connect(
        postgres_schema.dsn, table=table, min_size=2, max_size=3, server_settings=settings
    )
    async with owned:
        assert len(set(prepared)) == 2
        await owned.append("s", batch(1), NO_STREAM)
        async with owned.pool.acquire() as a, owned.pool.acquire() as b, owned.pool.acquire() as c:
            pids = {a.get_server_pid(), b.get_server_pid(), c.get_server_pid()}
        assert sorted(prepared) == sorted(pids)  # the third, opened as the pool grew, prepared too
    prepared.clear()
    borrowed = PostgresEventStore(postgres_pool, table=table)
    await borrowed.create_schema()
    await borrowed.append("s", batch(1), 1)
    assert prepared == []
    assert [e.version for e in await borrowed.read("s")] == [1, 2]


async def test_a_schema_qualified_table_names_every_object_after_it(
    postgres_pool: asyncpg.Pool, postgres_schema: PostgresSchema
) -> None:
    schema = f"{postgres_schema.name}_q"
    store = PostgresEventStore(postgres_pool, table=f"{schema}.orders")
    assert store.table == f"{schema}.orders"
    assert store.events_table == f'"{schema}"."orders"'
    assert store.snapshots_table == f'"{schema}"."orders_snapshots"'
    assert store.checkpoints_table == f'"{schema}"."orders_checkpoints"'
    try:
        await store.create_schema()  # creates the schema too
        await store.append("s", batch(2), NO_STREAM)
        await store.save_checkpoint("sub", 2)
        async with postgres_pool.acquire() as conn:
            names = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        assert sorted(r["table_name"] for r in names) == [
            "orders",
            "orders_checkpoints",
            "orders_snapshots",
        ]
    finally:
        async with postgres_pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_create_schema_is_idempotent_and_concurrent_safe(
    postgres_pool: asyncpg.Pool, postgres_table: str
) -> None:
    store = PostgresEventStore(postgres_pool, table=postgres_table)
    await asyncio.gather(store.create_schema(), store.create_schema())
    await store.create_schema()
    await store.append("s", batch(1), NO_STREAM)
    await store.drop_schema()


async def test_the_repository_on_postgres_with_snapshots_and_a_corrupted_row(
    pg_store: PostgresEventStore,
) -> None:
    accounts = Repository(Account, pg_store, account_codec(), snapshots=pg_store)
    account = Account.open("pg-acc", "ada")
    for n in range(30):
        account.deposit(Decimal(n))
    await accounts.save(account)
    await accounts.take_snapshot(account)
    account.withdraw(Decimal(5))
    await accounts.save(account)
    assert (await accounts.load("pg-acc")).snapshot_state() == account.snapshot_state()
    snapshot, tail = await pg_store.read_with_snapshot("pg-acc")
    assert snapshot is not None
    assert (snapshot.version, snapshot.aggregate_type) == (31, "Account")
    assert [e.version for e in tail] == [31, 32]  # the snapshot's own last event, then the tail
    assert snapshot.last_event_id == tail[0].event_id
    assert await pg_store.read_with_snapshot("nobody") == (None, [])
    async with pg_store.transaction() as conn:
        await conn.execute(
            f"UPDATE {pg_store.snapshots_table} SET state = set_byte(state, 3, get_byte(state, 3) # 1)"  # noqa: S608
        )
    loaded = await accounts.load("pg-acc")
    assert loaded.balance == Decimal(430)
    assert loaded.version == 32
    assert accounts.snapshot_integrity_failures == 1
    # The server saw the damage too, and sent the whole stream with the snapshot: no second round trip.
    damaged, everything = await pg_store.read_with_snapshot("pg-acc")
    assert damaged is not None
    assert [e.version for e in everything] == list(range(1, 33))
    strict = Repository(Account, pg_store, account_codec(), snapshots=pg_store, strict_snapshots=True)
    with pytest.raises(SnapshotIntegrityError):
        await strict.load("pg-acc")


# Projections -----------------------------------------------------------------------------------


class Totals:
    """Counts deposits per stream; a double application would show in ``applied``."""

    def __init__(
        self, table: str, on_apply: Callable[[PoolConnectionProxy[Any]], Awaitable[None]] | None = None
    ):
        self.name = f"totals:{table}"
        self.table = table
        self.on_apply = on_apply

    async def setup(self, conn: PoolConnectionProxy[Any]) -> None:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (stream_id text PRIMARY KEY, applied int NOT NULL)"
        )

    async def apply(self, conn: PoolConnectionProxy[Any], event: RecordedEvent) -> None:
        await conn.execute(
            f"INSERT INTO {self.table} VALUES ($1, 1) ON CONFLICT (stream_id) "  # noqa: S608
            f"DO UPDATE SET applied = {self.table}.applied + 1",
            event.stream_id,
        )
        if self.on_apply is not None:
            await self.on_apply(conn)

    async def reset(self, conn: PoolConnectionProxy[Any]) -> None:
        await conn.execute(f"TRUNCATE {self.table}")


async def applied(store: PostgresEventStore, table: str) -> dict[str, int]:
    async with store.transaction() as conn:
        return {r["stream_id"]: r["applied"] for r in await conn.fetch(f"SELECT * FROM {table}")}  # noqa: S608


async def test_a_projection_applies_each_event_once_and_rebuilds(pg_store: PostgresEventStore) -> None:
    table = f"{pg_store.table}_totals"
    runner = PostgresProjectionRunner(pg_store, Totals(table), batch_size=4)
    await runner.setup()
    for n in range(3):
        await pg_store.append(f"p-{n}", batch(5 + n), NO_STREAM)
    assert await runner.catch_up() == 18
    assert await runner.catch_up() == 0
    assert await applied(pg_store, table) == {"p-0": 5, "p-1": 6, "p-2": 7}
    assert await runner.position() == 18
    assert await runner.rebuild() == 18
    assert await applied(pg_store, table) == {"p-0": 5, "p-1": 6, "p-2": 7}


async def test_a_crash_between_write_and_checkpoint_applies_nothing_twice(
    pg_store: PostgresEventStore, postgres_pool: asyncpg.Pool
) -> None:
    """The projection's connection is killed after its writes, before the commit that holds the checkpoint."""
    table = f"{pg_store.table}_crash"
    calls = 0

    async def crash_on_the_seventh(conn: PoolConnectionProxy[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 7:
            async with postgres_pool.acquire() as admin:
                await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())

    await pg_store.append("c-1", batch(10), NO_STREAM)
    crashing = PostgresProjectionRunner(pg_store, Totals(table, crash_on_the_seventh), batch_size=5)
    await crashing.setup()
    with pytest.raises((EventSourcingUnavailableError, asyncpg.PostgresError)):
        await crashing.catch_up()
    assert await applied(pg_store, table) == {"c-1": 5}  # the first page committed; the second rolled back
    assert await crashing.position() == 5
    restarted = PostgresProjectionRunner(pg_store, Totals(table), batch_size=5)
    assert await restarted.catch_up() == 5
    assert await applied(pg_store, table) == {"c-1": 10}


async def test_two_runners_of_one_projection_take_turns(pg_store: PostgresEventStore) -> None:
    table = f"{pg_store.table}_twins"
    for n in range(4):
        await pg_store.append(f"t-{n}", batch(25), NO_STREAM)
    first = PostgresProjectionRunner(pg_store, Totals(table), batch_size=7)
    second = PostgresProjectionRunner(pg_store, Totals(table), batch_size=7)
    await first.setup()
    counts = await asyncio.gather(first.catch_up(), second.catch_up())
    assert sum(counts) == 100
    assert await applied(pg_store, table) == {f"t-{n}": 25 for n in range(4)}


async def test_a_running_projection_follows_new_events(pg_store: PostgresEventStore) -> None:
    table = f"{pg_store.table}_live"
    runner = PostgresProjectionRunner(pg_store, Totals(table), poll_interval=5)
    await runner.setup()
    runner.start()
    try:
        with pytest.raises(EventSourcingConfigurationError, match="running"):
            runner.start()
        await pg_store.append("live", batch(3), NO_STREAM)

        async def projected() -> bool:
            return (await applied(pg_store, table)).get("live") == 3

        await eventually(projected, what="the notified projection applied the events")
    finally:
        await runner.aclose()
        assert not runner.running


async def test_a_failing_projection_is_retried_and_applies_each_event_once(
    pg_store: PostgresEventStore,
) -> None:
    """Under `start`, a projection's exception rolls its page back and the page is applied again."""
    table = f"{pg_store.table}_retry"
    failed: list[bool] = []

    async def fail_once(conn: PoolConnectionProxy[Any]) -> None:
        if not failed:
            failed.append(True)
            raise RuntimeError("the read model refused")

    await pg_store.append("r-1", batch(6), NO_STREAM)
    async with PostgresProjectionRunner(pg_store, Totals(table, fail_once), batch_size=4) as runner:
        await runner.setup()
        runner.start()

        async def projected() -> bool:
            return (await applied(pg_store, table)).get("r-1") == 6

        await eventually(projected, what="the retried projection applied every event", timeout=15)
        assert runner.crashes == 1
    assert await applied(pg_store, table) == {"r-1": 6}
    assert await runner.position() == 6


def test_bad_runner_arguments_are_rejected(pg_store: PostgresEventStore) -> None:
    from buttress.event_sourcing import MemoryEventStore  # noqa: PLC0415

    with pytest.raises(EventSourcingTypeError, match="store"):
        PostgresProjectionRunner(MemoryEventStore(), Totals("x"))  # type: ignore[arg-type]
    with pytest.raises(EventSourcingTypeError, match="projection"):
        PostgresProjectionRunner(pg_store, object())  # type: ignore[arg-type]
    with pytest.raises(EventSourcingConfigurationError, match="batch_size"):
        PostgresProjectionRunner(pg_store, Totals("x"), batch_size=0)
