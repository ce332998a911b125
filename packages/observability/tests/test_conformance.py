"""The audit sinks pass buttress-testing's AuditLogContract: memory, memory chained, PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from buttress.observability import AuditEntry, AuditFilter, MemoryAuditSink, PostgresAuditSink
from buttress.testing import AuditLogContract


class Entries:
    def make_entry(self, actor: str, action: str, resource: str, timestamp: datetime) -> AuditEntry:
        return AuditEntry.create(actor, action, resource, timestamp=timestamp, details={"n": 1})

    def make_filter(self, **fields: Any) -> AuditFilter:
        return AuditFilter(**fields)


class TestMemoryAuditSink(Entries, AuditLogContract):
    async def make_sink(self) -> Any:
        return MemoryAuditSink()


class TestChainedMemoryAuditSink(Entries, AuditLogContract):
    async def make_sink(self) -> Any:
        return MemoryAuditSink(chain=True)


class TestPostgresAuditSink(Entries, AuditLogContract):
    @pytest.fixture(autouse=True)
    def _pool(self, postgres_pool: asyncpg.Pool) -> None:
        self.pool = postgres_pool

    async def make_sink(self) -> Any:
        sink = PostgresAuditSink(self.pool, table=f"audit_{uuid.uuid4().hex[:12]}", chain=True)
        await sink.create_schema()
        return sink
