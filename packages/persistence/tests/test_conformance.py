"""SqlAlchemyRepository passes buttress-testing's AsyncRepositoryContract on real PostgreSQL and SQLite."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from buttress.persistence import DatabaseSession, SqlAlchemyRepository
from buttress.testing import AsyncRepositoryContract

from .conftest import Doc, Item


class TestPlainRepository(AsyncRepositoryContract):
    @pytest.fixture(autouse=True)
    def _database(self, database: DatabaseSession) -> None:
        self.database = database

    async def make_repository(self) -> Any:
        return SqlAlchemyRepository(self.database, Item)

    def make_entity(self, n: int) -> Any:
        return Item(id=n, name=f"item {n}", rank=n % 3 or None)

    def changed(self, entity: Any) -> Any:
        return dataclasses.replace(entity, name=entity.name + " (changed)")


class TestVersionedSoftDeleteRepository(AsyncRepositoryContract):
    """Soft delete and optimistic locking on: the contract holds all the same."""

    @pytest.fixture(autouse=True)
    def _database(self, database: DatabaseSession) -> None:
        self.database = database

    async def make_repository(self) -> Any:
        return SqlAlchemyRepository(self.database, Doc, soft_delete="deleted_at", version="version")

    def make_entity(self, n: int) -> Any:
        return Doc(id=n, title=f"doc {n}", score=n)

    def changed(self, entity: Any) -> Any:
        return dataclasses.replace(entity, title=entity.title + " (changed)")


class TestSQLiteRepository(TestVersionedSoftDeleteRepository):
    """The embedded default: SQLite through aiosqlite, with soft delete and versions on."""

    @pytest.fixture(autouse=True)
    async def _database(self, tmp_path: Any) -> AsyncIterator[None]:  # type: ignore[override]
        self.database = await DatabaseSession.connect(f"sqlite:///{tmp_path}/contract.db")
        async with self.database.engine.begin() as connection:  # collation "C" is PostgreSQL's
            await connection.run_sync(Doc.__table__.create)
        yield
        await self.database.aclose()
