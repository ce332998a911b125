"""The webhook suites pass correct implementations and catch broken ones, without buttress-webhooks.

Each reference here is written against the Protocol's shape only (records of its own, plain-str
statuses), as a user's implementation would be, and buttress-webhooks cannot be imported in the
inner runs: the suites are duck-typed, so the references pass them, and each flaw fails them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

# An endpoint store and its records: the endpoint-store suite's reference, and the store the outbox
# reference delivers to.
ENDPOINTS = """
from dataclasses import dataclass, field
from datetime import datetime

from buttress.core import ConflictError, NotFoundError


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

# An outbox and a replay guard with records of their own (plain-str statuses) and no buttress-webhooks.
DELIVERY = """
import json
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta

from endpoints import DictStore, Hook


@dataclass(frozen=True)
class Schedule:
    delays: tuple

    @property
    def attempts(self):
        return len(self.delays)


Claim = namedtuple("Claim", "delivery_id message_id endpoint_id attempt event_type body token")


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    status: str
    next_attempt_at: datetime | None
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class Message:
    id: str


@dataclass
class Row:
    id: int
    message_id: str
    endpoint_id: str
    event_type: str
    body: bytes
    due: datetime
    status: str = "pending"
    attempts: int = 0
    token: str | None = None
    last_error: str | None = None


class ListOutbox:
    def __init__(self, endpoints, *, schedule, clock):
        self.endpoints, self.schedule, self.clock = endpoints, schedule, clock
        self.rows = []
        self.failing = {}
        self.sent = 0

    async def send(self, event_type, payload):
        self.sent += 1
        message = Message(f"msg_{self.sent}")
        body = json.dumps(payload, separators=(",", ":")).encode()
        due = self.clock.now() + timedelta(seconds=self.schedule.delays[0])
        for hook in await self.endpoints.list(event_type=event_type, enabled=True):
            self.rows.append(Row(len(self.rows) + 1, message.id, hook.id, event_type, body, due))
        return message

    async def deliveries(self, message_id):
        return sorted((r for r in self.rows if r.message_id == message_id), key=lambda r: r.endpoint_id)

    async def claim(self, *, limit, lease, token):
        if limit < 1 or lease <= 0:
            raise ValueError("limit and lease must be positive")
        now = self.clock.now()
        due = sorted((r for r in self.rows if r.status == "pending" and r.due <= now), key=lambda r: r.due)
        claims, dead = [], []
        for row in due[:limit]:
            if row.attempts < self.schedule.attempts:
                row.attempts += 1
                row.due, row.token = now + timedelta(seconds=lease), token
                fields = (row.message_id, row.endpoint_id, row.attempts, row.event_type, row.body)
                claims.append(Claim(row.id, *fields, token))
                continue
            row.status = "dead"
            row.last_error = "lease expired on the last attempt" if row.token else "no attempt left"
            row.token = None
            dead.append(row)
        return claims, dead

    async def settle(self, outcomes):
        held = set()
        for outcome in outcomes:
            row = self.rows[outcome.claim.delivery_id - 1]
            if row.token is None or row.token != outcome.claim.token:
                continue
            held.add(row.id)
            row.token, row.status, row.due = None, outcome.status, outcome.next_attempt_at
            if row.status == "pending" and row.attempts >= self.schedule.attempts:
                row.status = "dead"
        healthy = {o.claim.endpoint_id for o in outcomes if o.status == "delivered"}
        for endpoint_id in healthy:
            self.failing.pop(endpoint_id, None)
        now = self.clock.now()
        failing = {o.claim.endpoint_id for o in outcomes} - healthy
        return held, {e: self.failing.setdefault(e, now) for e in failing}

    async def release(self, claims, *, until=None):
        released = 0
        for claim in claims:
            row = self.rows[claim.delivery_id - 1]
            if row.token is None or row.token != claim.token or row.status != "pending":
                continue
            row.token, row.attempts = None, row.attempts - 1
            row.due = self.clock.now() if until is None else until
            released += 1
        return released

    async def cancel_endpoint(self, endpoint_id):
        pending = [r for r in self.rows if r.endpoint_id == endpoint_id and r.status == "pending"]
        for row in pending:
            row.status, row.token = "cancelled", None
        return len(pending)


class Records:
    def make_endpoint(self, **fields):
        return Hook(**fields)

    async def make_endpoint_store(self, endpoints):
        store = DictStore()
        for endpoint in endpoints:
            await store.create(endpoint)
        return store

    def make_schedule(self, delays):
        return Schedule(tuple(delays))

    def make_outcome(self, claim, status, *, next_attempt_at, attempted_at, status_code, error):
        return Outcome(claim, status, next_attempt_at, status_code, error)


@dataclass(frozen=True)
class Answer:
    status: str
    token: str = ""
    lease_left: float = 0.0


class DictGuard:
    def __init__(self, clock):
        self.clock = clock
        self.entries = {}  # key -> (kind, token, until)

    async def claim(self, key, lease):
        now = self.clock.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry[2] > now:
            kind, _, until = entry
            return Answer("done") if kind == "done" else Answer("in_flight", lease_left=until - now)
        token = uuid.uuid4().hex
        self.entries[key] = ("lease", token, now + lease)
        return Answer("claimed", token)

    async def complete(self, key, ttl):
        self.entries[key] = ("done", "", self.clock.monotonic() + ttl)

    async def release(self, key, token):
        entry = self.entries.get(key)
        if entry is not None and entry[:2] == ("lease", token):
            del self.entries[key]
"""

