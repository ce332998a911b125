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


# --- OutboxContract and ReplayGuardContract run on buttress-webhooks' records (skipped without it).

OUTBOX = """
from dataclasses import replace

from buttress.testing import OutboxContract
from buttress.webhooks import MemoryOutbox


class {name}(MemoryOutbox):
    {method}


class TestOutbox(OutboxContract):
    async def make_outbox(self, endpoints, *, schedule, clock):
        return {name}(endpoints, schedule=schedule, clock=clock)
"""

BROKEN_OUTBOXES = {
    "settle_ignores_the_lease": (
        "async def settle(self, outcomes):\n"
        "        for o in outcomes:\n"
        "            self._rows[o.claim.delivery_id].token = o.claim.token\n"
        "        return await super().settle(outcomes)",
        {"test_a_result_is_applied_under_the_held_lease_only"},
    ),
    "release_keeps_the_attempt": (
        "async def release(self, claims, *, until=None):\n"
        "        released = await super().release(claims, until=until)\n"
        "        for c in claims:\n"
        "            row = self._rows[c.delivery_id]\n"
        "            row.delivery = replace(row.delivery, attempts=row.delivery.attempts + 1)\n"
        "        return released",
        {"test_release_gives_an_unsent_attempt_back_once"},
    ),
    "cancel_does_nothing": (
        "async def cancel_endpoint(self, endpoint_id):\n        return 0",
        {"test_cancel_endpoint_cancels_what_is_pending"},
    ),
    "claims_twice": (
        "async def claim(self, *, limit, lease, token):\n"
        "        claims, dead = await super().claim(limit=limit, lease=lease, token=token)\n"
        "        for c in claims:\n"
        "            row = self._rows[c.delivery_id]\n"
        "            row.delivery = replace(row.delivery, next_attempt_at=self.clock.now())\n"
        "        return claims, dead",
        {"test_a_due_delivery_is_claimed_once_under_its_lease"},
    ),
}


def test_a_correct_outbox_passes(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytest.importorskip("buttress.webhooks")
    pytester.makepyfile(test_outbox=OUTBOX.format(name="Correct", method="pass"))
    result = run_inner("-q")
    result.assert_outcomes(passed=13)


@pytest.mark.parametrize("flaw", sorted(BROKEN_OUTBOXES))
def test_the_outbox_contract_catches_a_broken_outbox(
    pytester: pytest.Pytester,
    run_inner: Callable[..., pytest.RunResult],
    flaw: str,
    failed_tests: Callable[[pytest.RunResult], set[str]],
) -> None:
    pytest.importorskip("buttress.webhooks")
    method, failing = BROKEN_OUTBOXES[flaw]
    pytester.makepyfile(test_outbox=OUTBOX.format(name="Broken", method=method))
    result = run_inner("-q")
    assert failing <= failed_tests(result), result.stdout.str()


GUARD = """
from buttress.testing import FakeClock, ReplayGuardContract
from buttress.webhooks import MemoryReplayGuard


class {name}(MemoryReplayGuard):
    {method}


class TestGuard(ReplayGuardContract):
    async def make_guard(self):
        self.clock = FakeClock()
        return {name}(clock=self.clock)

    async def wait(self, guard, seconds):
        self.clock.advance(seconds)
"""

BROKEN_GUARDS = {
    "release_ignores_the_token": (
        "async def release(self, key, token):\n        self._entries.pop(key, None)",
        {"test_release_frees_the_id_for_the_holding_claim_only", "test_complete_makes_the_id_a_replay"},
    ),
    "complete_does_nothing": (
        "async def complete(self, key, ttl):\n        return None",
        {"test_complete_makes_the_id_a_replay", "test_a_done_mark_runs_out_with_its_ttl"},
    ),
}


def test_a_correct_replay_guard_passes(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult]
) -> None:
    pytest.importorskip("buttress.webhooks")
    pytester.makepyfile(test_guard=GUARD.format(name="Correct", method="pass"))
    result = run_inner("-q")
    result.assert_outcomes(passed=7)


@pytest.mark.parametrize("flaw", sorted(BROKEN_GUARDS))
def test_the_replay_guard_contract_catches_a_broken_guard(
    pytester: pytest.Pytester,
    run_inner: Callable[..., pytest.RunResult],
    flaw: str,
    failed_tests: Callable[[pytest.RunResult], set[str]],
) -> None:
    pytest.importorskip("buttress.webhooks")
    method, failing = BROKEN_GUARDS[flaw]
    pytester.makepyfile(test_guard=GUARD.format(name="Broken", method=method))
    result = run_inner("-q")
    assert failing <= failed_tests(result), result.stdout.str()
