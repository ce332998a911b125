"""The database layer on real PostgreSQL: policies, the per-transaction tenant, the startup guard.

Each leak test runs twice: with the layer on, and with it off (the same statements on ``plain_docs``,
a table without the policies, or as a role the policies skip), where it must show the leak.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from buttress.tenancy import (
    NoTenantError,
    PostgresTenancy,
    TenancyConfigurationError,
    TenancyTypeError,
    UnsafeConnectionError,
    policy_statements,
    tenant_scope,
)
from buttress.testing import RecordedMetrics

from .conftest import TENANT_TABLES, Database

pytestmark = pytest.mark.postgres

LAYER = pytest.mark.parametrize("layer", ["on", "off"])


def table_for(layer: str) -> str:
    return "docs" if layer == "on" else "plain_docs"


@pytest.fixture
async def tenancy(clean: Database) -> AsyncIterator[PostgresTenancy]:
    pool = await asyncpg.create_pool(
        clean.dsn(clean.app), min_size=1, max_size=4, server_settings=clean.settings
    )
    try:
        yield PostgresTenancy(pool, tables=TENANT_TABLES)
    finally:
        await pool.close()


async def seed(tenancy: PostgresTenancy, table: str, rows: dict[str, int]) -> None:
    for tenant, count in rows.items():
        async with tenant_scope(tenant), tenancy.transaction() as connection:
            await connection.executemany(
                f"INSERT INTO {table} (tenant_id, body) VALUES ($1, $2)",  # noqa: S608 - a test table
                [(tenant, f"{tenant}-{i}") for i in range(count)],
            )


@LAYER
async def test_raw_sql_sees_only_the_tenant_of_the_transaction(tenancy: PostgresTenancy, layer: str) -> None:
    table = table_for(layer)
    await seed(tenancy, table, {"acme": 3, "globex": 2})
    async with tenant_scope("globex"), tenancy.transaction() as connection:
        tenants = {row[0] for row in await connection.fetch(f"SELECT tenant_id FROM {table}")}  # noqa: S608
    if layer == "on":
        assert tenants == {"globex"}
    else:
        assert tenants == {"acme", "globex"}, "without the policies raw SQL reads every tenant"


@LAYER
async def test_outside_a_tenant_transaction_nothing_is_visible(tenancy: PostgresTenancy, layer: str) -> None:
    table = table_for(layer)
    await seed(tenancy, table, {"acme": 2})
    async with tenancy._connection() as connection:  # a connection used with no tenant at all
        count = await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
    assert count == (0 if layer == "on" else 2)


@LAYER
async def test_bulk_inserts_for_another_tenant_are_refused(tenancy: PostgresTenancy, layer: str) -> None:
    table = table_for(layer)
    rows = [("acme", "mine"), ("globex", "smuggled")]
    if layer == "on":
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            async with tenant_scope("acme"), tenancy.transaction() as connection:
                await connection.executemany(f"INSERT INTO {table} (tenant_id, body) VALUES ($1, $2)", rows)  # noqa: S608
        await assert_rows(tenancy, table, "globex", 0)
        await assert_rows(tenancy, table, "acme", 0)  # the whole batch was refused
    else:
        async with tenant_scope("acme"), tenancy.transaction() as connection:
            await connection.executemany(f"INSERT INTO {table} (tenant_id, body) VALUES ($1, $2)", rows)  # noqa: S608
        await assert_rows(tenancy, table, "globex", 1)


@LAYER
async def test_copy_out_sees_only_the_tenant(tenancy: PostgresTenancy, layer: str) -> None:
    table = table_for(layer)
    await seed(tenancy, table, {"acme": 2, "globex": 3})
    records: list[tuple[object, ...]] = []
    async with tenant_scope("acme"), tenancy.transaction() as connection:
        await connection.copy_from_table(table, columns=["tenant_id"], output=sink(records), format="csv")
    tenants = {line for (line,) in records}
    assert tenants == ({"acme"} if layer == "on" else {"acme", "globex"})


@LAYER
async def test_copy_in_for_another_tenant_is_refused(tenancy: PostgresTenancy, layer: str) -> None:
    table = table_for(layer)
    rows = [("globex", "smuggled by COPY")]
    if layer == "on":
        with pytest.raises(asyncpg.PostgresError):
            async with tenant_scope("acme"), tenancy.transaction() as connection:
                await connection.copy_records_to_table(table, records=rows, columns=["tenant_id", "body"])
        await assert_rows(tenancy, table, "globex", 0)
    else:
        async with tenant_scope("acme"), tenancy.transaction() as connection:
            await connection.copy_records_to_table(table, records=rows, columns=["tenant_id", "body"])
        await assert_rows(tenancy, table, "globex", 1)


async def test_updates_and_deletes_reach_only_the_tenant(tenancy: PostgresTenancy) -> None:
    await seed(tenancy, "docs", {"acme": 2, "globex": 2})
    async with tenant_scope("acme"), tenancy.transaction() as connection:
        assert await connection.execute("UPDATE docs SET body = 'x'") == "UPDATE 2"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("UPDATE docs SET tenant_id = 'globex'")
    async with tenant_scope("acme"), tenancy.transaction() as connection:
        assert await connection.execute("DELETE FROM docs") == "DELETE 2"
    await assert_rows(tenancy, "docs", "globex", 2)


async def test_the_tenant_ends_with_its_transaction_even_after_an_error(tenancy: PostgresTenancy) -> None:
    await seed(tenancy, "docs", {"acme": 2})

    async def fail_midway() -> None:
        async with tenant_scope("acme"), tenancy.transaction() as connection:
            await connection.execute("INSERT INTO docs (tenant_id, body) VALUES ('acme', 'lost')")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await fail_midway()
    async with tenancy._connection() as connection:
        assert await connection.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
        assert await connection.fetchval("SELECT count(*) FROM docs") == 0
    await assert_rows(tenancy, "docs", "acme", 2)


async def test_a_transaction_needs_a_tenant(tenancy: PostgresTenancy, metric_reader: RecordedMetrics) -> None:
    with pytest.raises(NoTenantError):
        async with tenancy.transaction():
            pass
    assert metric_reader.value("buttress.tenancy.refusals", {"tenancy.reason": "no_tenant"}) == 1


async def assert_rows(tenancy: PostgresTenancy, table: str, tenant: str, expected: int) -> None:
    async with tenant_scope(tenant), tenancy.transaction() as connection:
        count = await connection.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant)  # noqa: S608
    assert count == expected


def sink(records: list[tuple[object, ...]]):
    async def write(chunk: bytes) -> None:
        records.extend((line,) for line in chunk.decode().splitlines() if line)

    return write


# --- the startup guard ---------------------------------------------------------------------------


async def test_the_guard_accepts_the_application_role(clean: Database) -> None:
    async with await PostgresTenancy.connect(
        clean.dsn(clean.app) + "?options=-csearch_path%3D" + clean.schema.name, tables=TENANT_TABLES
    ) as tenancy:
        assert tenancy.owns_pool


@pytest.mark.parametrize("who", ["superuser", "bypass"])
async def test_roles_that_skip_the_policies_read_every_tenant_and_are_refused(
    clean: Database, who: str, metric_reader: RecordedMetrics
) -> None:
    dsn = clean.superuser_dsn if who == "superuser" else clean.dsn(clean.bypass)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, server_settings=clean.settings)
    try:
        tenancy = PostgresTenancy(pool, tables=TENANT_TABLES)
        await clean.admin("INSERT INTO docs (tenant_id, body) VALUES ('globex', 'theirs')")
        # the leak the guard prevents: these roles read globex's row from acme's transaction
        async with tenant_scope("acme"), tenancy.transaction() as connection:
            assert await connection.fetchval("SELECT count(*) FROM docs WHERE tenant_id = 'globex'") == 1
        with pytest.raises(UnsafeConnectionError, match="superuser" if who == "superuser" else "BYPASSRLS"):
            await tenancy.check()
    finally:
        await pool.close()
    assert metric_reader.value("buttress.tenancy.refusals", {"tenancy.reason": "unsafe_connection"}) == 1


@pytest.mark.parametrize("forced", [False, True])
async def test_an_owner_is_refused_unless_the_table_forces_row_security(
    clean: Database, forced: bool
) -> None:
    if forced:
        await clean.admin("ALTER TABLE owned_docs FORCE ROW LEVEL SECURITY")
    pool = await asyncpg.create_pool(
        clean.dsn(clean.owner), min_size=1, max_size=1, server_settings=clean.settings
    )
    try:
        tenancy = PostgresTenancy(pool, tables=["owned_docs"])
        await clean.admin("INSERT INTO owned_docs (tenant_id, body) VALUES ('globex', 'theirs')")
        async with tenant_scope("acme"), tenancy.transaction() as connection:
            seen = await connection.fetchval("SELECT count(*) FROM owned_docs")
        if forced:
            assert seen == 0
            await tenancy.check()
        else:
            assert seen == 1, "an owner without FORCE reads every tenant"
            with pytest.raises(UnsafeConnectionError, match="FORCE") as caught:
                await tenancy.check()
            assert caught.value.table == "owned_docs"
    finally:
        await clean.admin("ALTER TABLE owned_docs NO FORCE ROW LEVEL SECURITY")
        await pool.close()


async def test_a_table_without_policies_is_refused(clean: Database) -> None:
    pool = await asyncpg.create_pool(
        clean.dsn(clean.app), min_size=1, max_size=1, server_settings=clean.settings
    )
    try:
        with pytest.raises(UnsafeConnectionError, match="no row-level security"):
            await PostgresTenancy(pool, tables=["docs", "plain_docs"]).check()
        with pytest.raises(TenancyConfigurationError, match="does not exist"):
            await PostgresTenancy(pool, tables=["docs", "nowhere"]).check()
    finally:
        await pool.close()


async def test_a_session_wide_tenant_setting_is_refused(clean: Database) -> None:
    settings = {**clean.settings, "app.tenant_id": "acme"}
    pool = await asyncpg.create_pool(clean.dsn(clean.app), min_size=1, max_size=1, server_settings=settings)
    try:
        tenancy = PostgresTenancy(pool, tables=TENANT_TABLES)
        await clean.admin("INSERT INTO docs (tenant_id, body) VALUES ('acme', 'a')")
        async with tenancy._connection() as connection:  # the leak: no transaction, yet acme's rows
            assert await connection.fetchval("SELECT count(*) FROM docs") == 1
        with pytest.raises(UnsafeConnectionError, match="whole session"):
            await tenancy.check()
    finally:
        await pool.close()


async def test_connect_closes_its_pool_when_the_guard_refuses(clean: Database) -> None:
    with pytest.raises(UnsafeConnectionError):
        await PostgresTenancy.connect(clean.superuser_dsn, tables=["pg_catalog.pg_class"])


# --- the generated DDL ----------------------------------------------------------------------------


def test_policies_read_the_setting_for_the_transaction_in_both_directions() -> None:
    enable, force, drop, create = policy_statements("shop.orders", column="org", column_type="uuid")
    assert enable == "ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY"
    assert force == "ALTER TABLE shop.orders FORCE ROW LEVEL SECURITY"
    assert drop.startswith("DROP POLICY IF EXISTS")
    check = "org = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    assert f"USING ({check}) WITH CHECK ({check})" in create


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"table": "Orders"}, TenancyConfigurationError),
        ({"table": "o; DROP TABLE x"}, TenancyConfigurationError),
        ({"table": 3}, TenancyTypeError),
        ({"table": "o", "column": "tenant id"}, TenancyConfigurationError),
        ({"table": "o", "column_type": "jsonb"}, TenancyConfigurationError),
        ({"table": "o", "setting": "tenant"}, TenancyConfigurationError),
        ({"table": "o", "setting": "app.x'); --"}, TenancyConfigurationError),
    ],
)
def test_names_are_checked_before_they_reach_sql(
    arguments: dict[str, object], error: type[Exception]
) -> None:
    table = arguments.pop("table")
    with pytest.raises(error):
        policy_statements(table, **arguments)  # type: ignore[arg-type]
