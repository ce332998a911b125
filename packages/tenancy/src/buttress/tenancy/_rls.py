"""The database layer's SQL: row-level security policies, the per-transaction setting, the startup guard.

Nothing here talks to a driver: the asyncpg backend (`PostgresTenancy`) and the SQLAlchemy
integration run the same statements and judge the same catalog rows with `judge_connection`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from buttress.core import BackendErrors, TableName

from .exceptions import (
    TenancyConfigurationError,
    TenancyTypeError,
    TenancyUnavailableError,
    UnsafeConnectionError,
)

__all__ = [
    "COLUMN_TYPES",
    "DEFAULT_SETTING",
    "ERRORS",
    "POLICY_NAME",
    "ROLE_QUERY",
    "TABLE_QUERY",
    "RoleFacts",
    "TableFacts",
    "check_column",
    "check_setting",
    "check_tables",
    "judge_connection",
    "policy_statements",
]

ERRORS: Final = BackendErrors(TenancyConfigurationError, TenancyTypeError, TenancyUnavailableError)

DEFAULT_SETTING: Final = "app.tenant_id"
"""The PostgreSQL setting that carries the tenant inside a transaction."""

POLICY_NAME: Final = "buttress_tenant_isolation"
"""The name of the policy `policy_statements` creates on each tenant table."""

COLUMN_TYPES: Final = frozenset({"text", "varchar", "uuid", "bigint", "integer"})
"""The tenant column's types the policy can compare the setting with."""

_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SETTING: Final = re.compile(r"[a-z_][a-z0-9_]{0,30}\.[a-z_][a-z0-9_]{0,30}")

#: One row: the role, whether it is a superuser, whether it has BYPASSRLS, the setting's session value.
ROLE_QUERY: Final = (
    "SELECT current_user::text, r.rolsuper, r.rolbypassrls, current_setting($1, true) "
    "FROM pg_roles r WHERE r.rolname = current_user"
)
#: One row per table that exists: its name as asked, RLS on, FORCE on, owned by the role (or a role
#: it inherits from).
TABLE_QUERY: Final = (
    "SELECT t.name, c.relrowsecurity, c.relforcerowsecurity, pg_has_role(current_user, c.relowner, 'USAGE') "
    "FROM unnest($1::text[]) AS t(name) JOIN pg_class c ON c.oid = to_regclass(t.name)"
)


def check_setting(setting: object) -> str:
    """``setting`` if it is a custom setting name such as ``app.tenant_id``."""
    if not isinstance(setting, str):
        raise TenancyTypeError("setting", "a str", setting)
    if not _SETTING.fullmatch(setting):
        raise TenancyConfigurationError(
            "setting", setting, "must be a custom setting name such as 'app.tenant_id' (lower-case, one dot)"
        )
    return setting


def check_column(column: object) -> str:
    """``column`` if it is a lower-case SQL identifier."""
    if not isinstance(column, str):
        raise TenancyTypeError("column", "a str", column)
    if not _IDENTIFIER.fullmatch(column):
        raise TenancyConfigurationError("column", column, "must be a lower-case SQL identifier")
    return column


def check_tables(tables: object) -> tuple[TableName, ...]:
    """``tables`` (names such as ``"orders"`` or ``"shop.orders"``), checked, at least one."""
    if isinstance(tables, str) or not isinstance(tables, Iterable):
        raise TenancyTypeError("tables", "an iterable of table names", tables)
    checked = tuple(TableName.parse(table, errors=ERRORS) for table in tables)
    if not checked:
        raise TenancyConfigurationError("tables", (), "must name at least one tenant table")
    return checked


