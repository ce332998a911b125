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
    CrossTenantError,
    InvalidTenantSettingsError,
    MissingExtraError,
    NoTenantError,
    PostgresTenancy,
    SqlAlchemyTenancy,
    TenancyConfigurationError,
    TenancyError,
    TenancyTypeError,
    TenancyUnavailableError,
    TenantNotFoundError,
    TenantSuspendedError,
    UnsafeConnectionError,
    UnscopedStatementError,
    check_tenant_id,
    current_tenant,
    policy_statements,
    tenant_safe,
    tenant_scope,
)
from buttress.testing import HostileTarget, HostileTargets, acheck_hostile

from .conftest import TENANT_TABLES, Database
from .models import Base

SQLA = SqlAlchemyTenancy(Base, database_layer=False)

TARGETS = HostileTargets()
TARGETS.add(check_tenant_id, "acme", parameter="tenant_id")
TARGETS.add(tenant_scope, "acme")
TARGETS.add(policy_statements, "orders", column="tenant_id", column_type="text", setting="app.tenant_id")
TARGETS.add(SqlAlchemyTenancy, Base, column="tenant_id", setting="app.tenant_id")
TARGETS.add(tenant_safe, text("SELECT 1"))
TARGETS.add(SQLA.sessionmaker, create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/x"))
TARGETS.add(SQLA.check, create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/x"))
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


def test_current_tenant_outside_a_scope_is_typed() -> None:
    with pytest.raises(NoTenantError):
        current_tenant()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(tenancy)
