"""Static checks of the public API (run by mypy --strict, never executed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, assert_type

import asyncpg
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from buttress.core import ASGIApp, AsyncRepository, WSGIApp
from buttress.tenancy import (
    ClaimResolver,
    HeaderResolver,
    MemoryTenantDirectory,
    PostgresTenancy,
    PostgresTenantDirectory,
    SqlAlchemyTenancy,
    Tenant,
    TenantConfig,
    TenantDirectory,
    TenantMiddleware,
    TenantRepository,
    TenantRequest,
    TenantResolver,
    TenantStatus,
    WSGITenantMiddleware,
    check_tenant_id,
    current_tenant,
    policy_statements,
    tenant_safe,
    tenant_scope,
)


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str]


async def context() -> None:
    assert_type(current_tenant(), str)
    assert_type(check_tenant_id("acme"), str)
    with tenant_scope("acme") as tenant:
        assert_type(tenant, str)
    async with tenant_scope("acme") as tenant:
        assert_type(tenant, str)


async def database(pool: asyncpg.Pool, engine: AsyncEngine) -> None:
    assert_type(policy_statements("orders", column_type="uuid"), tuple[str, ...])
    backend = await PostgresTenancy.connect("postgresql://app@db/app", tables=["orders"])
    assert_type(backend, PostgresTenancy)
    assert_type(PostgresTenancy(pool, tables=["orders"]), PostgresTenancy)
    async with backend.transaction() as connection:
        assert_type(connection, Any)
    tenancy = SqlAlchemyTenancy(Base, column="tenant_id")
    assert_type(tenancy.sessionmaker(engine), async_sessionmaker[AsyncSession])
    assert_type(tenancy.session_class, type[Session])
    assert_type(tenancy.models, Mapping[type[Any], str])
    assert_type(tenant_safe(text("SELECT 1")), TextClause)
    await tenancy.check(engine)


class Settings:
    max_users: int = 10

    @classmethod
    def model_validate(cls, obj: object, /) -> Settings:
        return cls()


async def load(tenant_id: str) -> dict[str, object] | None:
    return {}


async def web(app: ASGIApp, wsgi: WSGIApp, pool: asyncpg.Pool) -> None:
    directory: TenantDirectory = MemoryTenantDirectory([Tenant("acme", TenantStatus.SUSPENDED)])
    assert_type(await directory.get("acme"), Tenant | None)
    postgres: TenantDirectory = PostgresTenantDirectory(pool, table="tenants")
    assert_type(await PostgresTenantDirectory.connect("postgresql://db/app"), PostgresTenantDirectory)
    resolver: TenantResolver = HeaderResolver()
    claims: TenantResolver = ClaimResolver(lambda token: {"tenant_id": token})
    assert_type(claims.resolve(TenantRequest("example.com", "/")), str | None)
    assert_type(TenantMiddleware(app, resolver=resolver, directory=postgres), TenantMiddleware)
    assert_type(WSGITenantMiddleware(wsgi, resolver=resolver, directory=directory), WSGITenantMiddleware)
    config = TenantConfig(Settings, load, ttl=60.0)
    assert_type(config, TenantConfig[Settings])
    assert_type(await config.get("acme"), Settings)


class Note:
    def __init__(self, id: int, tenant_id: str) -> None:
        self.id = id
        self.tenant_id = tenant_id


async def repositories(inner: AsyncRepository[Note, int]) -> None:
    notes = TenantRepository(inner)
    assert_type(notes, TenantRepository[Note, int])
    assert_type(await notes.get(1), Note | None)
    assert_type(await notes.list(limit=10), Sequence[Note])
    await notes.add(Note(1, "acme"))
