"""TenantDirectoryContract passes a correct directory and catches broken ones."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from buttress.testing import TenantDirectoryContract


@dataclass(frozen=True)
class Found:
    id: str
    status: str


class DictDirectory:
    """A small but correct directory, read structurally (no buttress-tenancy import)."""

    def __init__(self, tenants: Mapping[str, str]) -> None:
        self.tenants = dict(tenants)

    async def get(self, tenant_id: str) -> Any:
        status = self.tenants.get(tenant_id)
        return None if status is None else Found(tenant_id, status)


class TestDictDirectory(TenantDirectoryContract):
    async def make_directory(self, tenants: Mapping[str, str]) -> Any:
        return DictDirectory(tenants)


BROKEN = {
    "case_insensitive": (
        "async def get(self, tenant_id):\n"
        "        for key, status in self.tenants.items():\n"
        "            if key.lower() == tenant_id.lower():\n"
        "                return Found(key, status)\n"
        "        return None",
        "test_only_the_exact_id_matches",
    ),
    "prefix_match": (
        "async def get(self, tenant_id):\n"
        "        for key, status in self.tenants.items():\n"
        "            if tenant_id and key.startswith(tenant_id.strip()):\n"
        "                return Found(key, status)\n"
        "        return None",
        "test_only_the_exact_id_matches",
    ),
    "suspension_ignored": (
        "async def get(self, tenant_id):\n"
        "        found = await super().get(tenant_id)\n"
        "        return None if found is None else Found(found.id, 'active')",
        "test_a_suspended_tenant_is_found_suspended",
    ),
    "suspended_hidden": (
        "async def get(self, tenant_id):\n"
        "        found = await super().get(tenant_id)\n"
        "        return None if found is None or found.status != 'active' else found",
        "test_a_suspended_tenant_is_found_suspended",
    ),
    "unknown_is_a_default_tenant": (
        "async def get(self, tenant_id):\n"
        "        return await super().get(tenant_id) or Found(tenant_id, 'active')",
        "test_an_unknown_tenant_is_none",
    ),
    "odd_ids_raise": (
        "async def get(self, tenant_id):\n"
        "        if not tenant_id.isascii() or not tenant_id.isprintable():\n"
        "            raise ValueError(tenant_id)\n"
        "        return await super().get(tenant_id)",
        "test_ids_no_tenant_can_have_are_none_not_errors",
    ),
    "sync_get": (
        "def get(self, tenant_id):\n        return None",
        "test_get_is_a_coroutine_method",
    ),
}

SUITE = """
from buttress.testing import TenantDirectoryContract
from test_dict_directory import DictDirectory, Found

class Broken(DictDirectory):
    {method}

class TestBroken(TenantDirectoryContract):
    async def make_directory(self, tenants):
        return Broken(tenants)
"""


def _source() -> str:
    header = (
        "from dataclasses import dataclass\nfrom typing import Any\nfrom collections.abc import Mapping\n\n"
    )
    return header + inspect.getsource(Found) + "\n\n" + inspect.getsource(DictDirectory)


@pytest.mark.parametrize("flaw", sorted(BROKEN))
def test_the_directory_contract_catches_a_broken_directory(
    contract_catches: Callable[..., set[str]], flaw: str
) -> None:
    method, failing = BROKEN[flaw]
    contract_catches(failing, test_dict_directory=_source(), test_broken=SUITE.format(method=method))
