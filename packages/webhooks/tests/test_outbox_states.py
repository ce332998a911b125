"""The outbox as a state machine, and a worker process killed for real in the middle of a delivery."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import asyncpg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from buttress.testing import FakeClock, PostgresSchema
from buttress.webhooks import (
    Attempt,
    Claim,
    DeliveryStatus,
    DeliveryWorker,
    Endpoint,
    MemoryEndpointStore,
    MemoryOutbox,
    Outcome,
    PostgresOutbox,
    RetrySchedule,
)
from buttress.webhooks._delivery import decide

from .conftest import LOOPBACK, SECRET, Receiver

SCHEDULE = RetrySchedule((0, 10, 20), jitter=0)
STATUSES = st.sampled_from([200, 204, 302, 404, 410, 429, 500, 503, None])
LEASE = 30


class OutboxMachine(RuleBasedStateMachine):
    """Property: leases, attempts and statuses of the outbox follow the rules whatever the interleaving.

    Workers claim, answer with any status, die holding their claims, hang past their lease (a poison
    receiver: the pattern of issue 28), or give unsent claims back; time passes; an operator replays
    finished messages. Invariants: nothing is claimed by two
    workers at once; finished deliveries are never claimed again; no claim carries an attempt past
    the schedule (``attempt <= schedule.attempts``), and no stored delivery has used more; a delivery
    whose last attempt's lease ran out is dead, with the reason, never queued again; every delivery
    is pending, delivered, dead or cancelled.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.outbox: MemoryOutbox | PostgresOutbox = self.make_outbox(
            MemoryEndpointStore([Endpoint("http://127.0.0.1:9/", (SECRET,), id="ep")])
        )
        self.held: dict[int, tuple[Claim, datetime]] = {}  # delivery id -> live claim and its lease end
        self.finished: set[int] = set()
        self.messages: dict[int, str] = {}  # delivery id -> message id, learned from claims
        self.sent = 0
        self.sent_ids: list[str] = []
        self.tokens = 0

    def make_outbox(self, endpoints: MemoryEndpointStore) -> MemoryOutbox | PostgresOutbox:
        """The outbox under test (the embedded default here; PostgreSQL in the subclass)."""
        return MemoryOutbox(endpoints, schedule=SCHEDULE, clock=self.clock)

    def most_attempts_used(self) -> int:
        """The most attempts any stored delivery has used."""
        deliveries = [d for m in self.sent_ids for d in self.run(self.outbox.deliveries(m))]
        return max((d.attempts for d in deliveries), default=0)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    @rule()
    def send(self) -> None:
        message = self.run(self.outbox.send("e", {"n": self.sent}))
        self.sent_ids.append(message.id)
        self.sent += 1

    @rule(limit=st.integers(1, 3))
    def claim(self, limit: int) -> None:
        self.tokens += 1
        claims, dead = self.run(self.outbox.claim(limit=limit, lease=LEASE, token=f"w{self.tokens}"))
        now = self.clock.now()
        assert len(claims) + len(dead) <= limit
        for claim in claims:
            assert claim.delivery_id not in self.finished
            previous = self.held.get(claim.delivery_id)
            assert previous is None or previous[1] <= now, "claimed while another lease was live"
            assert 1 <= claim.attempt <= SCHEDULE.attempts, f"attempt {claim.attempt} handed out"
            self.held[claim.delivery_id] = (claim, now + timedelta(seconds=LEASE))
            self.messages[claim.delivery_id] = claim.message_id
        for item in dead:
            assert item.delivery_id not in self.finished
            previous = self.held.get(item.delivery_id)
            assert previous is None or previous[1] <= now, "buried while its last lease was live"
            assert item.attempts == SCHEDULE.attempts
            assert item.last_error is not None
            assert "lease expired on the last attempt" in item.last_error
            self.finished.add(item.delivery_id)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), status=STATUSES)
    def answer(self, data: st.DataObject, status: int | None) -> None:
        delivery_id = data.draw(st.sampled_from(sorted(self.held)))
        claim, lease_end = self.held.pop(delivery_id)
        now = self.clock.now()
        decision = decide(
            status_code=status,
            retry_after="0",
            attempt=claim.attempt,
            schedule=SCHEDULE,
            now=now,
            max_retry_after=60,
        )
        attempt = Attempt(
            claim.delivery_id,
            claim.message_id,
            claim.endpoint_id,
            claim.attempt,
            now,
            status,
            0.01,
            "",
            None,
            decision.outcome,
        )
        held, _ = self.run(
            self.outbox.settle([Outcome(claim, decision.status, decision.next_attempt_at, attempt)])
        )
        if now < lease_end:
            assert delivery_id in held
        if delivery_id in held and decision.status is not DeliveryStatus.PENDING:
            self.finished.add(delivery_id)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def nack_even_on_the_last_attempt(self, data: st.DataObject) -> None:
        """A caller asks to retry whatever the attempt: the outbox still never queues past the schedule."""
        delivery_id = data.draw(st.sampled_from(sorted(self.held)))
        claim, lease_end = self.held.pop(delivery_id)
        now = self.clock.now()
        outcome = Outcome(claim, DeliveryStatus.PENDING, now, None)
        held, _ = self.run(self.outbox.settle([outcome]))
        if now < lease_end:
            assert delivery_id in held
        if delivery_id in held and claim.attempt >= SCHEDULE.attempts:
            self.finished.add(delivery_id)  # buried: no attempt left

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def give_back_unsent(self, data: st.DataObject) -> None:
        """A worker shutting down releases a claim it never sent: the attempt is not used."""
        delivery_id = data.draw(st.sampled_from(sorted(self.held)))
        claim, lease_end = self.held.pop(delivery_id)
        released = self.run(self.outbox.release([claim]))
        if self.clock.now() < lease_end:
            assert released == 1

    @precondition(lambda self: self.held)
    @rule()
    def a_worker_dies(self) -> None:
        self.held.pop(min(self.held))  # its claim is simply never answered

    @rule(limit=st.integers(1, 3))
    def a_worker_claims_and_hangs_past_its_lease(self, limit: int) -> None:
        """The poison receiver: every claim of it ends with the lease running out, unanswered."""
        self.claim(limit)
        now = self.clock.now()
        for delivery_id in [d for d, (_, end) in self.held.items() if end > now]:
            del self.held[delivery_id]
        self.clock.advance(LEASE + 1)

    @rule(seconds=st.sampled_from([1, 10, 31]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self.finished & self.messages.keys())
    @rule(data=st.data())
    def an_operator_replays(self, data: st.DataObject) -> None:
        """Replay restarts a finished delivery's count on purpose: a new schedule, from attempt one."""
        delivery_id = data.draw(st.sampled_from(sorted(self.finished & self.messages.keys())))
        assert self.run(self.outbox.requeue(self.messages[delivery_id])) == 1
        self.finished.discard(delivery_id)
        (delivery,) = self.run(self.outbox.deliveries(self.messages[delivery_id]))
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)

    @invariant()
    def every_message_has_one_delivery_in_a_known_state(self) -> None:
        counts = self.run(self.outbox.counts())
        assert sum(counts.values()) == self.sent
        assert counts[DeliveryStatus.DELIVERED] + counts[DeliveryStatus.DEAD] + counts[
            DeliveryStatus.CANCELLED
        ] == len(self.finished)

    @invariant()
    def no_delivery_has_used_more_attempts_than_the_schedule_allows(self) -> None:
        assert self.most_attempts_used() <= SCHEDULE.attempts