# The test module of one inner run: ``{method}`` is the flaw added to the reference (``pass`` for none).
# Importing buttress-webhooks fails there, as if it were not installed.
WITHOUT_WEBHOOKS = """
import asyncio
import sys
import uuid

sys.modules["buttress.webhooks"] = None

from buttress.core import ConflictError
from buttress.testing import EndpointStoreContract, FakeClock, OutboxContract, ReplayGuardContract
from delivery import Answer, DictGuard, ListOutbox, Records
from endpoints import DictStore, Hook
"""

ENDPOINT_STORE = (
    WITHOUT_WEBHOOKS
    + """

class Store(DictStore):
    {method}


class TestStore(EndpointStoreContract):
    async def make_store(self):
        return Store()

    def make_endpoint(self, **fields):
        return Hook(**fields)
"""
)

OUTBOX = (
    WITHOUT_WEBHOOKS
    + """

class Outbox(ListOutbox):
    {method}


class TestOutbox(Records, OutboxContract):
    async def make_outbox(self, endpoints, *, schedule, clock):
        return Outbox(endpoints, schedule=schedule, clock=clock)
"""
)

GUARD = (
    WITHOUT_WEBHOOKS
    + """

class Guard(DictGuard):
    {method}


class TestGuard(ReplayGuardContract):
    async def make_guard(self):
        self.clock = FakeClock()
        return Guard(self.clock)

    async def wait(self, guard, seconds):
        self.clock.advance(seconds)
"""
)

