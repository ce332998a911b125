"""Every public entry point of buttress-tenancy, driven with hostile arguments: only typed errors.

Each function, constructor and method in ``buttress.tenancy.__all__`` is called with hostile values
in place of its arguments; anything but a ``ButtressError`` fails. Constants are left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import buttress.tenancy as tenancy
from buttress.tenancy import (
    ClaimResolver,
    CrossTenantError,
    EntityNotFoundError,
    HeaderResolver,
    InvalidTenantSettingsError,
    MemoryTenantDirectory,
    MissingExtraError,
    NoTenantError,
    PathPrefixResolver,
    PostgresTenancy,
    PostgresTenantDirectory,
    SqlAlchemyTenancy,
    SubdomainResolver,
    TenancyConfigurationError,
    TenancyError,
    TenancyTypeError,
    TenancyUnavailableError,
    Tenant,
    TenantConfig,
    TenantMiddleware,
    TenantNotFoundError,
    TenantRepository,
    TenantRequest,
    TenantStatus,
    TenantSuspendedError,
    TenantTokenError,
    UnsafeConnectionError,
    UnscopedStatementError,
    WSGITenantMiddleware,
    check_tenant_id,
    current_tenant,
    policy_statements,
    tenant_safe,
    tenant_scope,
)
from buttress.testing import (
    HostileTarget,
    HostileTargets,
    acheck_hostile,
    check_hostile_asgi,
    check_hostile_wsgi,
)

from .conftest import TENANT_TABLES, Database
from .models import Base
from .test_repository import DictRepository, Note

SQLA = SqlAlchemyTenancy(Base, database_layer=False)
REQUEST = TenantRequest("acme.example.com", "/t/acme/x", {"x-tenant-id": "acme", "authorization": "Bearer t"})
DIRECTORY = MemoryTenantDirectory([Tenant("acme")])


class Settings:
    @classmethod
    def model_validate(cls, obj: object) -> Settings:
        if not isinstance(obj, dict):
            raise ValueError("not a dict")
        return cls()


async def load(tenant_id: str) -> dict[str, object] | None:
    return {} if tenant_id == "acme" else None


CONFIG = TenantConfig(Settings, load)


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def wsgi_app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [])
    return [b"ok"]


def verify(token: str) -> dict[str, object]:
    if token != "t":  # noqa: S105 - a test token
        raise ValueError("bad")
    return {"tenant_id": "acme"}


TARGETS = HostileTargets()
TARGETS.add(check_tenant_id, "acme", parameter="tenant_id")
TARGETS.add(tenant_scope, "acme")
TARGETS.add(policy_statements, "orders", column="tenant_id", column_type="text", setting="app.tenant_id")
TARGETS.add(SqlAlchemyTenancy, Base, column="tenant_id", setting="app.tenant_id")
TARGETS.add(tenant_safe, text("SELECT 1"))
TARGETS.add(SQLA.sessionmaker, create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/x"))
TARGETS.add(SQLA.check, create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/x"))
TARGETS.add(SQLA.bind_engine, create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/x"))
TARGETS.add(Tenant, "acme", TenantStatus.ACTIVE)
TARGETS.add(TenantStatus, "active")
TARGETS.add(MemoryTenantDirectory, [Tenant("acme")])
TARGETS.add(DIRECTORY.get, "acme")
TARGETS.add(DIRECTORY.put, Tenant("acme"))
TARGETS.add(MemoryTenantDirectory().remove, "acme")
TARGETS.add(TenantRequest, "example.com", "/", {"x-tenant-id": "acme"})
TARGETS.add(HeaderResolver, "x-tenant-id")
TARGETS.add(HeaderResolver().resolve, REQUEST)
TARGETS.add(SubdomainResolver, "example.com")
TARGETS.add(SubdomainResolver("example.com").resolve, REQUEST)
TARGETS.add(PathPrefixResolver, "/t/")
TARGETS.add(PathPrefixResolver().resolve, REQUEST)
TARGETS.add(ClaimResolver, verify, claim="tenant_id", header="authorization")
TARGETS.add(ClaimResolver(verify).resolve, REQUEST, allowed=(TenantTokenError,))
TARGETS.add(TenantMiddleware, app, resolver=HeaderResolver(), directory=DIRECTORY)
TARGETS.add(WSGITenantMiddleware, wsgi_app, resolver=HeaderResolver(), directory=DIRECTORY, timeout=1.0)
TARGETS.add(TenantConfig, Settings, load, ttl=1.0, max_entries=10)
TARGETS.add(CONFIG.get, "acme")
TARGETS.add(CONFIG.invalidate, "acme")
TARGETS.add(CONFIG.on_invalidate, print)
TARGETS.add(TenantTokenError, "message")
TARGETS.add(EntityNotFoundError, "entity", 7)
TARGETS.add(UnsafeConnectionError, "app", "reason", table="orders")
TARGETS.add(InvalidTenantSettingsError, "acme", "reason")
TARGETS.add(NoTenantError, "this")
TARGETS.add(TenantNotFoundError, "acme")
TARGETS.add(TenantSuspendedError, "acme")
TARGETS.add(CrossTenantError, "acme", "orders", "reason")
TARGETS.add(UnscopedStatementError, "text()", ("orders",))
TARGETS.add(TenancyUnavailableError, "postgresql", "postgresql://h/db", "refused")
TARGETS.add(TenancyConfigurationError, "p", 1, "reason")
TARGETS.add(TenancyTypeError, "p", "a str", 1)
TARGETS.add(TenancyError, "message")
TARGETS.add(MissingExtraError, "PostgresTenancy", "postgres")


@TARGETS.parametrize()
def test_every_function_and_constructor_types_its_errors(target: HostileTarget) -> None:
    target.check()


@pytest.fixture
async def pool(database: Database) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        database.dsn(database.app), min_size=1, max_size=2, server_settings=database.settings
    )
    try:
        yield pool
    finally:
        await pool.close()


@TARGETS.drives("PostgresTenancy", "PostgresTenancy.connect")
async def test_the_asyncpg_layer_types_its_errors(pool: asyncpg.Pool) -> None:
    await acheck_hostile(PostgresTenancy, pool, tables=TENANT_TABLES, setting="app.tenant_id")
    await acheck_hostile(
        PostgresTenancy.connect, "postgresql://u@127.0.0.1:1/x", tables=["docs"], min_size=1, max_size=2
    )


@TARGETS.drives("PostgresTenantDirectory", "PostgresTenantDirectory.connect")
async def test_the_postgres_directory_types_its_errors(postgres_pool: asyncpg.Pool) -> None:
    pool = postgres_pool
    await acheck_hostile(PostgresTenantDirectory, pool, table="tenants")
    await acheck_hostile(
        PostgresTenantDirectory.connect, "postgresql://u@127.0.0.1:1/x", table="t", min_size=1, max_size=2
    )
    directory = PostgresTenantDirectory(pool, table="hostile_tenants")
    await directory.create_schema()
    try:
        calls = HostileTargets(max_examples=60)  # each call is a round trip to the server
        calls.add(directory.get, "acme")
        calls.add(directory.put, Tenant("acme"))
        calls.add(directory.remove, "acme")
        await calls.acheck_all()
    finally:
        await directory.drop_schema()


async def test_the_asgi_middleware_answers_no_5xx() -> None:
    await check_hostile_asgi(TenantMiddleware(app, resolver=HeaderResolver(), directory=DIRECTORY))


def test_the_wsgi_middleware_answers_no_5xx() -> None:
    middleware = WSGITenantMiddleware(wsgi_app, resolver=HeaderResolver(), directory=DIRECTORY)
    try:
        check_hostile_wsgi(middleware)
    finally:
        middleware.close()


@TARGETS.drives(
    "TenantRepository",
    "TenantRepository.get",
    "TenantRepository.add",
    "TenantRepository.update",
    "TenantRepository.delete",
    "TenantRepository.list",
)
async def test_the_tenant_repository_types_its_errors() -> None:
    await acheck_hostile(TenantRepository, DictRepository())
    repo = TenantRepository(DictRepository())
    async with tenant_scope("acme"):
        await repo.add(Note(1, "acme"))
        calls = HostileTargets(max_examples=100)  # each list() call pages the inner repository
        calls.add(repo.get, 1)
        calls.add(repo.add, Note(2, "acme"))
        calls.add(repo.update, Note(1, "acme", "x"))
        calls.add(repo.delete, 5)
        calls.add(repo.list, limit=10, offset=0)
        await calls.acheck_all()


def test_current_tenant_outside_a_scope_is_typed() -> None:
    with pytest.raises(NoTenantError):
        current_tenant()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(
        tenancy,
        exempt={
            "TenantConnection": "asyncpg constructs it (connection_class=); its execute is asyncpg's, "
            "driven through the engines of test_sqlalchemy.py"
        },
    )