class PostgresOutboxMachine(OutboxMachine):
    """The same machine on `PostgresOutbox`, in this module's schema."""

    schema: ClassVar[PostgresSchema]

    def make_outbox(self, endpoints: MemoryEndpointStore) -> PostgresOutbox:
        self.pool: Any = self.run(self._pool())
        outbox = PostgresOutbox(
            self.pool, endpoints, schedule=SCHEDULE, clock=self.clock, table=f"m{uuid.uuid4().hex[:8]}"
        )
        self.run(outbox.create_schema())
        return outbox

    async def _pool(self) -> Any:
        # Made inside the loop: asyncpg's pool binds to the running loop.
        return await asyncpg.create_pool(
            self.schema.dsn, min_size=1, max_size=2, server_settings=self.schema.server_settings
        )

    def most_attempts_used(self) -> int:
        # One query, not one per message: the machine checks this after every step.
        assert isinstance(self.outbox, PostgresOutbox)
        table = f"{self.outbox.table}_deliveries"
        return int(self.run(self.pool.fetchval(f"SELECT coalesce(max(attempts), 0) FROM {table}")))  # noqa: S608

    def teardown(self) -> None:
        assert isinstance(self.outbox, PostgresOutbox)
        self.run(self.outbox.drop_schema())
        self.run(self.pool.close())
        super().teardown()


