"""`TenantDirectoryContract`: what a tenant directory for buttress-tenancy's middleware must do.

The suite reads a tenant structurally (``id``, and ``status`` whose value is ``"active"`` or
``"suspended"``), so it needs no buttress-tenancy import.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["TenantDirectoryContract"]

_TENANTS: Mapping[str, str] = {
    "acme": "active",
    "globex": "suspended",
    "initech": "active",
    "Acme-2": "active",
    "550e8400-e29b-41d4-a716-446655440000": "active",
}


def _status(tenant: Any) -> str:
    status = getattr(tenant, "status", None)
    return str(getattr(status, "value", status))


class TenantDirectoryContract:
    """Conformance suite for a ``TenantDirectory`` (``async def get(tenant_id) -> Tenant | None``).

    Subclass it (as ``TestSomething``) and implement `make_directory`, which returns a directory
    holding exactly the tenants it is given (id to ``"active"`` or ``"suspended"``). Directories
    with ``aclose()`` or ``close()`` are closed after each test.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_directory(self, tenants: Mapping[str, str]) -> Any:
        """Return a directory holding ``tenants``. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_directory()")

    @pytest_asyncio.fixture
    async def directory(self) -> AsyncIterator[Any]:
        """The directory from `make_directory` over the suite's tenants, closed after the test."""
        made = await self.make_directory(dict(_TENANTS))
        try:
            yield made
        finally:
            await close_quietly(made)

    async def test_get_is_a_coroutine_method(self, directory: Any) -> None:
        assert inspect.iscoroutinefunction(getattr(directory, "get", None)), "get() must be async"

    async def test_an_active_tenant_is_found_active(self, directory: Any) -> None:
        for tenant_id, status in _TENANTS.items():
            if status != "active":
                continue
            tenant = await directory.get(tenant_id)
            assert tenant is not None, f"{tenant_id!r} is in the directory but get() returned None"
            assert tenant.id == tenant_id
            assert _status(tenant) == "active", f"{tenant_id!r} is active, get() says {_status(tenant)!r}"

    async def test_a_suspended_tenant_is_found_suspended(self, directory: Any) -> None:
        tenant = await directory.get("globex")
        assert tenant is not None, "a suspended tenant must be returned (403), not hidden (404)"
        assert _status(tenant) == "suspended", f"a suspended tenant was reported {_status(tenant)!r}"

    async def test_an_unknown_tenant_is_none(self, directory: Any) -> None:
        assert await directory.get("hooli") is None

    @pytest.mark.parametrize(
        "near_miss", ["ACME", "Acme", "acme ", " acme", "acm", "acmex", "acme.", "acme-2", "initech/x", "%"]
    )
    async def test_only_the_exact_id_matches(self, directory: Any, near_miss: str) -> None:
        assert await directory.get(near_miss) is None, f"{near_miss!r} matched another tenant's id"

    async def test_ids_no_tenant_can_have_are_none_not_errors(self, directory: Any) -> None:
        for odd in ("", "a" * 500, "acme\x00", "é", "'; DROP TABLE tenants; --", "*"):
            assert await directory.get(odd) is None, f"get({odd!r}) found a tenant"

    async def test_concurrent_lookups_agree(self, directory: Any) -> None:
        ids = [*_TENANTS, "hooli"] * 8
        found = await asyncio.gather(*(directory.get(tenant_id) for tenant_id in ids))
        for tenant_id, tenant in zip(ids, found, strict=True):
            if tenant_id == "hooli":
                assert tenant is None
            else:
                assert tenant is not None
                assert tenant.id == tenant_id
                assert _status(tenant) == _TENANTS[tenant_id]

    async def test_lookups_are_repeatable(self, directory: Any) -> None:
        first = [_status(await directory.get(tenant_id)) for tenant_id in _TENANTS]
        second = [_status(await directory.get(tenant_id)) for tenant_id in _TENANTS]
        assert first == second == list(_TENANTS.values())
