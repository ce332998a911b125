"""buttress-tenancy: a tenant context that cannot leak, enforced by PostgreSQL row-level security.

The tenant lives in a context variable, set only inside `tenant_scope` (the middleware enters one per
request); outside a scope `current_tenant` raises `NoTenantError`, never "all tenants"::

    from buttress.tenancy import current_tenant, tenant_scope

    async with tenant_scope("acme"):
        await send_invoices()          # and every task it creates: current_tenant() == "acme"

On PostgreSQL two layers enforce it. The database layer: `policy_statements` generates row-level
security policies for each tenant table (``ENABLE`` and ``FORCE``, ``USING`` and ``WITH CHECK`` on
the tenant column), the tenant is set per transaction with ``set_config(..., true)``, and
`check_connection` refuses a superuser, a BYPASSRLS role or a table owner without FORCE at
startup. The application layer, `SqlAlchemyTenancy`, filters every ORM statement, tags inserts,
blocks cross-tenant writes and refuses unmarked Core and ``text()`` statements on tenant tables.

The SQLAlchemy integration needs the ``sqlalchemy`` extra, the asyncpg backends the ``postgres`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._config import SettingsModel, TenantConfig
from ._context import MAX_TENANT_ID, check_tenant_id, current_tenant, tenant_scope
from ._directory import MemoryTenantDirectory, Tenant, TenantDirectory, TenantStatus
from ._middleware import TenantMiddleware, WSGITenantMiddleware
from ._repository import TenantAware, TenantRepository
from ._resolvers import (
    ClaimResolver,
    HeaderResolver,
    PathPrefixResolver,
    SubdomainResolver,
    TenantRequest,
    TenantResolver,
)
from ._rls import COLUMN_TYPES, DEFAULT_SETTING, POLICY_NAME, policy_statements
from ._version import __version__
from .exceptions import (
    CrossTenantError,
    EntityNotFoundError,
    InvalidTenantSettingsError,
    MissingExtraError,
    NoTenantError,
    TenancyConfigurationError,
    TenancyError,
    TenancyTypeError,
    TenancyUnavailableError,
    TenantNotFoundError,
    TenantSuspendedError,
    TenantTokenError,
    UnsafeConnectionError,
    UnscopedStatementError,
)

if TYPE_CHECKING:  # what type checkers and IDEs see
    from ._postgres import PostgresTenancy, TenantConnection
    from ._postgres_directory import PostgresTenantDirectory
    from ._sqlalchemy import SAFE_OPTION, SqlAlchemyTenancy, tenant_safe

__getattr__ = lazy_exports(
    __name__,
    {
        "PostgresTenancy": "_postgres",
        "TenantConnection": "_postgres",
        "PostgresTenantDirectory": "_postgres_directory",
        "SAFE_OPTION": "_sqlalchemy",
        "SqlAlchemyTenancy": "_sqlalchemy",
        "tenant_safe": "_sqlalchemy",
    },
)

__all__ = [
    "COLUMN_TYPES",
    "DEFAULT_SETTING",
    "MAX_TENANT_ID",
    "POLICY_NAME",
    "SAFE_OPTION",
    "ClaimResolver",
    "CrossTenantError",
    "EntityNotFoundError",
    "HeaderResolver",
    "InvalidTenantSettingsError",
    "MemoryTenantDirectory",
    "MissingExtraError",
    "NoTenantError",
    "PathPrefixResolver",
    "PostgresTenancy",
    "PostgresTenantDirectory",
    "SettingsModel",
    "SqlAlchemyTenancy",
    "SubdomainResolver",
    "TenancyConfigurationError",
    "TenancyError",
    "TenancyTypeError",
    "TenancyUnavailableError",
    "Tenant",
    "TenantAware",
    "TenantConfig",
    "TenantConnection",
    "TenantDirectory",
    "TenantMiddleware",
    "TenantNotFoundError",
    "TenantRepository",
    "TenantRequest",
    "TenantResolver",
    "TenantStatus",
    "TenantSuspendedError",
    "TenantTokenError",
    "UnsafeConnectionError",
    "UnscopedStatementError",
    "WSGITenantMiddleware",
    "__version__",
    "check_tenant_id",
    "current_tenant",
    "policy_statements",
    "tenant_safe",
    "tenant_scope",
]