@pytest.fixture(scope="module")
def _machine_schema(postgres_schema: PostgresSchema) -> None:
    PostgresOutboxMachine.schema = postgres_schema


# TestCases, not run_state_machine_as_test inside a function: hypothesis drives them visibly, so the
# randomized pass (`nox -s explore`, `pytest --explore`) runs them with new seeds on every CI run.
TestMemoryOutboxMachine = OutboxMachine.TestCase
TestMemoryOutboxMachine.settings = settings(max_examples=50, stateful_step_count=25, deadline=None)
TestOutboxMachine = pytest.mark.usefixtures("_machine_schema")(
    pytest.mark.postgres(PostgresOutboxMachine.TestCase)
)
TestOutboxMachine.settings = settings(max_examples=50, stateful_step_count=25, deadline=None)


@pytest.mark.parametrize("backend", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_issue_28_the_shrunk_sequence_in_the_state_machine(
    request: pytest.FixtureRequest, backend: str
) -> None:
    """Regression (issue 28), as the state machine found it: send; three times claim(limit=1) and let
    31 s pass (each lease runs out unanswered); a worker dies; claim again. That claim handed out
    ``Claim(attempt=4)`` under a three-attempt schedule; now it buries the delivery instead."""

    if backend == "postgres":

        class Machine(PostgresOutboxMachine):
            schema = request.getfixturevalue("postgres_schema")

        machine: OutboxMachine = Machine()
    else:
        machine = OutboxMachine()
    try:
        machine.send()
        for _ in range(3):
            machine.claim(limit=1)
            machine.time_passes(seconds=31)
            machine.every_message_has_one_delivery_in_a_known_state()
        machine.a_worker_dies()
        machine.claim(limit=1)
        machine.every_message_has_one_delivery_in_a_known_state()
        machine.no_delivery_has_used_more_attempts_than_the_schedule_allows()
        assert machine.run(machine.outbox.counts())[DeliveryStatus.DEAD] == 1
    finally:
        machine.teardown()


WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import asyncpg
    from buttress.webhooks import DeliveryWorker, Endpoint, MemoryEndpointStore, NetworkPolicy, PostgresOutbox

    async def main():
        dsn, schema, table, url, secret = sys.argv[1:6]
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings={"search_path": schema})
        store = MemoryEndpointStore([Endpoint(url, (secret,), id="ep_killed")])
        outbox = PostgresOutbox(pool, store, table=table)
        worker = DeliveryWorker(outbox, policy=NetworkPolicy(allow=["127.0.0.0/8"]), timeout=5, lease=30)
        print("claiming", flush=True)
        await worker.run_once()

    asyncio.run(main())
    """
)


@pytest.mark.postgres
async def test_a_worker_process_killed_mid_delivery_loses_nothing(
    outbox: PostgresOutbox, receiver: Receiver, postgres_schema: PostgresSchema, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    url = receiver.url(token, "hang-once")
    await outbox.endpoints.create(Endpoint(url, (SECRET,), id="ep_killed"))
    message = await outbox.send("e", {"kill": "me"})
    receiver.hang_seen.clear()
    receiver.release.clear()
    table = outbox.table
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER_SCRIPT,
        postgres_schema.dsn,
        postgres_schema.name,
        table,
        url,
        SECRET,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        assert await asyncio.to_thread(receiver.hang_seen.wait, 30), "the worker process never sent"
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL
    finally:
        receiver.release.set()
        if process.returncode is None:
            process.kill()
            await process.wait()
    (delivery,) = await outbox.deliveries(message.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    # The dead process leased it on the real clock; the delivery is due again when that lease ends.
    fake_clock.set(datetime.now(UTC))
    async with DeliveryWorker(outbox, policy=LOOPBACK, timeout=5, lease=30) as survivor:
        assert await survivor.run_once() == 0
        fake_clock.advance(31)
        assert await survivor.run_once() == 1
    (delivery,) = await outbox.deliveries(message.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert receiver.ids(token) == [message.id, message.id]
