"""The tenant directory: who the tenants are and whether they are active. A Protocol and a memory one."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ._context import check_tenant_id
from .exceptions import TenancyConfigurationError, TenancyTypeError

__all__ = ["MemoryTenantDirectory", "Tenant", "TenantDirectory", "TenantStatus"]


class TenantStatus(enum.StrEnum):
    """Whether a tenant may be served."""

    ACTIVE = "active"
    """Requests for the tenant are served."""
    SUSPENDED = "suspended"
    """The tenant exists; its requests are answered 403."""

    @classmethod
    def _missing_(cls, value: object) -> TenantStatus:
        raise TenancyConfigurationError("status", value, "must be 'active' or 'suspended'")


@dataclass(frozen=True, slots=True)
class Tenant:
    """One tenant of the directory.

    Attributes:
        id: The tenant id (see `check_tenant_id`).
        status: `TenantStatus.ACTIVE` or `TenantStatus.SUSPENDED`.

    Raises:
        TenancyConfigurationError: A malformed id or an unknown status.
        TenancyTypeError: An id that is not a str.
    """

    id: str
    status: TenantStatus = TenantStatus.ACTIVE

    def __post_init__(self) -> None:
        check_tenant_id(self.id, "id")
        if not isinstance(self.status, str):
            raise TenancyTypeError("status", "a TenantStatus", self.status)
        object.__setattr__(self, "status", TenantStatus(self.status))

    @property
    def active(self) -> bool:
        """Whether the tenant's requests are served."""
        return self.status is TenantStatus.ACTIVE


class TenantDirectory(Protocol):
    """**Protocol**: where the middleware looks a tenant up.

    `buttress.testing.TenantDirectoryContract` checks an implementation against what is written here.

    Methods:
        get: The tenant with exactly this id (case and all), suspended ones included, or ``None``.
    """

    async def get(self, tenant_id: str) -> Tenant | None:
        """The tenant with exactly this id, or ``None`` when there is none.

        A suspended tenant is returned with its status: the caller tells 403 from 404. An id that
        no tenant could have is ``None`` too, never an error.
        """
        ...


class MemoryTenantDirectory:
    """A `TenantDirectory` in a dict: the embedded default, for tests and small deployments.

    Args:
        tenants: The tenants to start with.

    Raises:
        TenancyTypeError: ``tenants`` is not an iterable of `Tenant`.

    Examples:
        >>> import asyncio
        >>> directory = MemoryTenantDirectory([Tenant("acme")])
        >>> asyncio.run(directory.get("acme"))
        Tenant(id='acme', status=<TenantStatus.ACTIVE: 'active'>)
    """

    __slots__ = ("_tenants",)

    def __init__(self, tenants: Iterable[Tenant] = ()) -> None:
        given: object = tenants
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise TenancyTypeError("tenants", "an iterable of Tenant", tenants)
        self._tenants: dict[str, Tenant] = {}
        for tenant in given:
            checked = _checked(tenant)
            self._tenants[checked.id] = checked

    async def get(self, tenant_id: str) -> Tenant | None:
        """The tenant with exactly this id, or ``None``."""
        if not isinstance(tenant_id, str):
            raise TenancyTypeError("tenant_id", "a str", tenant_id)
        return self._tenants.get(tenant_id)

    async def put(self, tenant: Tenant) -> None:
        """Add a tenant, or replace the one with its id (to suspend or reactivate it).

        Raises:
            TenancyTypeError: ``tenant`` is not a `Tenant`.
        """
        self._tenants[_checked(tenant).id] = tenant

    async def remove(self, tenant_id: str) -> bool:
        """Remove a tenant; whether it was there.

        Raises:
            TenancyTypeError: ``tenant_id`` is not a str.
        """
        if not isinstance(tenant_id, str):
            raise TenancyTypeError("tenant_id", "a str", tenant_id)
        return self._tenants.pop(tenant_id, None) is not None

    def __len__(self) -> int:
        return len(self._tenants)


def _checked(tenant: object) -> Tenant:
    if not isinstance(tenant, Tenant):
        raise TenancyTypeError("tenant", "a Tenant", tenant)
    return tenant
