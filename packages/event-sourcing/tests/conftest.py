"""Shared fixtures: a domain to test with, and stores on the per-module PostgreSQL schema."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from buttress.event_sourcing import (
    Aggregate,
    Event,
    EventCodec,
    PostgresEventStore,
    SnapshotRecord,
    applies,
    state_hash,
)

_tables = itertools.count()


@dataclass(frozen=True)
class Opened(Event):
    owner: str


@dataclass(frozen=True)
class Deposited(Event):
    amount: Decimal


@dataclass(frozen=True)
class Withdrawn(Event):
    amount: Decimal
    reference: uuid.UUID | None = None


class Account(Aggregate[str]):
    """A small bank account: enough state to tell replays apart."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner = ""
        self.balance = Decimal(0)
        self.history: list[str] = []

    @classmethod
    def open(cls, id: str, owner: str) -> Account:
        account = cls(id)
        account.trigger(Opened, owner=owner)
        return account

    def deposit(self, amount: Decimal) -> None:
        self.trigger(Deposited, amount=amount)

    def withdraw(self, amount: Decimal) -> None:
        self.trigger(Withdrawn, amount=amount, reference=uuid.uuid4())

    @applies(Opened)
    def _opened(self, event: Opened) -> None:
        self.owner = event.owner

    @applies(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount
        self.history.append(f"+{event.amount}")

    @applies(Withdrawn)
    def _withdrawn(self, event: Withdrawn) -> None:
        self.balance -= event.amount
        self.history.append(f"-{event.amount}")


def snapshot_record(
    stream_id: str,
    version: int,
    last_event_id: uuid.UUID,
    state: bytes = b"{}",
    *,
    aggregate_type: str = "Account",
    schema_version: int = 1,
) -> SnapshotRecord:
    """A snapshot row with the hash a repository would have given it."""
    digest = state_hash(
        state,
        stream_id=stream_id,
        version=version,
        aggregate_type=aggregate_type,
        schema_version=schema_version,
        last_event_id=last_event_id,
    )
    return SnapshotRecord(
        stream_id, version, state, digest, aggregate_type, datetime.now(UTC), schema_version, last_event_id
    )


def account_codec(**options: object) -> EventCodec:
    return EventCodec([Opened, Deposited, Withdrawn], **options)  # type: ignore[arg-type]


@pytest.fixture
def codec() -> EventCodec:
    return account_codec()


def fresh_table() -> str:
    """A table name of its own, where a test cannot take the ``postgres_table`` fixture."""
    return f"t{next(_tables)}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def pg_store(postgres_pool: asyncpg.Pool, postgres_table: str) -> AsyncIterator[PostgresEventStore]:
    store = PostgresEventStore(postgres_pool, table=postgres_table)
    await store.create_schema()
    try:
        yield store
    finally:
        await store.aclose()
        await store.drop_schema()
