"""Errors raised by buttress-tenancy.

::

    ButtressError                                  (buttress.core)
    └── TenancyError                               every error this package raises
        ├── TenancyConfigurationError              (also ConfigurationError, ValueError) a bad argument
        │   ├── UnsafeConnectionError              the startup guard refused the database role: a
        │   │                                      superuser, BYPASSRLS, or the owner of a tenant table
        │   │                                      without FORCE ROW LEVEL SECURITY
        │   └── InvalidTenantSettingsError         a tenant's stored settings fail the application's model
        ├── TenancyTypeError                       (also ArgumentTypeError, TypeError) an argument of the
        │                                          wrong type
        ├── NoTenantError                          (also LookupError) tenant-scoped work ran outside any
        │                                          tenant scope: never read as "all tenants"
        ├── TenantNotFoundError                    (also NotFoundError, LookupError) the directory does not
        │                                          know the tenant (HTTP 404)
        ├── TenantSuspendedError                   the tenant exists but is suspended (HTTP 403)
        ├── EntityNotFoundError                    (also NotFoundError, LookupError) no entity of the current
        │                                          tenant has that id (another tenant's looks the same)
        ├── TenantTokenError                       a token that names the tenant failed verification or
        │                                          names none (HTTP 401)
        ├── CrossTenantError                       a statement or a flush would touch another tenant's rows
        ├── UnscopedStatementError                 a Core or text() statement on a tenant table that was not
        │                                          marked as scoped by hand
        ├── TenancyUnavailableError                (also BackendUnavailableError, ConnectionError) the
        │                                          database cannot be reached
        └── MissingExtraError                      (also ImportError) a backend whose extra is missing

Errors name tenants by the id the application gave, never rows or settings of another tenant.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    NotFoundError,
    safe_repr,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "CrossTenantError",
    "EntityNotFoundError",
    "InvalidTenantSettingsError",
    "MissingExtraError",
    "NoTenantError",
    "TenancyConfigurationError",
    "TenancyError",
    "TenancyTypeError",
    "TenancyUnavailableError",
    "TenantNotFoundError",
    "TenantSuspendedError",
    "TenantTokenError",
    "UnsafeConnectionError",
    "UnscopedStatementError",
]


class TenancyError(ButtressError):
    """Root of every error buttress-tenancy raises."""


class TenancyConfigurationError(TenancyError, ConfigurationError):
    """An argument is invalid; the message names it and says what would be accepted."""


class TenancyTypeError(TenancyError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class UnsafeConnectionError(TenancyConfigurationError):
    """The startup guard refused the connection's role: row-level security would not bind it.

    PostgreSQL skips every policy for a superuser and for a role with BYPASSRLS, and for the owner
    of a table unless the table has ``FORCE ROW LEVEL SECURITY``. An application that connects so
    would read every tenant's rows while its tests pass. Connect as a role that owns nothing and has
    neither attribute.

    Attributes:
        role: The role the connection runs as.
        table: The table concerned, or ``None`` for a property of the role itself.
    """

    def __init__(self, role: str, reason: str, *, table: str | None = None) -> None:
        super().__init__("role", role, reason)
        self.role = role
        self.table = table


class InvalidTenantSettingsError(TenancyConfigurationError):
    """A tenant's stored settings do not validate against the application's settings model.

    Attributes:
        tenant_id: The tenant whose settings failed.
    """

    def __init__(self, tenant_id: str, reason: str) -> None:
        super().__init__("settings", tenant_id, reason)
        self.tenant_id = tenant_id


class NoTenantError(TenancyError, LookupError):
    """Tenant-scoped work ran with no tenant in context.

    Enter ``tenant_scope(tenant_id)`` (a request's middleware does it for you); outside a scope the
    answer is this error, never every tenant's rows.
    """

    def __init__(self, action: str = "this") -> None:
        super().__init__(
            f"{_text(action)} needs a tenant and none is set: run it inside tenant_scope(tenant_id) "
            "or behind the tenant middleware"
        )
        self.action = action


class TenantNotFoundError(TenancyError, NotFoundError):
    """The tenant directory does not know this tenant. Answered with HTTP 404."""

    def __init__(self, tenant_id: str) -> None:
        super().__init__("tenant", tenant_id)
        self.tenant_id = tenant_id


class EntityNotFoundError(TenancyError, NotFoundError):
    """No entity of the current tenant has that id. Another tenant's entity is reported the same way.

    Raised by `TenantRepository.update`; answered with HTTP 404.
    """


class TenantSuspendedError(TenancyError):
    """The tenant exists but is suspended. Answered with HTTP 403.

    Attributes:
        tenant_id: The suspended tenant.
    """

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"tenant {safe_repr(tenant_id)} is suspended")
        self.tenant_id = tenant_id


class TenantTokenError(TenancyError):
    """A token that should name the tenant failed verification, or carries no tenant claim (HTTP 401).

    The message says which; it never holds the token or the verifier's own message.
    """


class CrossTenantError(TenancyError):
    """A statement or a flush would read or write rows of a tenant other than the current one.

    Attributes:
        tenant_id: The current tenant.
        table: The table concerned.
    """

    def __init__(self, tenant_id: str, table: str, reason: str) -> None:
        super().__init__(f"refused on {_text(table)} for tenant {safe_repr(tenant_id)}: {_text(reason)}")
        self.tenant_id = tenant_id
        self.table = table
        self.reason = reason


class UnscopedStatementError(TenancyError):
    """A Core or ``text()`` statement on a tenant table reached the session unmarked.

    The application layer scopes ORM statements; a hand-written statement it cannot scope is refused
    unless the caller marks it with ``tenant_safe(statement)`` after scoping it (row-level security
    still binds it in the database).

    Attributes:
        tables: The tenant tables the statement names (empty for ``text()``, which is opaque).
    """

    def __init__(self, kind: str, tables: tuple[str, ...] = ()) -> None:
        tables = tuple(_text(table) for table in tables) if isinstance(tables, tuple) else ()
        named = f" on {', '.join(tables)}" if tables else ""
        super().__init__(
            f"a {_text(kind)} statement{named} cannot be scoped to the tenant: write it with the ORM, "
            "or scope it by hand and mark it with tenant_safe(statement)"
        )
        self.tables = tables


def _text(value: object) -> str:
    """``value`` if it is a str, else a short repr of it: building an error never raises."""
    return value if isinstance(value, str) else safe_repr(value)


class TenancyUnavailableError(TenancyError, BackendUnavailableError):
    """The database cannot be reached (refused, reset, shut down)."""


class MissingExtraError(TenancyError, CoreMissingExtraError):
    """A backend was asked for without its extra (``postgres`` for asyncpg, ``sqlalchemy``)."""

    distribution = "buttress-tenancy"
