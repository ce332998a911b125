"""Both stores pass buttress-testing's `EventStoreContract`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from buttress.event_sourcing import ANY, NO_STREAM, EventData, MemoryEventStore, PostgresEventStore
from buttress.testing import EventStoreContract, PostgresSchema

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
