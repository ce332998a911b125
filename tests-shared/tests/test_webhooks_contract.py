"""The endpoint-store suite passes a correct store and catches broken ones (without buttress-webhooks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

REFERENCE = """
import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from buttress.core import ConflictError, NotFoundError
from buttress.testing import EndpointStoreContract


@dataclass(frozen=True)
class Hook:
    id: str
    url: str
    secrets: tuple
    event_types: frozenset | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    rate_limit: int | None = None
    headers: dict = field(default_factory=dict)
    description: str = ""
    previous_secrets_expire_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DictStore:
    def __init__(self):
        self.items = {}

    async def create(self, endpoint):
        if endpoint.id in self.items:
            raise ConflictError("endpoint", endpoint.id, "exists")
        self.items[endpoint.id] = endpoint
        return endpoint

    async def get(self, endpoint_id):
        try:
            return self.items[endpoint_id]
        except KeyError:
            raise NotFoundError("endpoint", endpoint_id) from None

    async def update(self, endpoint):
        if endpoint.id not in self.items:
            raise NotFoundError("endpoint", endpoint.id)
        self.items[endpoint.id] = endpoint
        return endpoint

    async def delete(self, endpoint_id):
        return self.items.pop(endpoint_id, None) is not None

    async def list(self, *, event_type=None, enabled=None):
        return [
            e for _, e in sorted(self.items.items())
            if (event_type is None or e.event_types is None or event_type in e.event_types)
            and (enabled is None or e.enabled is enabled)
        ]
"""

SUBCLASS = """
class TestStore(EndpointStoreContract):
    async def make_store(self):
        return {store}()

    def make_endpoint(self, **fields):
        return Hook(**fields)
"""


def test_a_correct_store_passes(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(test_store=REFERENCE + SUBCLASS.format(store="DictStore"))
    result = run_inner("-q")
    result.assert_outcomes(passed=11)


BROKEN = {
    "create_overwrites": (
        "async def create(self, endpoint):\n"
        "        self.items[endpoint.id] = endpoint\n"
        "        return endpoint",
        {"test_create_refuses_an_existing_id", "test_concurrent_creates_of_one_id_let_exactly_one_win"},
    ),
    "get_returns_none": (
        "async def get(self, endpoint_id):\n        return self.items.get(endpoint_id)",
        {"test_get_of_an_unknown_id_is_not_found", "test_delete_reports_whether_it_existed"},
    ),
    "update_upserts": (
        "async def update(self, endpoint):\n"
        "        self.items[endpoint.id] = endpoint\n"
        "        return endpoint",
        {"test_update_of_an_unknown_id_is_not_found"},
    ),
    "delete_always_true": (
        "async def delete(self, endpoint_id):\n"
        "        self.items.pop(endpoint_id, None)\n"
        "        return True",
        {"test_delete_reports_whether_it_existed"},
    ),
    "list_unsorted": (
        "async def list(self, *, event_type=None, enabled=None):\n"
        "        return list(reversed(await super().list(event_type=event_type, enabled=enabled)))",
        {"test_list_is_ordered_by_id_and_filters"},
    ),
    "list_ignores_filters": (
        "async def list(self, *, event_type=None, enabled=None):\n        return await super().list()",
        {"test_list_is_ordered_by_id_and_filters", "test_event_type_filter_is_exact"},
    ),
    "prefix_matching": (
        "async def list(self, *, event_type=None, enabled=None):\n"
        "        return [e for e in await super().list(enabled=enabled) if event_type is None\n"
        "                or e.event_types is None or any(t.startswith(event_type) for t in e.event_types)]",
        {"test_event_type_filter_is_exact"},
    ),
    "secrets_reordered": (
        "async def get(self, endpoint_id):\n"
        "        import dataclasses\n"
        "        e = await super().get(endpoint_id)\n"
        "        return dataclasses.replace(e, secrets=tuple(sorted(e.secrets)))",
        {"test_create_then_get_round_trips_every_field"},
    ),
    "drops_headers": (
        "async def create(self, endpoint):\n"
        "        import dataclasses\n"
        "        return await super().create(dataclasses.replace(endpoint, headers={}))",
        {"test_create_then_get_round_trips_every_field"},
    ),
    "racy_create": (
        "async def create(self, endpoint):\n"
        "        exists = endpoint.id in self.items\n"
        "        await asyncio.sleep(0)\n"
        "        if exists:\n"
        "            raise ConflictError('endpoint', endpoint.id, 'exists')\n"
        "        self.items[endpoint.id] = endpoint\n"
        "        return endpoint",
        {"test_concurrent_creates_of_one_id_let_exactly_one_win"},
    ),
}


@pytest.mark.parametrize("flaw", sorted(BROKEN))
def test_the_endpoint_store_contract_catches_a_broken_store(
    pytester: pytest.Pytester,
    run_inner: Callable[..., pytest.RunResult],
    flaw: str,
    failed_tests: Callable[[pytest.RunResult], set[str]],
) -> None:
    method, failing = BROKEN[flaw]
    broken = f"\n\nclass Broken(DictStore):\n    {method}\n"
    pytester.makepyfile(test_store=REFERENCE + broken + SUBCLASS.format(store="Broken"))
    result = run_inner("-q")
    failed = failed_tests(result)
    assert failing <= failed, result.stdout.str()


def test_hooks_that_are_not_implemented_fail_loudly(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        test_store="from buttress.testing import EndpointStoreContract\n\n"
        "class TestNothing(EndpointStoreContract):\n    pass\n"
    )
    result = run_inner("-q")
    assert "must implement make_store()" in result.stdout.str()
    result.assert_outcomes(errors=11)
