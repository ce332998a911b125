"""The PostgreSQL roles and tenant tables the database tests run on, made per module and dropped after.

The tables are created by the server's superuser in the module's schema and put under the policies
`policy_statements` generates, except ``plain_docs``, which stands for the database layer switched
off. The application connects as ``app``: a role that owns nothing and has neither SUPERUSER nor
BYPASSRLS. ``owner`` owns ``owned_docs``; ``bypass`` has BYPASSRLS.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from buttress.tenancy import policy_statements
from buttress.testing import PostgresSchema

TENANT_TABLES = ("docs", "parents", "kids")

SCHEMA_SQL = """
CREATE TABLE docs (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
CREATE TABLE plain_docs (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
CREATE TABLE parents (id bigint PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
CREATE TABLE kids (
    id bigint PRIMARY KEY, tenant_id text NOT NULL, parent_id bigint NOT NULL REFERENCES parents (id),
    label text NOT NULL
);
CREATE TABLE owned_docs (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
"""


@dataclass(frozen=True)
class Database:
    """The module's schema, its roles and a DSN for each."""

    schema: PostgresSchema
    app: str
    owner: str
    bypass: str

    @property
    def settings(self) -> dict[str, str]:
        return dict(self.schema.server_settings)

    @property
    def superuser_dsn(self) -> str:
        return self.schema.dsn

    def dsn(self, role: str) -> str:
        parts = urlsplit(self.schema.dsn)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, f"{role}@{host}", parts.path, parts.query, parts.fragment))

    async def admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(self.superuser_dsn, server_settings=self.settings)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()


def _run(dsn: str, *statements: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def database(postgres_schema: PostgresSchema) -> Iterator[Database]:
    suffix = uuid.uuid4().hex[:10]
    db = Database(
        postgres_schema, f"bt_tenancy_app_{suffix}", f"bt_tenancy_own_{suffix}", f"bt_tenancy_byp_{suffix}"
    )
    schema = postgres_schema.name
    policies = [s for table in TENANT_TABLES for s in policy_statements(f"{schema}.{table}")]
    _run(
        postgres_schema.dsn,
        f"CREATE ROLE {db.app} LOGIN NOSUPERUSER NOBYPASSRLS",
        f"CREATE ROLE {db.owner} LOGIN NOSUPERUSER NOBYPASSRLS",
        f"CREATE ROLE {db.bypass} LOGIN NOSUPERUSER BYPASSRLS",
        f"SET search_path TO {schema}; {SCHEMA_SQL}",
        *policies,
        *policy_statements(f"{schema}.owned_docs"),
        f"ALTER TABLE {schema}.owned_docs NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {schema}.owned_docs OWNER TO {db.owner}",
        f"GRANT USAGE ON SCHEMA {schema} TO {db.app}, {db.owner}, {db.bypass}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {db.app}, {db.bypass}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {db.app}, {db.bypass}",
    )
    try:
        yield db
    finally:
        roles = f"{db.app}, {db.owner}, {db.bypass}"
        _run(postgres_schema.dsn, f"DROP OWNED BY {roles} CASCADE", f"DROP ROLE {roles}")


@pytest.fixture
async def clean(database: Database) -> Database:
    """The database with every table emptied before the test."""
    await database.admin("TRUNCATE docs, plain_docs, kids, parents, owned_docs RESTART IDENTITY CASCADE")
    return database
