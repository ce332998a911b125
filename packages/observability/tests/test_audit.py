"""Audit entries (Properties 8 and 9), the memory sink, the hash chain, the PostgreSQL sink for real."""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.observability import (
    GENESIS_HASH,
    AuditEntry,
    AuditEntryError,
    AuditFilter,
    AuditIntegrityError,
    MemoryAuditSink,
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    ObservabilityUnavailableError,
    PostgresAuditSink,
    chain_hash,
    verify_chain,
)
from buttress.observability._request_id import _Binding
from buttress.testing import PostgresSchema, PostgresServer, RecordedMetrics

TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=30)
# an outcome holds at most 64 bytes of UTF-8 (30 characters of four bytes are 120)
OUTCOMES = TEXT.filter(lambda text: len(text.encode()) <= 64)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=10,
)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
TIMES = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1), timezones=ZONES)
ENTRIES = st.builds(
    AuditEntry.create,
    TEXT,
    TEXT,
    TEXT,
    outcome=OUTCOMES,
    details=st.dictionaries(TEXT, JSON, max_size=4),
    timestamp=TIMES,
    request_id=st.none() | TEXT,
)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@given(ENTRIES)
def test_property_8_dict_round_trip(entry: AuditEntry) -> None:
    """Property 8: Audit entry serialisation round trip: from_dict(to_dict(e)) == e, and back."""
    data = entry.to_dict()
    again = AuditEntry.from_dict(data)
    assert again == entry
    assert again.to_dict() == data


@given(ENTRIES)
def test_property_9_timestamps_are_utc(entry: AuditEntry) -> None:
    """Property 9: Audit timestamps are UTC, whatever zone they were given in, and name the same instant."""
    assert entry.timestamp.tzinfo is UTC
    assert entry.to_dict()["timestamp"].endswith("+00:00")


@given(TIMES)
def test_property_9_an_aware_time_keeps_its_instant(moment: datetime) -> None:
    entry = AuditEntry.create("a", "b", "c", timestamp=moment)
    assert entry.timestamp == moment
    assert entry.timestamp.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(AuditEntryError):
        AuditEntry.create("a", "b", "c", timestamp=datetime(2026, 1, 1))
    with pytest.raises(AuditEntryError):
        AuditEntry.from_dict(
            {"id": "x", "timestamp": "2026-01-01T00:00:00", "actor": "a", "action": "b", "resource": "c"}
        )


@pytest.mark.parametrize(
    "data",
    [
        {"id": "x", "timestamp": "2026-01-01T00:00:00Z", "actor": "a", "action": "b"},
        {"id": "x", "timestamp": "yesterday", "actor": "a", "action": "b", "resource": "c"},
        {
            "id": "x",
            "timestamp": "2026-01-01T00:00:00Z",
            "actor": "a",
            "action": "b",
            "resource": "c",
            "extra": 1,
        },
        {"id": "x", "timestamp": "2026-01-01T00:00:00Z", "actor": "", "action": "b", "resource": "c"},
        {
            "id": "x",
            "timestamp": "2026-01-01T00:00:00Z",
            "actor": "a",
            "action": "b",
            "resource": "c",
            "details": {"f": float("nan")},
        },
        {
            "id": "x",
            "timestamp": "2026-01-01T00:00:00Z",
            "actor": "a",
            "action": "b",
            "resource": "c",
            "hash": "zz",
        },
    ],
)
def test_invalid_dicts_are_typed_errors(data: dict[str, object]) -> None:
    with pytest.raises(AuditEntryError):
        AuditEntry.from_dict(data)


