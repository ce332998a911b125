"""The memory and PostgreSQL preference stores pass buttress-testing's PreferenceStoreContract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any

import asyncpg
import pytest

from buttress.notifications import (
    MemoryPreferenceStore,
    NotificationConfigurationError,
    PostgresPreferenceStore,
    Preferences,
    QuietWindow,
    StoreUnavailableError,
)
from buttress.testing import PostgresSchema, PostgresServer, PreferenceStoreContract

from .conftest import table_prefix


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
    def _schema(self, postgres_schema: PostgresSchema) -> None:
        self.schema = postgres_schema

    async def make_store(self) -> PostgresPreferenceStore:
        store = await PostgresPreferenceStore.connect(
            self.schema.dsn, table_prefix=table_prefix(), server_settings=self.schema.server_settings
        )
        await store.create_schema()
        return store


@pytest.mark.postgres
async def test_postgres_store_gone_is_unavailable(postgres_server: PostgresServer) -> None:
    async with await PostgresPreferenceStore.connect(postgres_server.dsn) as store:
        await store.create_schema()
        await store.put(Preferences("u"))
        postgres_server.stop()
        with pytest.raises(StoreUnavailableError):
            await store.get("u")


@pytest.mark.postgres
async def test_postgres_store_bad_input(pool: asyncpg.Pool[Any]) -> None:
    with pytest.raises(NotificationConfigurationError, match="table_prefix"):
        PostgresPreferenceStore(pool, table_prefix="x; drop table")
    with pytest.raises(NotificationConfigurationError, match="pool"):
        PostgresPreferenceStore("postgres://")  # type: ignore[arg-type]
    store = PostgresPreferenceStore(pool, table_prefix=table_prefix())
    with pytest.raises(NotificationConfigurationError, match="preferences"):
        await store.put({"user_id": "u"})  # type: ignore[arg-type]
    memory = MemoryPreferenceStore()
    with pytest.raises(NotificationConfigurationError, match="preferences"):
        await memory.put({"user_id": "u"})  # type: ignore[arg-type]
