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
    run_state_machine_as_test,
)

from buttress.testing import FakeClock, PostgresSchema
from buttress.webhooks import (
    Attempt,
    Claim,
    DeliveryStatus,
    DeliveryWorker,
    Endpoint,
    MemoryEndpointStore,
    PostgresOutbox,
    RetrySchedule,
)
from buttress.webhooks._delivery import decide
from buttress.webhooks._postgres import Outcome

from .conftest import LOOPBACK, SECRET, Receiver

pytestmark = pytest.mark.postgres

SCHEDULE = RetrySchedule((0, 10, 20), jitter=0)
STATUSES = st.sampled_from([200, 204, 302, 404, 410, 429, 500, 503, None])


class OutboxMachine(RuleBasedStateMachine):
    """Property: leases, attempts and statuses of the outbox follow the rules whatever the interleaving.

    Workers claim, answer with any status (or die holding their claims), and time passes. Invariants:
    nothing is claimed by two workers at once; finished deliveries are never claimed again; attempts
    never exceed the schedule; every delivery is pending, delivered, dead or cancelled.
    """

    schema: ClassVar[PostgresSchema]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.pool: Any = self.run(self._pool())
        self.outbox = PostgresOutbox(
            self.pool,
            MemoryEndpointStore([Endpoint("http://127.0.0.1:9/", (SECRET,), id="ep")]),
            schedule=SCHEDULE,
            clock=self.clock,
            table_prefix=f"m{uuid.uuid4().hex[:8]}_",
        )
        self.run(self.outbox.create_schema())
        self.held: dict[int, tuple[Claim, datetime]] = {}  # delivery id -> live claim and its lease end
        self.finished: set[int] = set()
        self.sent = 0
        self.tokens = 0

    async def _pool(self) -> Any:
        return await asyncpg.create_pool(
            self.schema.dsn, min_size=1, max_size=2, server_settings=self.schema.server_settings
        )

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        prefix = self.outbox.table_prefix
        self.run(
            self.pool.execute(
                f"DROP TABLE IF EXISTS {prefix}attempts, {prefix}deliveries, {prefix}messages, "
                f"{prefix}endpoint_health CASCADE"
            )
        )
        self.run(self.pool.close())
        self.loop.close()

    @rule()
    def send(self) -> None:
        self.run(self.outbox.send("e", {"n": self.sent}))
        self.sent += 1

    @rule(limit=st.integers(1, 3))
    def claim(self, limit: int) -> None:
        self.tokens += 1
        claims = self.run(self.outbox.claim(limit=limit, lease=30, token=f"w{self.tokens}"))
        now = self.clock.now()
        for claim in claims:
            assert claim.delivery_id not in self.finished
            previous = self.held.get(claim.delivery_id)
            assert previous is None or previous[1] <= now, "claimed while another lease was live"
            assert claim.attempt <= SCHEDULE.attempts
            self.held[claim.delivery_id] = (claim, now + timedelta(seconds=30))

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
            self.outbox.complete_many([Outcome(claim, decision.status, decision.next_attempt_at, attempt)])
        )
        if now < lease_end:
            assert delivery_id in held
        if delivery_id in held and decision.status is not DeliveryStatus.PENDING:
            self.finished.add(delivery_id)

    @precondition(lambda self: self.held)
    @rule()
    def a_worker_dies(self) -> None:
        self.held.pop(min(self.held))  # its claim is simply never answered

    @rule(seconds=st.sampled_from([1, 10, 31]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def every_message_has_one_delivery_in_a_known_state(self) -> None:
        counts = self.run(self.outbox.counts())
        assert sum(counts.values()) == self.sent
        assert counts[DeliveryStatus.DELIVERED] + counts[DeliveryStatus.DEAD] + counts[
            DeliveryStatus.CANCELLED
        ] == len(self.finished)


def test_the_outbox_state_machine(postgres_schema: PostgresSchema) -> None:
    class Machine(OutboxMachine):
        schema = postgres_schema

    run_state_machine_as_test(
        Machine, settings=settings(max_examples=12, stateful_step_count=25, deadline=None)
    )


WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import asyncpg
    from buttress.webhooks import DeliveryWorker, Endpoint, MemoryEndpointStore, NetworkPolicy, PostgresOutbox

    async def main():
        dsn, schema, prefix, url, secret = sys.argv[1:6]
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings={"search_path": schema})
        store = MemoryEndpointStore([Endpoint(url, (secret,), id="ep_killed")])
        outbox = PostgresOutbox(pool, store, table_prefix=prefix)
        worker = DeliveryWorker(outbox, policy=NetworkPolicy(allow=["127.0.0.0/8"]), timeout=5, lease=30)
        print("claiming", flush=True)
        await worker.run_once()

    asyncio.run(main())
    """
)


async def test_a_worker_process_killed_mid_delivery_loses_nothing(
    outbox: PostgresOutbox, receiver: Receiver, postgres_schema: PostgresSchema, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    url = receiver.url(token, "hang-once")
    await outbox.endpoints.create(Endpoint(url, (SECRET,), id="ep_killed"))
    message = await outbox.send("e", {"kill": "me"})
    receiver.hang_seen.clear()
    receiver.release.clear()
    prefix = outbox.table_prefix
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER_SCRIPT,
        postgres_schema.dsn,
        postgres_schema.name,
        prefix,
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
