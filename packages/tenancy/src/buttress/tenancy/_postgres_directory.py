"""`PostgresTenantDirectory`: the tenant directory in a PostgreSQL table (extra ``postgres``)."""

from __future__ import annotations

from typing import ClassVar, Self

from buttress.core import BackendErrors, PostgresBackend, TableName

from ._context import check_tenant_id
from ._directory import Tenant, TenantStatus
from ._metrics import TELEMETRY
from ._rls import ERRORS
from .exceptions import MissingExtraError, TenancyTypeError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("PostgresTenantDirectory", "postgres") from exc

__all__ = ["PostgresTenantDirectory"]


class PostgresTenantDirectory(PostgresBackend):
    """A `TenantDirectory` in one PostgreSQL table: ``(id text PRIMARY KEY, status text)``.

    The table holds no tenant's data, so it needs no row-level security; the application role
    reads it (and an admin role writes it)::

        directory = await PostgresTenantDirectory.connect(dsn, table="tenants")
        await directory.create_schema()
        await directory.put(Tenant("acme"))

    Args:
        pool: An ``asyncpg.Pool`` the application owns (never closed here).
        table: The table's name, ``"name"`` or ``"schema.name"``.

    Raises:
        TenancyTypeError: ``pool`` is not an ``asyncpg.Pool``.
        TenancyConfigurationError: A malformed table name.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = ERRORS

    def __init__(self, pool: asyncpg.Pool, *, table: str = "tenants") -> None:
        self.table = TableName.parse(table, errors=ERRORS)
        super().__init__(pool)

    @classmethod
    async def connect(
        cls, dsn: str, *, table: str = "tenants", min_size: int = 1, max_size: int = 10
    ) -> Self:
        """Open a pool on ``dsn`` that the directory owns (closed by `aclose`).

        Raises:
            TenancyConfigurationError: A bad argument, or a DSN the server refuses.
            TenancyUnavailableError: The server cannot be reached.
        """
        TableName.parse(table, errors=ERRORS)
        return await cls._open(dsn, lambda pool: cls(pool, table=table), min_size=min_size, max_size=max_size)

    async def create_schema(self) -> None:
        """Create the table if it does not exist (idempotent)."""
        async with self._connection() as connection:
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table.sql} ("
                "id text PRIMARY KEY, status text NOT NULL CHECK (status IN ('active', 'suspended')))"
            )

    async def drop_schema(self) -> None:
        """Drop the table and every tenant in it."""
        async with self._connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {self.table.sql}")

    async def get(self, tenant_id: str) -> Tenant | None:
        """The tenant with exactly this id, or ``None`` (a malformed id included).

        Raises:
            TenancyTypeError: ``tenant_id`` is not a str.
            TenancyUnavailableError: The server cannot be reached.
        """
        if not isinstance(tenant_id, str):
            raise TenancyTypeError("tenant_id", "a str", tenant_id)
        try:
            tenant = Tenant(tenant_id)
        except ValueError:
            return None  # no tenant could have been stored with it
        async with self._connection() as connection:
            status = await connection.fetchval(
                f"SELECT status FROM {self.table.sql} WHERE id = $1",  # noqa: S608 - a checked name
                tenant.id,
            )
        return None if status is None else Tenant(tenant.id, TenantStatus(status))

    async def put(self, tenant: Tenant) -> None:
        """Add a tenant, or replace the status of the one with its id.

        Raises:
            TenancyTypeError: ``tenant`` is not a `Tenant`.
            TenancyUnavailableError: The server cannot be reached.
        """
        if not isinstance(tenant, Tenant):
            raise TenancyTypeError("tenant", "a Tenant", tenant)
        async with self._connection() as connection:
            await connection.execute(
                f"INSERT INTO {self.table.sql} (id, status) VALUES ($1, $2) "  # noqa: S608 - a checked name
                "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status",
                tenant.id,
                tenant.status.value,
            )

    async def remove(self, tenant_id: str) -> bool:
        """Remove a tenant; whether it was there.

        Raises:
            TenancyTypeError: ``tenant_id`` is not a str.
            TenancyUnavailableError: The server cannot be reached.
        """
        if not isinstance(tenant_id, str):
            raise TenancyTypeError("tenant_id", "a str", tenant_id)
        try:
            check_tenant_id(tenant_id)
        except ValueError:
            return False  # no tenant could have been stored with it
        async with self._connection() as connection:
            done = await connection.execute(
                f"DELETE FROM {self.table.sql} WHERE id = $1",  # noqa: S608 - a checked name
                tenant_id,
            )
        return bool(done != "DELETE 0")
