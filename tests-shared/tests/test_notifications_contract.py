"""PreferenceStoreContract passes a small correct store and catches broken ones.

buttress-notifications is not installed here: the reference store lives in this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from buttress.testing import PreferenceStoreContract

REFERENCE = """
import asyncio
import copy
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Prefs:
    user_id: str
    timezone: str = "UTC"
    choices: dict = field(default_factory=dict)
    quiet_hours: tuple = ()


class DictStore:
    def __init__(self):
        self.data = {}

    async def get(self, user_id):
        return self.data.get(user_id)

    async def put(self, prefs):
        self.data[prefs.user_id] = prefs

    async def delete(self, user_id):
        return self.data.pop(user_id, None) is not None


class Factories:
    def make_preferences(self, user_id, *, timezone="UTC", choices=None, quiet_hours=()):
        return Prefs(user_id, timezone, dict(choices or {}), tuple(quiet_hours))
"""

namespace: dict[str, Any] = {"__name__": "preferences_reference"}
exec(compile(REFERENCE, "preferences_reference", "exec", dont_inherit=True), namespace)  # noqa: S102


class TestDictStore(namespace["Factories"], PreferenceStoreContract):  # type: ignore[misc]
    async def make_store(self) -> Any:
        return namespace["DictStore"]()


BROKEN = {
    "put-merges": (
        "async def put(self, prefs):\n"
        "        old = self.data.get(prefs.user_id)\n"
        "        if old is not None:\n"
        "            merged = {**old.choices, **prefs.choices}\n"
        "            prefs = Prefs(prefs.user_id, prefs.timezone, merged, prefs.quiet_hours)\n"
        "        self.data[prefs.user_id] = prefs",
        "test_put_replaces_the_whole_document",
    ),
    "delete-always-true": (
        "async def delete(self, user_id):\n        self.data.pop(user_id, None)\n        return True",
        "test_delete_reports_what_it_did",
    ),
    "ids-fold-case": (
        "async def get(self, user_id):\n        return self.data.get(user_id.lower())\n"
        "    async def put(self, prefs):\n        self.data[prefs.user_id.lower()] = prefs\n"
        "    async def delete(self, user_id):\n"
        "        return self.data.pop(user_id.lower(), None) is not None",
        "test_users_are_distinct",
    ),
    "drops-quiet-hours": (
        "async def put(self, prefs):\n"
        "        self.data[prefs.user_id] = Prefs(prefs.user_id, prefs.timezone, prefs.choices, ())",
        "test_preferences_round_trip",
    ),
    "forgets-timezone": (
        "async def put(self, prefs):\n"
        "        self.data[prefs.user_id] = Prefs(prefs.user_id, 'UTC', prefs.choices, prefs.quiet_hours)",
        "test_preferences_round_trip",
    ),
    "racy-put": (
        "async def put(self, prefs):\n"
        "        snapshot = dict(self.data)\n"
        "        await asyncio.sleep(0)\n"
        "        snapshot[prefs.user_id] = prefs\n"
        "        self.data = snapshot",
        "test_concurrent_writers_lose_nothing",
    ),
    "mixes-writes": (
        "async def put(self, prefs):\n"
        "        self.zones = getattr(self, 'zones', {})\n"
        "        self.zones[prefs.user_id] = prefs.timezone\n"
        "        if prefs.timezone == 'UTC':\n"
        "            await asyncio.sleep(0)\n"
        "        self.data[prefs.user_id] = prefs\n"
        "    async def get(self, user_id):\n"
        "        p = self.data.get(user_id)\n"
        "        if p is None:\n"
        "            return None\n"
        "        return Prefs(p.user_id, self.zones[user_id], p.choices, p.quiet_hours)",
        "test_concurrent_writes_of_one_user_leave_one_whole_document",
    ),
}


STORE = """
import asyncio
from buttress.testing import PreferenceStoreContract
from reference import DictStore, Factories, Prefs

class Broken(DictStore):
    {method}

class TestBroken(Factories, PreferenceStoreContract):
    async def make_store(self):
        return Broken()
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN))
def test_the_contract_catches_a_broken_store(contract_catches: Callable[..., set[str]], flaw: str) -> None:
    method, failing_test = BROKEN[flaw]
    module = STORE.format(method=method)
    contract_catches(failing_test, "-p", "no:randomly", reference=REFERENCE, test_broken=module)


def test_the_contract_passes_the_reference(contract_passes: Callable[..., int]) -> None:
    passed = contract_passes(
        "-p",
        "no:randomly",
        reference=REFERENCE,
        test_good="""
from buttress.testing import PreferenceStoreContract
from reference import DictStore, Factories

class TestGood(Factories, PreferenceStoreContract):
    async def make_store(self):
        return DictStore()
""",
    )
    assert passed == 8