@pytest.mark.parametrize(
    ("name", "limit"), [("actor", 256), ("action", 128), ("resource", 512), ("outcome", 64)]
)
def test_text_fields_are_limited_in_utf8_bytes(name: str, limit: int) -> None:
    fields = {"actor": "a", "action": "b", "resource": "c", "outcome": "ok"}
    wide = "\U00010000"  # four bytes in UTF-8
    AuditEntry.create(**{**fields, name: wide * (limit // 4)})  # type: ignore[arg-type]
    with pytest.raises(AuditEntryError, match=f"at most {limit} bytes"):
        AuditEntry.create(**{**fields, name: wide * (limit // 4) + "x"})  # type: ignore[arg-type]


def test_details_must_be_json_data() -> None:
    with pytest.raises(ObservabilityTypeError):
        AuditEntry.create("a", "b", "c", details={"when": datetime.now(UTC)})
    with pytest.raises(ObservabilityTypeError):
        AuditEntry.create("a", "b", "c", details={1: "x"})  # type: ignore[dict-item]


def test_create_binds_the_current_request_id() -> None:
    binding = _Binding("req-9")
    try:
        assert AuditEntry.create("a", "b", "c").request_id == "req-9"
    finally:
        binding.reset()
    assert AuditEntry.create("a", "b", "c").request_id is None


async def test_the_memory_sink_is_bounded_and_keeps_the_newest(metric_reader: RecordedMetrics) -> None:
    sink = MemoryAuditSink(max_entries=3)
    entries = [
        await sink.append(AuditEntry.create("a", "x", "r", timestamp=T0 + timedelta(seconds=i)))
        for i in range(5)
    ]
    assert len(sink) == 3
    assert [e.id for e in await sink.query()] == [e.id for e in entries[2:]]
    assert metric_reader.value("buttress.observability.audit.entries", {"audit.sink": "memory"}) == 5


async def test_a_chained_memory_sink_detects_edits_deletions_and_insertions() -> None:
    sink = MemoryAuditSink(chain=True)
    for i in range(5):
        await sink.append(AuditEntry.create("a", "x", "r", timestamp=T0 + timedelta(seconds=i)))
    assert await sink.verify() == 5
    chain = list(sink._entries)
    assert chain[0].previous_hash == GENESIS_HASH
    assert all(e.hash == chain_hash(e) for e in chain)
    edited = [*chain[:2], replace(chain[2], actor="mallory"), *chain[3:]]
    with pytest.raises(AuditIntegrityError) as caught:
        verify_chain(edited)
    assert caught.value.sequence == 3
    deleted = [*chain[:2], *chain[3:]]
    with pytest.raises(AuditIntegrityError) as caught:
        verify_chain(deleted)
    assert caught.value.sequence == 4
    forged = link_forged(chain)
    with pytest.raises(AuditIntegrityError):
        verify_chain(forged)


def link_forged(chain: list[AuditEntry]) -> list[AuditEntry]:
    """An entry inserted with a self-consistent hash but the wrong place in the chain."""
    intruder = AuditEntry.create("mallory", "x", "r", timestamp=T0)
    intruder = replace(intruder, sequence=3, previous_hash=chain[1].hash)
    intruder = replace(intruder, hash=chain_hash(intruder))
    return [*chain[:2], intruder, *chain[2:]]


@given(st.lists(st.integers(0, 10), min_size=1, max_size=8), st.data())
def test_any_single_tampering_is_detected(offsets: list[int], data: st.DataObject) -> None:
    """Property: in a chain, editing any field of any entry, or deleting any entry but the last, is found."""
    sink = MemoryAuditSink(chain=True)
    for offset in offsets:
        asyncio.run(sink.append(AuditEntry.create("a", "x", "r", timestamp=T0 + timedelta(minutes=offset))))
    chain = list(sink._entries)
    index = data.draw(st.integers(0, len(chain) - 1))
    how = data.draw(
        st.sampled_from(["actor", "action", "resource", "outcome", "timestamp", "details", "delete"])
    )
    if how == "delete":
        if index == len(chain) - 1:
            return  # dropping the tail is only found against a stored length or an external anchor
        tampered = chain[:index] + chain[index + 1 :]
        if index == 0:
            with pytest.raises(AuditIntegrityError):
                verify_chain(tampered, previous=None) if tampered[0].sequence == 1 else _start_at_one(
                    tampered
                )
            return
    else:
        changes: dict[str, object] = {
            "timestamp": chain[index].timestamp + timedelta(seconds=1),
            "details": {"edited": True},
        }
        value = changes.get(how, f"{getattr(chain[index], how)}!")
        tampered = [*chain[:index], replace(chain[index], **{how: value}), *chain[index + 1 :]]
    with pytest.raises(AuditIntegrityError):
        verify_chain(tampered)


def _start_at_one(entries: list[AuditEntry]) -> None:
    if entries[0].sequence != 1:
        raise AuditIntegrityError(entries[0].sequence or 0, "the chain does not start at 1")
    verify_chain(entries)


# --- PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture
async def sink(postgres_pool: asyncpg.Pool, postgres_table: str) -> PostgresAuditSink:
    made = PostgresAuditSink(postgres_pool, table=postgres_table, chain=True)
    await made.create_schema()
    await made.create_schema()  # idempotent
    return made


async def test_the_table_is_append_only(sink: PostgresAuditSink, postgres_pool: asyncpg.Pool) -> None:
    await sink.append(AuditEntry.create("a", "x", "r"))
    for statement in (
        f"UPDATE {sink.table.sql} SET actor = 'mallory'",  # noqa: S608
        f"DELETE FROM {sink.table.sql}",  # noqa: S608
        f"TRUNCATE {sink.table.sql}",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await postgres_pool.execute(statement)
    assert len(await sink.query()) == 1


async def _tamper(pool: asyncpg.Pool, table: str, statement: str) -> None:
    """What a superuser (or a restored backup) can do behind the sink's back: bypass the trigger."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        await connection.execute(statement)
        await connection.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.mark.parametrize(
    ("statement", "sequence"),
    [
        ("UPDATE {t} SET actor = 'mallory' WHERE sequence = 3", 3),
        ("UPDATE {t} SET details = '{{\"amount\": 1}}'::jsonb WHERE sequence = 2", 2),
        ("UPDATE {t} SET timestamp = timestamp + interval '1 second' WHERE sequence = 4", 4),
        ("DELETE FROM {t} WHERE sequence = 3", 4),
        ("DELETE FROM {t} WHERE sequence = 1", 2),
        ("UPDATE {t} SET sequence = NULL WHERE sequence = 5", 0),
    ],
)
async def test_tampering_through_sql_is_detected(
    sink: PostgresAuditSink, postgres_pool: asyncpg.Pool, statement: str, sequence: int
) -> None:
    for i in range(5):
        await sink.append(
            AuditEntry.create(f"user:{i}", "order.refund", "order:1", details={"amount": 10 + i})
        )
    assert await sink.verify(batch=2) == 5
    await _tamper(postgres_pool, sink.table.sql, statement.format(t=sink.table.sql))
    with pytest.raises(AuditIntegrityError) as caught:
        await sink.verify(batch=2)
    assert caught.value.sequence == sequence


async def test_concurrent_chained_appends_form_one_chain(sink: PostgresAuditSink) -> None:
    entries = [AuditEntry.create(f"user:{i}", "login", "session") for i in range(30)]
    await asyncio.gather(*(sink.append(entry) for entry in entries))
    assert await sink.verify() == 30


async def test_filters_use_the_indexes(sink: PostgresAuditSink, postgres_pool: asyncpg.Pool) -> None:
    async with postgres_pool.acquire() as connection:
        await connection.execute("SET enable_seqscan = off")
        for column in ("actor", "action", "resource"):
            plan = await connection.fetchval(
                f"EXPLAIN SELECT * FROM {sink.table.sql} WHERE {column} = 'x' AND timestamp >= now()"  # noqa: S608
            )
            assert f"{sink.table.name}_{column}_time" in plan


async def test_a_duplicate_id_is_a_typed_error(sink: PostgresAuditSink) -> None:
    entry = AuditEntry.create("a", "x", "r")
    await sink.append(entry)
    with pytest.raises(ObservabilityConfigurationError):
        await sink.append(replace(entry, sequence=None, previous_hash=None, hash=None))


async def test_connect_owns_its_pool_and_the_server_gone_is_unavailable(
    postgres_server: PostgresServer,
) -> None:
    table = f"audit_{uuid.uuid4().hex[:10]}"
    sink = await PostgresAuditSink.connect(postgres_server.dsn, table=table, chain=True, max_size=2)
    async with sink:
        assert sink.owns_pool
        await sink.create_schema()
        await sink.append(AuditEntry.create("a", "x", "r"))
        postgres_server.kill()
        with pytest.raises(ObservabilityUnavailableError):
            await sink.append(AuditEntry.create("a", "x", "r"))
        with pytest.raises(ObservabilityUnavailableError):
            await sink.query(AuditFilter(actor="a"))


async def test_bad_arguments_are_typed_errors(postgres_pool: asyncpg.Pool) -> None:
    with pytest.raises(ObservabilityConfigurationError):
        PostgresAuditSink(postgres_pool, table="Robert'); DROP TABLE x;--")
    with pytest.raises(ObservabilityTypeError):
        PostgresAuditSink(object(), table="audit")  # type: ignore[arg-type]
    with pytest.raises(ObservabilityTypeError):
        await MemoryAuditSink().append({"actor": "a"})  # type: ignore[arg-type]
    with pytest.raises(AuditEntryError):
        AuditFilter(since=T0, until=T0 - timedelta(seconds=1))
    with pytest.raises(AuditEntryError):
        AuditFilter(since=datetime(2026, 1, 1))


WRITER = """
import asyncio, sys
from buttress.observability import AuditEntry, PostgresAuditSink

async def main(dsn, table, name):
    async with await PostgresAuditSink.connect(dsn, table=table, chain=True, max_size=3) as sink:
        await asyncio.gather(*(sink.append(AuditEntry.create(name, "write", str(i))) for i in range(15)))

asyncio.run(main(*sys.argv[1:]))
"""


async def test_writers_in_several_processes_keep_one_chain(postgres_schema: PostgresSchema) -> None:
    """Three processes append to one chained table at once: every entry kept, one unbroken chain."""
    table = f"{postgres_schema.name}.audit_{uuid.uuid4().hex[:8]}"
    sink = await PostgresAuditSink.connect(postgres_schema.dsn, table=table, chain=True)
    async with sink:
        await sink.create_schema()
        writers = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", WRITER, postgres_schema.dsn, table, f"p{i}"
            )
            for i in range(3)
        ]
        assert [await writer.wait() for writer in writers] == [0, 0, 0]
        assert await sink.verify() == 45
        assert len({e.actor for e in await sink.query()}) == 3


async def test_a_cut_connection_is_unavailable_then_the_sink_recovers(
    postgres_schema: PostgresSchema, postgres_pool: asyncpg.Pool
) -> None:
    """pg_terminate_backend on the sink's connection: one typed error at most, nothing half-written."""
    table = f"{postgres_schema.name}.audit_{uuid.uuid4().hex[:8]}"
    async with await PostgresAuditSink.connect(
        postgres_schema.dsn, table=table, chain=True, max_size=1
    ) as sink:
        await sink.create_schema()
        await sink.append(AuditEntry.create("a", "x", "1"))
        pid = await sink.pool.fetchval("SELECT pg_backend_pid()")
        await postgres_pool.execute("SELECT pg_terminate_backend($1)", pid)
        outcomes = []
        for index in range(2, 4):
            try:
                await sink.append(AuditEntry.create("a", "x", str(index)))
                outcomes.append("kept")
            except ObservabilityUnavailableError:
                outcomes.append("unavailable")
        assert outcomes[-1] == "kept"
        kept = [entry.resource for entry in await sink.query()]
        assert kept == ["1", *[str(i) for i, o in zip(range(2, 4), outcomes, strict=True) if o == "kept"]]
        assert await sink.verify() == len(kept)
