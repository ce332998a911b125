"""Both stores pass buttress-testing's `EventStoreContract` and `SnapshotStoreContract`."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from buttress.event_sourcing import (
    ANY,
    NO_STREAM,
    EventData,
    MemoryEventStore,
    PostgresEventStore,
    SnapshotRecord,
    state_hash,
)
from buttress.testing import EventStoreContract, PostgresSchema, SnapshotStoreContract

from .conftest import fresh_table


class _Events:
    no_stream = NO_STREAM
    any_version = ANY

    def make_event(self, stream_id: str, index: int) -> EventData:
        return EventData(uuid.uuid4(), "ContractEvent", f"{stream_id}:{index}".encode())


class TestMemoryEventStore(_Events, EventStoreContract):
    async def make_store(self) -> Any:
        return MemoryEventStore()


@pytest.mark.postgres
class TestPostgresEventStore(_Events, EventStoreContract):
    @pytest.fixture(autouse=True)
    def _schema(self, postgres_schema: PostgresSchema) -> None:
        # The contract closes each store; the module's schema (and every table in it) is dropped after.
        self.schema = postgres_schema

    async def make_store(self) -> Any:
        store = await PostgresEventStore.connect(
            self.schema.dsn, table=f"{self.schema.name}.{fresh_table()}", min_size=1, max_size=10
        )
        await store.create_schema()
        return store


class _Snapshots:
    """Records built as a `Repository` builds them, with `state_hash` over every bound field."""

    def make_snapshot(
        self,
        stream_id: str,
        version: int,
        *,
        state: bytes = b"{}",
        aggregate_type: str = "Thing",
        schema_version: int = 1,
        last_event_id: uuid.UUID | None = None,
    ) -> SnapshotRecord:
        event_id = last_event_id or uuid.uuid4()
        digest = state_hash(
            state,
            stream_id=stream_id,
            version=version,
            aggregate_type=aggregate_type,
            schema_version=schema_version,
            last_event_id=event_id,
        )
        return SnapshotRecord(
            stream_id, version, state, digest, aggregate_type, datetime.now(UTC), schema_version, event_id
        )

    def rehash(self, record: SnapshotRecord) -> str:
        assert record.last_event_id is not None
        return state_hash(
            record.state,
            stream_id=record.stream_id,
            version=record.version,
            aggregate_type=record.aggregate_type,
            schema_version=record.schema_version,
            last_event_id=record.last_event_id,
        )


class TestMemorySnapshotStore(_Snapshots, SnapshotStoreContract):
    async def make_store(self) -> Any:
        return MemoryEventStore()


@pytest.mark.postgres
class TestPostgresSnapshotStore(_Snapshots, SnapshotStoreContract):
    @pytest.fixture(autouse=True)
    def _pool(self, postgres_pool: asyncpg.Pool) -> None:
        self.pool = postgres_pool

    async def make_store(self) -> Any:
        store = PostgresEventStore(pool=self.pool, table=fresh_table())
        await store.create_schema()
        return store


class _Overwriting:
    """A snapshot store that lets the last save win and forgets the schema version."""

    def __init__(self) -> None:
        self.rows: dict[str, SnapshotRecord] = {}

    async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        self.rows[snapshot.stream_id] = dataclasses.replace(snapshot, schema_version=1)

    async def load_snapshot(self, stream_id: str) -> SnapshotRecord | None:
        return self.rows.get(stream_id)


async def test_the_snapshot_suite_catches_a_store_that_breaks_the_rules() -> None:
    suite = TestMemorySnapshotStore()
    with pytest.raises(AssertionError, match="schema_version"):
        await suite.test_schema_version_and_last_event_id_are_kept(_Overwriting())
    with pytest.raises(AssertionError):
        await suite.test_an_earlier_version_never_replaces_an_intact_later_one(_Overwriting())
