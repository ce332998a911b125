"""Both tenant directories pass buttress-testing's TenantDirectoryContract."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import pytest

from buttress.tenancy import MemoryTenantDirectory, PostgresTenantDirectory, Tenant, TenantStatus
from buttress.testing import PostgresSchema, TenantDirectoryContract


def tenants_of(entries: Mapping[str, str]) -> list[Tenant]:
    return [Tenant(tenant_id, TenantStatus(status)) for tenant_id, status in entries.items()]


class TestMemoryTenantDirectory(TenantDirectoryContract):
    async def make_directory(self, tenants: Mapping[str, str]) -> Any:
        return MemoryTenantDirectory(tenants_of(tenants))


@pytest.mark.postgres
class TestPostgresTenantDirectory(TenantDirectoryContract):
    @pytest.fixture(autouse=True)
    def _schema(self, postgres_schema: PostgresSchema) -> None:
        self.schema = postgres_schema

    async def make_directory(self, tenants: Mapping[str, str]) -> Any:
        pool = await asyncpg.create_pool(
            self.schema.dsn, min_size=1, max_size=4, server_settings=self.schema.server_settings
        )
        directory = PostgresTenantDirectory(pool, table=f"tenants_{uuid.uuid4().hex[:12]}")
        await directory.create_schema()
        for tenant in tenants_of(tenants):
            await directory.put(tenant)
        return _Owning(directory, pool)


class _Owning:
    """The directory, closing the pool the test opened for it (the directory borrows it)."""

    def __init__(self, directory: PostgresTenantDirectory, pool: asyncpg.Pool) -> None:
        self.directory = directory
        self.pool = pool

    async def get(self, tenant_id: str) -> Tenant | None:
        return await self.directory.get(tenant_id)

    async def aclose(self) -> None:
        await self.directory.drop_schema()
        await self.pool.close()
