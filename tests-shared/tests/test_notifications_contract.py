"""PreferenceStoreContract and NotificationOutboxContract pass correct implementations and catch broken ones.

The preference store suite is duck-typed: its reference store lives in this file. The outbox suite
builds buttress-notifications' own jobs, so its broken outboxes are that package's `MemoryOutbox`
with one flaw each (buttress-notifications is in this package's test group for them).
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


# --- NotificationOutboxContract, on buttress-notifications' MemoryOutbox with one flaw each

OUTBOX = """
from buttress.notifications import MemoryOutbox
from buttress.testing import NotificationOutboxContract


class Outbox(MemoryOutbox):
    {method}


class TestOutbox(NotificationOutboxContract):
    async def make_outbox(self, *, clock):
        return Outbox(clock=clock)
"""

BROKEN_OUTBOXES = {
    "loses_a_job": (
        "async def enqueue(self, jobs):\n"
        "        stored = await super().enqueue(jobs)\n"
        "        if len(jobs) > 1:\n"
        "            del self._jobs[jobs[-1].id]\n"
        "        return stored",
        {"test_each_due_job_goes_to_one_claimer", "test_a_claim_respects_its_limit"},
    ),
    "ignores_the_dedupe_key": (
        "async def enqueue(self, jobs):\n"
        "        return await super().enqueue([job.but(dedupe_key=None) for job in jobs])",
        {"test_a_dedupe_key_is_stored_once_per_channel"},
    ),
    "dedupes_across_channels": (
        "async def enqueue(self, jobs):\n"
        "        stored = []\n"
        "        for job in jobs:\n"
        "            key = job.dedupe_key\n"
        "            same = [j for j in self._jobs.values() if key and j.dedupe_key == key]\n"
        "            stored += same[:1] or await super().enqueue([job])\n"
        "        return stored",
        {"test_a_dedupe_key_is_stored_once_per_channel"},
    ),
    "claims_before_the_job_is_due": (
        "async def claim(self, *, limit, lease):\n"
        "        for job in list(self._jobs.values()):\n"
        "            if job.status.value == 'pending':\n"
        "                self._jobs[job.id] = job.but(available_at=self.clock.now())\n"
        "        return await super().claim(limit=limit, lease=lease)",
        {"test_only_due_jobs_are_claimed"},
    ),
    "delivers_twice": (
        "async def claim(self, *, limit, lease):\n"
        "        claims = await super().claim(limit=limit, lease=lease)\n"
        "        for job in (job for claim in claims for job in claim.jobs):\n"
        "            self._jobs[job.id] = job.but(lease_until=self.clock.now())\n"
        "        return claims",
        {"test_each_due_job_goes_to_one_claimer", "test_an_expired_lease_is_claimed_again"},
    ),
    "splits_a_digest": (
        "async def enqueue(self, jobs):\n"
        "        return await super().enqueue(\n"
        "            [j.but(digest_group=f'{j.digest_group}{j.id}') if j.digest_group else j for j in jobs]\n"
        "        )",
        {"test_a_digest_group_is_claimed_whole"},
    ),
    "settle_ignores_the_lease": (
        "async def settle(self, claim, outcome, new=()):\n"
        "        for job in outcome:\n"
        "            self._tokens[job.id] = claim.token\n"
        "        await super().settle(claim, outcome, new)",
        {"test_a_lost_lease_ignores_the_late_settle"},
    ),
    "settle_drops_the_new_jobs": (
        "async def settle(self, claim, outcome, new=()):\n        await super().settle(claim, outcome)",
        {"test_settle_enqueues_new_jobs"},
    ),
    "requeue_keeps_the_attempts": (
        "async def requeue(self, job_id):\n"
        "        attempts = (await self.get(job_id)).attempts\n"
        "        job = self._jobs[job_id] = (await super().requeue(job_id)).but(attempts=attempts)\n"
        "        return job",
        {"test_requeue_revives_a_dead_job"},
    ),
    "purge_keeps_the_dedupe_keys": (
        "async def purge(self, before):\n"
        "        keys = dict(self._dedupe)\n"
        "        gone = await super().purge(before)\n"
        "        self._dedupe.update(keys)\n"
        "        return gone",
        {"test_purge_drops_old_final_jobs_and_frees_their_keys"},
    ),
}


def test_the_outbox_contract_passes_the_memory_outbox(contract_passes: Callable[..., int]) -> None:
    assert contract_passes(test_outbox=OUTBOX.format(method="pass")) == 12


@pytest.mark.parametrize("flaw", sorted(BROKEN_OUTBOXES))
def test_the_outbox_contract_catches_a_broken_outbox(
    contract_catches: Callable[..., set[str]], flaw: str
) -> None:
    method, failing = BROKEN_OUTBOXES[flaw]
    contract_catches(failing, test_outbox=OUTBOX.format(method=method))