BROKEN_STORES = {
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


BROKEN_OUTBOXES = {
    "loses_every_other_message": (
        "async def send(self, event_type, payload):\n"
        "        message = await super().send(event_type, payload)\n"
        "        if self.sent % 2 == 0:\n"
        "            self.rows = [r for r in self.rows if r.message_id != message.id]\n"
        "        return message",
        {
            "test_only_subscribed_enabled_endpoints_get_a_delivery",
            "test_limit_bounds_a_claim_and_concurrent_claimers_never_share",
        },
    ),
    "delivers_twice": (
        "async def claim(self, *, limit, lease, token):\n"
        "        claims, dead = await super().claim(limit=limit, lease=lease, token=token)\n"
        "        for c in claims:\n"
        "            self.rows[c.delivery_id - 1].due = self.clock.now()\n"
        "        return claims, dead",
        {
            "test_a_due_delivery_is_claimed_once_under_its_lease",
            "test_limit_bounds_a_claim_and_concurrent_claimers_never_share",
        },
    ),
    "settle_ignores_the_lease": (
        "async def settle(self, outcomes):\n"
        "        for o in outcomes:\n"
        "            self.rows[o.claim.delivery_id - 1].token = o.claim.token\n"
        "        return await super().settle(outcomes)",
        {"test_a_result_is_applied_under_the_held_lease_only"},
    ),
    "an_expired_lease_gives_its_attempt_back": (
        "async def claim(self, *, limit, lease, token):\n"
        "        for row in self.rows:\n"
        "            if row.token is not None and row.status == 'pending' and row.due <= self.clock.now():\n"
        "                row.token, row.attempts = None, row.attempts - 1\n"
        "        return await super().claim(limit=limit, lease=lease, token=token)",
        {
            "test_a_lease_that_runs_out_makes_the_next_attempt_claimable",
            "test_a_last_attempt_whose_lease_ran_out_is_dead_never_claimed_again",
        },
    ),
    "retries_after_the_last_attempt": (
        "async def settle(self, outcomes):\n"
        "        held, failing = await super().settle(outcomes)\n"
        "        for row in self.rows:\n"
        "            if row.status == 'dead':\n"
        "                row.status = 'pending'\n"
        "        return held, failing",
        {"test_a_retry_asked_for_after_the_last_attempt_is_dead"},
    ),
    "release_keeps_the_attempt": (
        "async def release(self, claims, *, until=None):\n"
        "        released = await super().release(claims, until=until)\n"
        "        for c in claims:\n"
        "            self.rows[c.delivery_id - 1].attempts += 1\n"
        "        return released",
        {"test_release_gives_an_unsent_attempt_back_once"},
    ),
    "cancel_does_nothing": (
        "async def cancel_endpoint(self, endpoint_id):\n        return 0",
        {"test_cancel_endpoint_cancels_what_is_pending"},
    ),
    "failing_period_restarts": (
        "async def settle(self, outcomes):\n"
        "        self.failing.clear()\n"
        "        return await super().settle(outcomes)",
        {"test_failing_endpoints_are_reported_with_the_start_of_their_failing_period"},
    ),
    "takes_any_limit": (
        "async def claim(self, *, limit, lease, token):\n"
        "        return await super().claim(limit=max(limit, 1), lease=lease, token=token)",
        {"test_bad_arguments_are_refused_with_a_value_error"},
    ),
    "keeps_its_own_clock": (
        "def __init__(self, endpoints, *, schedule, clock):\n"
        "        from buttress.testing import FakeClock\n"
        "        super().__init__(endpoints, schedule=schedule, clock=FakeClock())\n"
        "        self.clock.advance(1)",
        {"test_it_is_an_outbox", "test_a_lease_that_runs_out_makes_the_next_attempt_claimable"},
    ),
}


BROKEN_GUARDS = {
    "forgets_every_claim": (
        "async def claim(self, key, lease):\n"
        "        answer = await super().claim(key, lease)\n"
        "        if answer.status == 'claimed':\n"
        "            del self.entries[key]\n"
        "        return answer",
        {
            "test_a_free_id_is_claimed_then_in_flight",
            "test_concurrent_claims_of_a_free_id_give_it_to_exactly_one",
        },
    ),
    "complete_forgets": (
        "async def complete(self, key, ttl):\n        return None",
        {"test_complete_makes_the_id_a_replay", "test_a_done_mark_runs_out_with_its_ttl"},
    ),
    "release_ignores_the_token": (
        "async def release(self, key, token):\n        self.entries.pop(key, None)",
        {"test_release_frees_the_id_for_the_holding_claim_only", "test_complete_makes_the_id_a_replay"},
    ),
    "a_lease_never_runs_out": (
        "async def claim(self, key, lease):\n        return await super().claim(key, 10**9)",
        {"test_a_lease_runs_out_and_a_stale_release_frees_nothing"},
    ),
    "a_done_mark_never_runs_out": (
        "async def complete(self, key, ttl):\n        await super().complete(key, 10**9)",
        {"test_a_done_mark_runs_out_with_its_ttl"},
    ),
    "racy_claim": (
        "async def claim(self, key, lease):\n"
        "        if self.entries.get(key) is not None:\n"
        "            return await super().claim(key, lease)\n"
        "        await asyncio.sleep(0)  # looked, then writes: two steps\n"
        "        token = uuid.uuid4().hex\n"
        "        self.entries[key] = ('lease', token, self.clock.monotonic() + lease)\n"
        "        return Answer('claimed', token)",
        {"test_concurrent_claims_of_a_free_id_give_it_to_exactly_one"},
    ),
}


# suite -> (its test module, its flaws, how many checks it has)
SUITES = {
    "endpoint_store": (ENDPOINT_STORE, BROKEN_STORES, 11),
    "outbox": (OUTBOX, BROKEN_OUTBOXES, 13),
    "replay_guard": (GUARD, BROKEN_GUARDS, 7),
}


def _modules(suite: str, method: str) -> dict[str, str]:
    return {
        "endpoints": ENDPOINTS,
        "delivery": DELIVERY,
        "test_suite": SUITES[suite][0].format(method=method),
    }


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_an_implementation_with_only_the_protocols_shape_passes(
    contract_passes: Callable[..., int], suite: str
) -> None:
    assert contract_passes(**_modules(suite, "pass")) == SUITES[suite][2]


@pytest.mark.parametrize(
    ("suite", "flaw"),
    [(suite, flaw) for suite, (_, flaws, _) in sorted(SUITES.items()) for flaw in sorted(flaws)],
)
def test_the_suite_catches_a_broken_implementation(
    contract_catches: Callable[..., set[str]], suite: str, flaw: str
) -> None:
    method, failing = SUITES[suite][1][flaw]
    contract_catches(failing, **_modules(suite, method))


@pytest.mark.parametrize(
    ("suite", "hook", "checks"),
    [
        ("EndpointStoreContract", "make_store", 11),
        ("OutboxContract", "make_endpoint", 13),
        ("ReplayGuardContract", "make_guard", 7),
    ],
)
def test_hooks_that_are_not_implemented_fail_loudly(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult], suite: str, hook: str, checks: int
) -> None:
    nothing = f"from buttress.testing import {suite}\n\nclass TestNothing({suite}):\n    pass\n"
    pytester.makepyfile(test_nothing=nothing)
    result = run_inner("-q")
    assert f"must implement {hook}()" in result.stdout.str()
    result.assert_outcomes(errors=checks)
