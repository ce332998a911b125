"""Our backends pass buttress-testing's suites: PreferenceStoreContract and NotificationOutboxContract.

Each runs on the memory backend and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any

import asyncpg
import pytest

from buttress.notifications import (
    MemoryOutbox,
    MemoryPreferenceStore,
    NotificationsConfigurationError,
    NotificationsTypeError,
    NotificationsUnavailableError,
    PostgresOutbox,
    PostgresPreferenceStore,
    Preferences,
    QuietWindow,
)
from buttress.testing import (
    FakeClock,
    NotificationOutboxContract,
    PostgresSchema,
    PostgresServer,
    PreferenceStoreContract,
)


class Factories:
    def make_preferences(
        self,
        user_id: str,
        *,
        timezone: str = "UTC",
        choices: Mapping[tuple[str, str], bool] | None = None,
        quiet_hours: Sequence[tuple[int, time, time]] = (),
    ) -> Preferences:
        return Preferences(
            user_id, timezone, dict(choices or {}), tuple(QuietWindow(d, s, e) for d, s, e in quiet_hours)
        )


class TestMemoryPreferenceStore(Factories, PreferenceStoreContract):
    async def make_store(self) -> MemoryPreferenceStore:
        return MemoryPreferenceStore()


@pytest.mark.postgres
class TestPostgresPreferenceStore(Factories, PreferenceStoreContract):
    @pytest.fixture(autouse=True)
    def _schema(self, postgres_schema: PostgresSchema, postgres_table: str) -> None:
        self.schema = postgres_schema
        self.table = postgres_table
        self.made = 0

    async def make_store(self) -> PostgresPreferenceStore:
        self.made += 1  # a fresh table for each store the suite makes
        store = await PostgresPreferenceStore.connect(
            self.schema.dsn,
            table=f"{self.table}_{self.made}",
            min_size=1,
            max_size=2,
            server_settings=self.schema.server_settings,
        )
        await store.create_schema()
        return store


class TestMemoryOutbox(NotificationOutboxContract):
    async def make_outbox(self, *, clock: FakeClock) -> MemoryOutbox:
        return MemoryOutbox(clock=clock)


@pytest.mark.postgres
class TestPostgresOutbox(NotificationOutboxContract):
    @pytest.fixture(autouse=True)
    def _schema(self, postgres_schema: PostgresSchema, postgres_table: str) -> None:
        self.schema = postgres_schema
        self.table = postgres_table

    async def make_outbox(self, *, clock: FakeClock) -> PostgresOutbox:
        outbox = await PostgresOutbox.connect(
            self.schema.dsn,
            table=self.table,
            clock=clock,
            min_size=1,
            max_size=self.concurrency,
            server_settings=self.schema.server_settings,
        )
        await outbox.create_schema()
        return outbox


@pytest.mark.postgres
async def test_postgres_store_gone_is_unavailable(postgres_server: PostgresServer) -> None:
    async with await PostgresPreferenceStore.connect(postgres_server.dsn) as store:
        await store.create_schema()
        await store.put(Preferences("u"))
        postgres_server.stop()
        with pytest.raises(NotificationsUnavailableError):
            await store.get("u")


@pytest.mark.postgres
async def test_postgres_store_bad_input(postgres_pool: asyncpg.Pool[Any], postgres_table: str) -> None:
    with pytest.raises(NotificationsConfigurationError, match="table"):
        PostgresPreferenceStore(postgres_pool, table="x; drop table")
    with pytest.raises(NotificationsTypeError, match="pool"):
        PostgresPreferenceStore("postgres://")  # type: ignore[arg-type]
    store = PostgresPreferenceStore(postgres_pool, table=postgres_table)
    with pytest.raises(NotificationsTypeError, match="preferences"):
        await store.put({"user_id": "u"})  # type: ignore[arg-type]
    memory = MemoryPreferenceStore()
    with pytest.raises(NotificationsTypeError, match="preferences"):
        await memory.put({"user_id": "u"})  # type: ignore[arg-type]