def policy_statements(
    table: str, *, column: str = "tenant_id", column_type: str = "text", setting: str = DEFAULT_SETTING
) -> tuple[str, ...]:
    """The DDL that puts one table under tenant isolation; run it as the table's owner (a migration).

    The table gets ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` (so its owner is bound too) and one
    policy for every command whose ``USING`` and ``WITH CHECK`` both compare ``column`` with the
    transaction's setting. Outside a transaction that set it, the setting is missing or ``''``, which
    ``NULLIF`` turns into ``NULL``: no row matches and no row may be written. Re-running the
    statements replaces the policy.

    Args:
        table: ``"name"`` or ``"schema.name"`` in lower-case SQL identifiers.
        column: The tenant column.
        column_type: Its type, one of `COLUMN_TYPES`; the setting is cast to it, so an index on the
            column serves the policy.
        setting: The setting that carries the tenant (`DEFAULT_SETTING`).

    Raises:
        TenancyConfigurationError: A malformed name or an unknown type.
        TenancyTypeError: An argument that is not a str.

    Examples:
        >>> print(policy_statements("orders")[-1])  # doctest: +NORMALIZE_WHITESPACE
        CREATE POLICY buttress_tenant_isolation ON orders AS PERMISSIVE FOR ALL
        USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::text)
        WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::text)
    """
    name = TableName.parse(table, errors=ERRORS).sql
    column = check_column(column)
    if not isinstance(column_type, str):
        raise TenancyTypeError("column_type", "a str", column_type)
    if column_type not in COLUMN_TYPES:
        raise TenancyConfigurationError("column_type", column_type, f"must be one of {sorted(COLUMN_TYPES)}")
    setting = check_setting(setting)
    matches = f"{column} = NULLIF(current_setting('{setting}', true), '')::{column_type}"
    return (
        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {name}",
        f"CREATE POLICY {POLICY_NAME} ON {name} AS PERMISSIVE FOR ALL "
        f"USING ({matches}) WITH CHECK ({matches})",
    )


@dataclass(frozen=True, slots=True)
class RoleFacts:
    """What the catalog says about the connection's role (a row of `ROLE_QUERY`)."""

    role: str
    superuser: bool
    bypass_rls: bool
    session_setting: str | None


@dataclass(frozen=True, slots=True)
class TableFacts:
    """What the catalog says about one tenant table (a row of `TABLE_QUERY`)."""

    name: str
    row_security: bool
    forced: bool
    owned: bool


def judge_connection(
    role: RoleFacts, tables: Sequence[TableFacts], wanted: Sequence[TableName], setting: str
) -> None:
    """Raise `UnsafeConnectionError` unless row-level security binds this role on every table.

    Raises:
        UnsafeConnectionError: A superuser; a BYPASSRLS role; the tenant setting set for the whole
            session (``ALTER ROLE ... SET``, a plain ``SET``); a table without row-level security; a
            table the role owns without ``FORCE ROW LEVEL SECURITY``.
        TenancyConfigurationError: A table that does not exist.
    """
    if role.superuser:
        raise UnsafeConnectionError(role.role, "is a superuser, which row-level security never binds")
    if role.bypass_rls:
        raise UnsafeConnectionError(role.role, "has BYPASSRLS, which skips every row-level security policy")
    if role.session_setting:
        raise UnsafeConnectionError(
            role.role,
            f"has {setting} set for the whole session (ALTER ROLE/DATABASE ... SET, or a plain SET): "
            "it would outlive every transaction; set it per transaction only",
        )
    found = {facts.name: facts for facts in tables}
    for table in wanted:
        facts = found.get(table.sql)
        if facts is None:
            raise TenancyConfigurationError(
                "tables", table.sql, "does not exist (or is not on the search_path)"
            )
        if not facts.row_security:
            raise UnsafeConnectionError(
                role.role,
                f"{table.sql} has no row-level security: apply policy_statements()",
                table=table.sql,
            )
        if facts.owned and not facts.forced:
            raise UnsafeConnectionError(
                role.role,
                f"owns {table.sql}, which lacks FORCE ROW LEVEL SECURITY, so its policies skip this role",
                table=table.sql,
            )
