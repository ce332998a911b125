"""`PostgresTenancy`: the database layer on an asyncpg pool (extra ``postgres``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Self

from buttress.core import BackendErrors, PostgresBackend

from ._context import _peek, current_tenant
from ._metrics import TELEMETRY, refused
from ._rls import (
    DEFAULT_SETTING,
    ERRORS,
    ROLE_QUERY,
    TABLE_QUERY,
    RoleFacts,
    TableFacts,
    check_setting,
    check_tables,
    judge_connection,
)
from .exceptions import MissingExtraError, NoTenantError, UnsafeConnectionError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("PostgresTenancy", "postgres") from exc

__all__ = ["PostgresTenancy", "TenantConnection"]

logger = logging.getLogger(__name__)


class PostgresTenancy(PostgresBackend):
    """The database layer on asyncpg: a startup guard, and transactions that carry the tenant.

    Build it around the application's pool, or let `connect` open one; either way run `check` at
    startup (``connect`` does), so a role that row-level security would not bind never serves a
    request::

        tenancy = await PostgresTenancy.connect(dsn, tables=["orders", "invoices"])
        async with tenant_scope("acme"), tenancy.transaction() as connection:
            rows = await connection.fetch("SELECT * FROM orders")  # acme's rows, whatever the SQL

    The tenant tables need their policies first (`policy_statements`, run by the owner in a
    migration).

    Args:
        pool: An ``asyncpg.Pool`` connected as the application's role.
        tables: The tenant tables (``"name"`` or ``"schema.name"``) the guard inspects.
        setting: The setting the policies read (`DEFAULT_SETTING`).

    Raises:
        TenancyTypeError: ``pool`` is not an ``asyncpg.Pool``, or an argument is not a str.
        TenancyConfigurationError: A malformed table or setting name, or no table.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = ERRORS

    def __init__(self, pool: asyncpg.Pool, *, tables: Iterable[str], setting: str = DEFAULT_SETTING) -> None:
        self.tables = check_tables(tables)
        self.setting = check_setting(setting)
        super().__init__(pool)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        tables: Iterable[str],
        setting: str = DEFAULT_SETTING,
        min_size: int = 1,
        max_size: int = 10,
    ) -> Self:
        """Open a pool on ``dsn``, run the startup guard, and own the pool (closed by `aclose`).

        Raises:
            UnsafeConnectionError: The guard refused the role (the pool is closed again).
            TenancyConfigurationError: A bad argument, or a DSN the server refuses.
            TenancyUnavailableError: The server cannot be reached.
        """
        names = tuple(check_tables(tables))
        check_setting(setting)
        backend = await cls._open(
            dsn,
            lambda pool: cls(pool, tables=[name.sql for name in names], setting=setting),
            min_size=min_size,
            max_size=max_size,
        )
        try:
            await backend.check()
        except BaseException:
            await backend.aclose()
            raise
        return backend

    async def check(self) -> None:
        """The startup guard: refuse a role that row-level security would not bind.

        Raises:
            UnsafeConnectionError: The role is a superuser or has BYPASSRLS, the setting is set for
                the whole session, or a tenant table lacks row-level security or is owned by the role
                without ``FORCE ROW LEVEL SECURITY``.
            TenancyConfigurationError: A tenant table does not exist.
            TenancyUnavailableError: The server cannot be reached.
        """
        async with self._connection() as connection:
            role = await connection.fetchrow(ROLE_QUERY, self.setting)
            rows = await connection.fetch(TABLE_QUERY, [table.sql for table in self.tables])
        facts = RoleFacts(str(role[0]), bool(role[1]), bool(role[2]), role[3])
        tables = [TableFacts(str(row[0]), bool(row[1]), bool(row[2]), bool(row[3])) for row in rows]
        try:
            judge_connection(facts, tables, self.tables, self.setting)
        except UnsafeConnectionError as exc:
            refused("unsafe_connection")
            logger.error("refused the database role: %s", exc.reason, extra={"role": exc.role})  # noqa: TRY400
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A connection in a transaction that carries the current tenant, and only that transaction.

        The tenant is set with ``set_config(setting, tenant, true)``: it ends with the transaction,
        committed when the block ends or rolled back when it raises, so the next user of the pooled
        connection starts with none. ``BEGIN`` and the setting travel in one round trip.

        Raises:
            NoTenantError: No tenant scope is active.
            TenancyUnavailableError: The server cannot be reached.
        """
        try:
            tenant = current_tenant()
        except NoTenantError:
            refused("no_tenant")
            raise NoTenantError("PostgresTenancy.transaction()") from None
        # Both values are checked (a setting name; a tenant id of letters, digits and ._:@-), so
        # they are safe as literals, and BEGIN and set_config go as one simple query.
        begin = f"BEGIN; SELECT set_config('{self.setting}', '{tenant}', true)"
        async with self._connection() as connection:
            await connection.execute(begin)
            try:
                yield connection
            except BaseException:
                await _rollback(connection)
                raise
            await connection.execute("COMMIT")


async def _rollback(connection: Any) -> None:  # noqa: ANN401 - an asyncpg connection
    """Roll back after the block raised; the block's own error is the one that matters."""
    try:
        await connection.execute("ROLLBACK")
    except Exception:  # a lost connection is discarded by the pool anyway
        logger.debug("rolling back a tenant transaction failed", exc_info=True)


class TenantConnection(asyncpg.Connection):
    """An asyncpg connection whose ``BEGIN`` carries the current tenant, in the same round trip.

    Give it to asyncpg (``connection_class=``), or to SQLAlchemy through
    ``create_async_engine(url, connect_args={"connection_class": TenantConnection})``: every top-level
    ``BEGIN`` sent inside a tenant scope is followed, in one simple query, by
    ``SELECT set_config(setting, tenant, true)``; outside a scope ``BEGIN`` goes alone, and the
    policies show no row. `SqlAlchemyTenancy` then skips its own ``set_config`` statement, which
    saves a round trip per transaction. Subclass it to change `setting`.

    Attributes:
        setting: The setting the policies read (`DEFAULT_SETTING`).
    """

    setting: ClassVar[str] = DEFAULT_SETTING
    _buttress_tenant_begin: ClassVar[bool] = True  # what SqlAlchemyTenancy looks for

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:
        """Run a query as asyncpg does; a bare ``BEGIN`` inside a tenant scope also sets the tenant."""
        tenant = _peek()
        if tenant is not None and not args and isinstance(query, str) and query.startswith("BEGIN"):
            # Both values are checked (a setting name; a tenant id of letters, digits and ._:@-).
            setting = check_setting(self.setting)
            query = f"{query.rstrip(';')}; SELECT set_config('{setting}', '{tenant}', true);"
        return await super().execute(query, *args, timeout=timeout)
