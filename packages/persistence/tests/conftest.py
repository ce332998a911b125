"""The models the tests store, and a DatabaseSession on this module's PostgreSQL schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    MappedAsDataclass,
    mapped_column,
    reconstructor,
    relationship,
)

from buttress.persistence import DatabaseSession
from buttress.testing import PostgresSchema


class Base(MappedAsDataclass, DeclarativeBase):
    pass


class Item(Base):
    """A plain entity: no soft delete, no version."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(collation="C"))
    rank: Mapped[int | None] = mapped_column(default=None)


class Doc(Base):
    """A versioned, soft-deletable entity."""

    __tablename__ = "docs"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    title: Mapped[str]
    score: Mapped[int] = mapped_column(default=0)
    version: Mapped[int | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Note(Base):
    """An entity with a ``@reconstructor``: the repository reads it through the ORM's own loading."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    text: Mapped[str]

    @reconstructor
    def _loaded(self) -> None:
        self.__dict__["loaded_by_orm"] = True


class Moment(Base):
    """Times of both kinds: an aware column (``timestamptz``) and a naive one (``timestamp``, UTC)."""

    __tablename__ = "moments"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    local: Mapped[datetime | None] = mapped_column(DateTime(), default=None)


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(String(collation="C"))


class Row(Base):
    """What the equivalence property stores: nullable int, text and bool, an author and tags."""

    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    a: Mapped[int | None] = mapped_column(default=None)
    b: Mapped[str | None] = mapped_column(String(collation="C"), default=None)
    c: Mapped[bool | None] = mapped_column(default=None)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id"), default=None)
    author: Mapped[Author | None] = relationship(default=None, lazy="raise")
    tags: Mapped[list[Tag]] = relationship(default_factory=list, lazy="raise")


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    row_id: Mapped[int] = mapped_column(ForeignKey("rows.id"))
    label: Mapped[str | None] = mapped_column(String(collation="C"), default=None)


def asyncpg_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture
async def database(postgres_schema: PostgresSchema) -> AsyncIterator[DatabaseSession]:
    """A DatabaseSession around an engine the test owns, on this module's schema, tables emptied after."""
    engine = create_async_engine(
        asyncpg_url(postgres_schema.dsn),
        connect_args={"server_settings": postgres_schema.server_settings},
        pool_size=12,
        max_overflow=4,
    )
    db = DatabaseSession(engine)
    await db.create_all(Base.metadata)
    try:
        yield db
    finally:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
        await db.aclose()
        await engine.dispose()
