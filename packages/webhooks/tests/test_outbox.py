"""The PostgreSQL outbox and delivery workers, against a real local HTTP receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buttress.testing import FakeClock, PostgresSchema, PostgresServer
from buttress.webhooks import (
    DeadDelivery,
    DeliveryStatus,
    DeliveryWorker,
    Endpoint,
    MemoryEndpointStore,
    MessageNotFoundError,
    Outcome,
    PostgresOutbox,
    RetrySchedule,
    WebhooksConfigurationError,
    WebhooksTypeError,
    WebhooksUnavailableError,
    generate_secret,
)

from .conftest import LOOPBACK, SECRET, Receiver

pytestmark = pytest.mark.postgres


async def endpoint(outbox: PostgresOutbox, url: str, **fields: Any) -> Endpoint:
    return await outbox.endpoints.create(Endpoint(url, (SECRET,), **fields))


def worker(outbox: PostgresOutbox, **options: Any) -> DeliveryWorker:
    options.setdefault("policy", LOOPBACK)
    return DeliveryWorker(outbox, timeout=5, lease=30, **options)


@asynccontextmanager
async def outbox_on_a_pool_of_one(
    schema: PostgresSchema, table: str, clock: FakeClock
) -> AsyncIterator[tuple[asyncpg.Pool[Any], PostgresOutbox]]:
    """An outbox on the application's own pool of one connection (so every release is that pool's)."""
    settings = schema.server_settings
    pool = await asyncpg.create_pool(schema.dsn, min_size=1, max_size=1, server_settings=settings)
    box = PostgresOutbox(pool, MemoryEndpointStore(), table=table, clock=clock)
    try:
        await box.create_schema()
        yield pool, box
    finally:
        await box.drop_schema()
        await pool.close()


def log_queries(connection: Any, keep: Callable[[str], bool]) -> list[str]:
    """The queries ``connection`` runs from now on for which ``keep`` is true, as a growing list
    (asyncpg logs every query it runs, its pool's reset query included)."""
    seen: list[str] = []
    connection.add_query_logger(lambda record: seen.append(record.query) if keep(record.query) else None)
    return seen


async def test_a_message_is_delivered_signed_and_logged(outbox: PostgresOutbox, receiver: Receiver) -> None:
    token = receiver.token()
    ep = await endpoint(outbox, receiver.url(token), headers={"X-Team": "billing"})
    message = await outbox.send("invoice.paid", {"id": 1, "total": "9.99"})
    assert message.body == b'{"id":1,"total":"9.99"}'
    async with worker(outbox) as w:
        assert await w.drain() == 1
    assert receiver.ids(token) == [message.id]
    assert receiver.rejected[token] == 0
    (delivery,) = await outbox.deliveries(message.id)
    assert (delivery.status, delivery.attempts, delivery.endpoint_id) == (DeliveryStatus.DELIVERED, 1, ep.id)
    assert delivery.finished_at == outbox.clock.now()
    (attempt,) = await outbox.attempts(message.id)
    assert (attempt.status_code, attempt.outcome, attempt.response_body, attempt.error) == (
        200,
        "delivered",
        "thanks",
        None,
    )
    assert attempt.latency > 0
    assert (await outbox.message(message.id)).body == message.body


async def test_only_enabled_subscribed_endpoints_get_deliveries(
    outbox: PostgresOutbox, receiver: Receiver
) -> None:
    token = receiver.token()
    wanted = await endpoint(outbox, receiver.url(token), event_types=frozenset({"a"}))
    await endpoint(outbox, receiver.url(token), event_types=frozenset({"b"}))
    await endpoint(outbox, receiver.url(token), enabled=False)
    catch_all = await endpoint(outbox, receiver.url(token))
    message = await outbox.send("a", b'{"raw": true}')
    assert sorted(d.endpoint_id for d in await outbox.deliveries(message.id)) == sorted(
        [wanted.id, catch_all.id]
    )
    assert (await outbox.send("nobody", {})).id  # recorded even with no subscriber


async def test_failures_follow_the_schedule_then_die_with_a_callback(
    outbox: PostgresOutbox, receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    await endpoint(outbox, receiver.url(token, "fail"))
    dead: list[DeadDelivery] = []

    async def on_dead(item: DeadDelivery) -> None:
        dead.append(item)

    message = await outbox.send("e", {})
    async with worker(outbox, on_dead=on_dead, response_body_limit=100) as w:
        for wait in (5, 300, 1800):
            assert await w.run_once() == 1
            assert await w.run_once() == 0  # not due yet
            fake_clock.advance(wait - 1)
            assert await w.run_once() == 0
            fake_clock.advance(1)
        assert await w.run_once() == 1
    (delivery,) = await outbox.deliveries(message.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DEAD, 4, 500)
    attempts = await outbox.attempts(message.id)
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry", "dead"]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    assert all(a.response_body == "x" * 100 for a in attempts)
    assert [(d.message_id, d.attempts, d.last_status_code) for d in dead] == [(message.id, 4, 500)]
    assert len(receiver.ids(token)) == 4


@pytest.mark.parametrize(
    ("after", "expected"), [("120", 120.0), ("0", 0.0), ("999999", 3600.0), ("soon", 5.0)]
)
async def test_503_honours_retry_after(
    outbox: PostgresOutbox, receiver: Receiver, after: str, expected: float
) -> None:
    token = receiver.token()
    await endpoint(outbox, receiver.url(token, "busy", after=after))
    message = await outbox.send("e", {})
    async with worker(outbox, max_retry_after=3600) as w:
        await w.run_once()
    (delivery,) = await outbox.deliveries(message.id)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at == outbox.clock.now() + timedelta(seconds=expected)


async def test_410_disables_the_endpoint_and_cancels_its_deliveries(
    outbox: PostgresOutbox, receiver: Receiver
) -> None:
    token = receiver.token()
    ep = await endpoint(outbox, receiver.url(token, "gone"))
    disabled: list[Endpoint] = []

    async def on_disabled(item: Endpoint) -> None:
        disabled.append(item)

    first = await outbox.send("e", {})
    second = await outbox.send("e", {})
    async with worker(outbox, batch_size=1, concurrency=1, on_endpoint_disabled=on_disabled) as w:
        assert await w.run_once() == 1
        assert await w.drain() == 0  # the other delivery was cancelled with the endpoint
    assert [e.id for e in disabled] == [ep.id]
    stored = await outbox.endpoints.get(ep.id)
    assert not stored.enabled
    assert "410" in str(stored.disabled_reason)
    statuses = {m.id: (await outbox.deliveries(m.id))[0].status for m in (first, second)}
    assert set(statuses.values()) == {DeliveryStatus.CANCELLED}
    assert len(receiver.ids(token)) == 1
    assert await outbox.send("e", {})
    assert (await outbox.counts())[DeliveryStatus.PENDING] == 0


async def test_a_redirect_is_a_failure_and_is_not_followed(
    outbox: PostgresOutbox, receiver: Receiver
) -> None:
    token = receiver.token()
    await endpoint(outbox, receiver.url(token, "redirect"))
    message = await outbox.send("e", {})
    async with worker(outbox) as w:
        await w.run_once()
    (attempt,) = await outbox.attempts(message.id)
    assert (attempt.status_code, attempt.outcome) == (302, "retry")
    assert len(receiver.ids(token)) == 1


async def test_an_endpoint_failing_for_the_period_is_disabled(
    outbox: PostgresOutbox, receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    failing = await endpoint(outbox, receiver.url(token, "fail"))
    await outbox.send("e", {})
    async with worker(outbox, disable_after=timedelta(minutes=10)) as w:
        await w.run_once()
        fake_clock.advance(5)
        await w.run_once()
        assert (await outbox.endpoints.get(failing.id)).enabled
        fake_clock.advance(300)
        await w.run_once()  # failing for 305 s < 600 s
        assert (await outbox.endpoints.get(failing.id)).enabled
        fake_clock.advance(1800)
        await w.run_once()
    stored = await outbox.endpoints.get(failing.id)
    assert not stored.enabled
    assert "failed since" in str(stored.disabled_reason)


async def test_a_success_resets_the_failure_period(
    outbox: PostgresOutbox, receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    ep = await endpoint(outbox, receiver.url(token, "busy", after="0"))
    await outbox.send("e", {})
    async with worker(outbox, disable_after=timedelta(seconds=60)) as w:
        await w.run_once()
        await outbox.endpoints.update(Endpoint(receiver.url(token), (SECRET,), id=ep.id))
        fake_clock.advance(50)
        await outbox.send("e", {})
        await w.drain()
        fake_clock.advance(100)
        await outbox.endpoints.update(Endpoint(receiver.url(token, "fail"), (SECRET,), id=ep.id))
        await outbox.send("e", {})
        await w.run_once()  # fails, but the failing period starts now
    assert (await outbox.endpoints.get(ep.id)).enabled


async def test_send_joins_the_callers_transaction(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any]
) -> None:
    await endpoint(outbox, "http://127.0.0.1:9/")
    sent: list[str] = []

    async def failing_business_write(connection: Any) -> None:
        async with connection.transaction():
            sent.append((await outbox.send("e", {"n": 1}, connection=connection)).id)
            raise RuntimeError("the business write failed")

    async with postgres_pool.acquire() as connection:
        with pytest.raises(RuntimeError):
            await failing_business_write(connection)
        (rolled_back,) = sent
        async with connection.transaction():
            committed = await outbox.send("e", {"n": 2}, connection=connection)
    with pytest.raises(MessageNotFoundError):
        await outbox.message(rolled_back)
    assert (await outbox.message(committed.id)).body == b'{"n":2}'
    assert len(await outbox.deliveries(committed.id)) == 1
    assert await outbox.deliveries(rolled_back) == []


async def test_send_with_a_message_id_is_idempotent(outbox: PostgresOutbox) -> None:
    await endpoint(outbox, "http://127.0.0.1:9/")
    first = await outbox.send("e", {"a": 1}, message_id="order-42-paid")
    again = await outbox.send("e", {"a": 2}, message_id="order-42-paid")
    assert again == first
    assert len(await outbox.deliveries("order-42-paid")) == 1


async def test_bad_send_arguments(outbox: PostgresOutbox) -> None:
    for event_type in ("", 5, "x" * 300):
        with pytest.raises(WebhooksConfigurationError):
            await outbox.send(event_type, {})  # type: ignore[arg-type]
    with pytest.raises(WebhooksConfigurationError):
        await outbox.send("e", {"x": object()})
    with pytest.raises(WebhooksConfigurationError):
        await outbox.send("e", {"x": float("nan")})
    with pytest.raises(WebhooksConfigurationError):
        await outbox.send("e", {}, message_id="bad id\n")
    with pytest.raises(WebhooksConfigurationError):
        await outbox.recover(datetime_naive())
    with pytest.raises(WebhooksConfigurationError):
        DeliveryWorker(outbox, timeout=10, lease=10)
    with pytest.raises(WebhooksConfigurationError):
        DeliveryWorker(outbox, timeout=10, lease=30, batch_size=100, concurrency=10)
    with pytest.raises(WebhooksTypeError):
        DeliveryWorker("outbox")  # type: ignore[arg-type]


def datetime_naive() -> Any:
    return datetime(2026, 1, 1)


async def test_a_worker_killed_mid_delivery_is_retried_after_its_lease(
    outbox: PostgresOutbox, receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    await endpoint(outbox, receiver.url(token, "hang-once"))
    message = await outbox.send("e", {})
    receiver.hang_seen.clear()
    receiver.release.clear()
    first = worker(outbox)
    task = asyncio.create_task(first.run_once())
    try:
        assert await asyncio.to_thread(receiver.hang_seen.wait, 10)
        task.cancel()  # the worker dies mid-request: nothing of its own cleans up
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        receiver.release.set()
        await first.aclose()
    (delivery,) = await outbox.deliveries(message.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    async with worker(outbox) as second:
        assert await second.run_once() == 0  # still leased
        fake_clock.advance(30)
        assert await second.run_once() == 1
    (delivery,) = await outbox.deliveries(message.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert receiver.ids(token) == [message.id, message.id]


async def test_a_late_result_from_an_expired_lease_is_not_applied(
    outbox: PostgresOutbox, fake_clock: FakeClock
) -> None:
    await endpoint(outbox, "http://127.0.0.1:9/")
    message = await outbox.send("e", {})
    (old,), _ = await outbox.claim(limit=10, lease=30, token="old")  # noqa: S106 - a lease token
    fake_clock.advance(31)
    (new,), _ = await outbox.claim(limit=10, lease=30, token="new")  # noqa: S106 - a lease token
    assert new.delivery_id == old.delivery_id
    assert new.attempt == 2
    held, _ = await outbox.settle([Outcome(old, DeliveryStatus.DELIVERED, None, None)])
    assert not held
    (delivery,) = await outbox.deliveries(message.id)
    assert delivery.status is DeliveryStatus.PENDING


async def test_four_workers_never_deliver_a_message_twice(outbox: PostgresOutbox, receiver: Receiver) -> None:
    token = receiver.token()
    await endpoint(outbox, receiver.url(token))
    sent = {(await outbox.send("e", {"n": n})).id for n in range(120)}
    workers = [worker(outbox, batch_size=8, concurrency=4) for _ in range(4)]
    try:
        counts = await asyncio.gather(*(w.drain() for w in workers))
    finally:
        for w in workers:
            await w.aclose()
    ids = receiver.ids(token)
    assert sorted(ids) == sorted(sent)  # each exactly once
    assert sum(counts) == 120
    assert sum(1 for c in counts if c) >= 2  # the work was really shared
    assert (await outbox.counts())[DeliveryStatus.DELIVERED] == 120


async def test_replay_and_recover(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any], receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    short = PostgresOutbox(
        postgres_pool,
        outbox.endpoints,
        schedule=RetrySchedule((0,)),
        clock=fake_clock,
        table=outbox.table,
    )
    ep = await endpoint(short, receiver.url(token, "fail"))
    before = fake_clock.now()
    one = await short.send("e", {"n": 1})
    two = await short.send("e", {"n": 2})
    async with worker(short) as w:
        await w.drain()
        assert (await short.counts())[DeliveryStatus.DEAD] == 2
        await short.endpoints.update(Endpoint(receiver.url(token), (SECRET,), id=ep.id))
        assert await short.requeue(one.id) == 1
        assert await short.requeue(one.id) == 0  # already pending
        await w.drain()
        assert (await short.deliveries(one.id))[0].status is DeliveryStatus.DELIVERED
        assert await short.recover(fake_clock.now() + timedelta(seconds=1)) == 0
        assert await short.recover(before, endpoint_id="someone-else") == 0
        assert await short.recover(before) == 1
        await w.drain()
    assert (await short.deliveries(two.id))[0].status is DeliveryStatus.DELIVERED
    assert receiver.ids(token).count(one.id) == 2
    assert receiver.ids(token).count(two.id) == 2
    with pytest.raises(MessageNotFoundError):
        await short.requeue("msg_unknown")


async def test_replay_to_an_endpoint_created_after_the_message(
    outbox: PostgresOutbox, receiver: Receiver
) -> None:
    token = receiver.token()
    message = await outbox.send("e", {"late": True})
    assert await outbox.deliveries(message.id) == []
    ep = await endpoint(outbox, receiver.url(token))
    assert await outbox.requeue(message.id, endpoint_id=ep.id) == 1
    async with worker(outbox) as w:
        await w.drain()
    assert receiver.ids(token) == [message.id]


async def test_rate_limit_postpones_without_counting_attempts(
    outbox: PostgresOutbox, receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    await endpoint(outbox, receiver.url(token), rate_limit=2)
    for n in range(5):
        await outbox.send("e", {"n": n})
    async with worker(outbox) as w:
        assert await w.run_once() == 5
        assert len(receiver.ids(token)) == 2
        assert await w.run_once() == 0
        fake_clock.advance(1)
        await w.run_once()
        assert len(receiver.ids(token)) == 4
        fake_clock.advance(1)
        await w.drain()
    assert len(set(receiver.ids(token))) == 5
    assert (await outbox.counts())[DeliveryStatus.DELIVERED] == 5


async def test_the_ssrf_guard_is_on_by_default(outbox: PostgresOutbox, receiver: Receiver) -> None:
    token = receiver.token()
    await endpoint(outbox, receiver.url(token))
    message = await outbox.send("e", {})
    async with DeliveryWorker(outbox) as w:
        await w.run_once()
    (attempt,) = await outbox.attempts(message.id)
    assert attempt.status_code is None
    assert "SSRF" in str(attempt.error)
    assert "loopback" in str(attempt.error)
    assert receiver.ids(token) == []


async def test_rotation_signs_with_both_secrets_so_the_old_receiver_accepts(
    outbox: PostgresOutbox, receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    ep = await outbox.endpoints.create(
        Endpoint(
            receiver.url(token),
            (generate_secret(), SECRET),
            previous_secrets_expire_at=fake_clock.now() + timedelta(hours=1),
        )
    )
    await outbox.send("e", {})
    async with worker(outbox) as w:
        await w.drain()
        assert len(receiver.ids(token)) == 1
        fake_clock.advance(3600)
        await outbox.send("e", {})
        await w.drain()
    assert len(receiver.ids(token)) == 1
    assert receiver.rejected[token] == 1
    assert ep.secrets[1] == SECRET


async def test_deleted_endpoints_cancel_their_deliveries(outbox: PostgresOutbox) -> None:
    ep = await endpoint(outbox, "http://127.0.0.1:9/")
    message = await outbox.send("e", {})
    await outbox.endpoints.delete(ep.id)
    async with worker(outbox) as w:
        await w.drain()
    (delivery,) = await outbox.deliveries(message.id)
    assert delivery.status is DeliveryStatus.CANCELLED


async def test_a_database_outage_raises_store_unavailable(
    postgres_server: PostgresServer, fake_clock: FakeClock
) -> None:
    box = await PostgresOutbox.connect(postgres_server.dsn, MemoryEndpointStore(), clock=fake_clock)
    try:
        await box.create_schema()
        await box.endpoints.create(Endpoint("http://127.0.0.1:9/", (SECRET,)))
        kept = await box.send("e", {"before": True})
        postgres_server.stop()
        with pytest.raises(WebhooksUnavailableError):
            await box.send("e", {})
        async with worker(box, poll_interval=0.05) as w:
            with pytest.raises(WebhooksUnavailableError):
                await w.run_once()
            stop = asyncio.Event()
            runner = asyncio.create_task(w.run(stop=stop))
            await asyncio.sleep(0.2)  # run() survives the outage
            assert not runner.done()
            stop.set()
            await runner
        postgres_server.start()
        assert (await box.message(kept.id)).body == b'{"before":true}'
    finally:
        await box.aclose()


def three_attempts(outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any]) -> PostgresOutbox:
    """The same tables under the three-attempt schedule of the outbox state machine."""
    return PostgresOutbox(
        postgres_pool,
        outbox.endpoints,
        schedule=RetrySchedule((0, 10, 20), jitter=0),
        clock=outbox.clock,
        table=outbox.table,
    )


async def test_issue_28_a_last_attempt_whose_lease_ran_out_is_dead_not_claimed_again(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any], fake_clock: FakeClock
) -> None:
    """Regression (issue 28): three claims whose leases all expire unanswered, then a fourth claim.

    Attempts count when claimed, so the third expired lease used the last attempt: the next claim
    finds the delivery dead (with the reason), never hands out attempt 4.
    """
    box = three_attempts(outbox, postgres_pool)
    await endpoint(box, "http://127.0.0.1:9/")
    message = await box.send("e", {})
    for number in (1, 2, 3):
        (claim,), _ = await box.claim(limit=1, lease=30, token=f"w{number}")
        assert claim.attempt == number
        fake_clock.advance(31)  # the lease runs out: the worker died
    assert (await box.claim(limit=1, lease=30, token="w4"))[0] == []  # noqa: S106 - a lease token
    (delivery,) = await box.deliveries(message.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 3)
    assert delivery.last_error is not None
    assert "lease expired on the last attempt" in delivery.last_error
    assert delivery.finished_at == fake_clock.now()
    assert delivery.next_attempt_at is None
    fake_clock.advance(3600)
    assert (await box.claim(limit=10, lease=30, token="w5"))[0] == []  # noqa: S106 - a lease token


async def test_a_worker_finding_a_dead_last_lease_calls_on_dead_and_keeps_going(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any], receiver: Receiver, fake_clock: FakeClock
) -> None:
    """Issue 28 through the worker: the buried delivery reaches ``on_dead``; the round still counts it."""
    box = three_attempts(outbox, postgres_pool)
    token = receiver.token()
    ep = await endpoint(box, receiver.url(token))
    lost = await box.send("e", {"lost": True})
    for number in (1, 2, 3):
        assert len((await box.claim(limit=1, lease=30, token=f"dead-worker-{number}"))[0]) == 1
        fake_clock.advance(31)
    fresh = await box.send("e", {"fresh": True})
    dead: list[DeadDelivery] = []

    async def on_dead(item: DeadDelivery) -> None:
        dead.append(item)

    async with worker(box, on_dead=on_dead) as w:
        assert await w.drain() == 2  # one buried, one delivered
    assert [(d.message_id, d.endpoint_id, d.attempts, d.last_status_code) for d in dead] == [
        (lost.id, ep.id, 3, None)
    ]
    assert "lease expired on the last attempt (3 of 3)" in str(dead[0].last_error)
    assert receiver.ids(token) == [fresh.id]
    # An operator's recover is the one deliberate reset: a new full schedule, from attempt one.
    assert await box.recover(fake_clock.now()) == 1
    (delivery,) = await box.deliveries(lost.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    async with worker(box) as w:
        assert await w.drain() == 1
    assert receiver.ids(token) == [fresh.id, lost.id]


async def test_a_retry_asked_for_after_the_last_attempt_is_dead(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any], fake_clock: FakeClock
) -> None:
    """A caller recording PENDING on the last attempt cannot queue a fourth one: it is dead."""
    box = three_attempts(outbox, postgres_pool)
    await endpoint(box, "http://127.0.0.1:9/")
    message = await box.send("e", {})
    for number in (1, 2, 3):
        (claim,), _ = await box.claim(limit=1, lease=30, token=f"w{number}")
        held, _ = await box.settle([Outcome(claim, DeliveryStatus.PENDING, fake_clock.now(), None)])
        assert held
    (delivery,) = await box.deliveries(message.id)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.DEAD, 3, None)
    assert delivery.finished_at == fake_clock.now()
    assert (await box.claim(limit=1, lease=30, token="w4"))[0] == []  # noqa: S106 - a lease token
    with pytest.raises(WebhooksConfigurationError):
        await box.settle([Outcome(claim, DeliveryStatus.PENDING, None, None)])


async def test_a_released_claim_gives_its_attempt_back_once(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any], fake_clock: FakeClock
) -> None:
    box = three_attempts(outbox, postgres_pool)
    await endpoint(box, "http://127.0.0.1:9/")
    message = await box.send("e", {})
    (claim,), _ = await box.claim(limit=1, lease=30, token="w1")  # noqa: S106 - a lease token
    assert await box.release([claim]) == 1
    assert await box.release([claim]) == 0  # the lease is no longer held
    (delivery,) = await box.deliveries(message.id)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        DeliveryStatus.PENDING,
        0,
        fake_clock.now(),
    )
    assert await box.release([]) == 0
    with pytest.raises(WebhooksConfigurationError):
        await box.release(["not a claim"])  # type: ignore[list-item]


async def test_cancelling_a_worker_gives_back_the_claims_it_never_sent(
    outbox: PostgresOutbox, receiver: Receiver, fake_clock: FakeClock
) -> None:
    """Shutdown releases unsent claims (their attempt unused); the attempt in flight keeps its lease."""
    token = receiver.token()
    await endpoint(outbox, receiver.url(token, "hang-once"))
    first = await outbox.send("e", {"n": 1})
    second = await outbox.send("e", {"n": 2})
    receiver.hang_seen.clear()
    receiver.release.clear()
    stopping = worker(outbox, batch_size=2, concurrency=1)
    task = asyncio.create_task(stopping.run_once())
    try:
        assert await asyncio.to_thread(receiver.hang_seen.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        receiver.release.set()
        await stopping.aclose()
    (in_flight,) = await outbox.deliveries(first.id)
    (unsent,) = await outbox.deliveries(second.id)
    assert (in_flight.status, in_flight.attempts) == (DeliveryStatus.PENDING, 1)
    assert in_flight.next_attempt_at == fake_clock.now() + timedelta(seconds=30)  # still leased
    assert (unsent.status, unsent.attempts, unsent.next_attempt_at) == (
        DeliveryStatus.PENDING,
        0,
        fake_clock.now(),
    )
    async with worker(outbox) as survivor:
        assert await survivor.run_once() == 1
    (unsent,) = await outbox.deliveries(second.id)
    assert (unsent.status, unsent.attempts) == (DeliveryStatus.DELIVERED, 1)


async def test_a_delivery_past_a_shortened_schedule_is_dead_with_that_reason(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any], fake_clock: FakeClock
) -> None:
    """A deploy with a shorter schedule buries the deliveries that already used it up."""
    await endpoint(outbox, "http://127.0.0.1:9/")
    message = await outbox.send("e", {})
    for number in (1, 2):
        (claim,), _ = await outbox.claim(limit=1, lease=30, token=f"w{number}")
        await outbox.settle([Outcome(claim, DeliveryStatus.PENDING, fake_clock.now(), None)])
    shorter = PostgresOutbox(
        postgres_pool,
        outbox.endpoints,
        schedule=RetrySchedule((0, 5), jitter=0),
        clock=fake_clock,
        table=outbox.table,
    )
    claims, dead = await shorter.claim(limit=5, lease=30, token="w3")  # noqa: S106 - a lease token
    assert claims == []
    assert [(d.message_id, d.attempts) for d in dead] == [(message.id, 2)]
    assert dead[0].last_error == "no attempt left under the retry schedule (2 attempts)"


async def test_the_pool_connect_opens_skips_the_reset_query_only_after_the_outboxs_own_statements(
    postgres_schema: PostgresSchema, postgres_table: str, fake_clock: FakeClock
) -> None:
    """Sends, claims and results hand connections back unreset; the application's use is reset in full."""
    box = await PostgresOutbox.connect(
        postgres_schema.dsn,
        MemoryEndpointStore(),
        table=postgres_table,
        clock=fake_clock,
        min_size=1,
        max_size=1,
        server_settings=postgres_schema.server_settings,
    )
    try:
        await box.create_schema()
        async with box.pool.acquire() as connection:
            reset = connection.get_reset_query()
            resets = log_queries(connection, lambda query: query == reset)
            default = await connection.fetchval("SHOW work_mem")
            await connection.execute("SET work_mem = '7MB'")
            await connection.execute("SELECT pg_advisory_lock(77)")
        assert len(resets) == 1  # the application changed the session: reset in full
        await endpoint(box, "http://127.0.0.1:9/")
        sent = [await box.send("e", {"n": n}) for n in range(3)]
        async with worker(box) as w:
            assert await w.drain() == 3
        assert [len(await box.attempts(m.id)) for m in sent] == [1, 1, 1]
        assert len(resets) == 1  # none after the outbox's own statements
        async with box.pool.acquire() as connection:
            assert await connection.fetchval("SHOW work_mem") == default
            assert not await connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
        assert len(resets) == 2
    finally:
        await box.drop_schema()
        await box.aclose()


async def test_an_outbox_on_the_applications_pool_keeps_the_pools_reset(
    postgres_schema: PostgresSchema, postgres_table: str, fake_clock: FakeClock
) -> None:
    async with outbox_on_a_pool_of_one(postgres_schema, postgres_table, fake_clock) as (pool, box):
        async with pool.acquire() as connection:
            reset = connection.get_reset_query()
            resets = log_queries(connection, lambda query: query == reset)
        await endpoint(box, "http://127.0.0.1:9/")
        for n in range(3):
            await box.send("e", {"n": n})
        assert len(resets) == 4  # the pool is the application's: its reset runs after every release


async def test_sends_made_while_one_is_written_share_a_statement(
    postgres_schema: PostgresSchema, postgres_table: str, fake_clock: FakeClock
) -> None:
    """Concurrent sends are grouped: fewer statements than sends, every message with its deliveries."""
    async with outbox_on_a_pool_of_one(postgres_schema, postgres_table, fake_clock) as (pool, box):
        async with pool.acquire() as connection:
            statements = log_queries(connection, lambda query: "unnest($6" in query)
        first = await endpoint(box, "http://127.0.0.1:9/a")
        second = await endpoint(box, "http://127.0.0.1:9/b")
        sent = await asyncio.gather(*(box.send("e", {"n": n}) for n in range(12)))
        assert 1 <= len(statements) < len(sent)
        for message in sent:
            assert await box.message(message.id) == message
            assert {d.endpoint_id for d in await box.deliveries(message.id)} == {first.id, second.id}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.sampled_from(["msg_a", "msg_b", "msg_c", None]), min_size=1, max_size=12))
async def test_concurrent_sends_store_each_id_once(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str, ids: list[str | None]
) -> None:
    """Property: idempotency under grouping — each id is stored once, every send of it returns it."""
    box = PostgresOutbox(postgres_pool, MemoryEndpointStore(), table=postgres_table)
    await box.create_schema()
    try:
        ep = await endpoint(box, "http://127.0.0.1:9/")
        sent = await asyncio.gather(*(box.send("e", {"n": n}, message_id=i) for n, i in enumerate(ids)))
        for message in sent:
            assert await box.message(message.id) == message
            assert [d.endpoint_id for d in await box.deliveries(message.id)] == [ep.id]
        assert sum((await box.counts()).values()) == len({m.id for m in sent})
    finally:
        await box.drop_schema()


async def test_a_send_the_database_refuses_fails_alone_in_its_group(outbox: PostgresOutbox) -> None:
    await endpoint(outbox, "http://127.0.0.1:9/")
    async with outbox.pool.acquire() as connection:
        await connection.execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.event_type = 'poison' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
        )
        await connection.execute(
            f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {outbox.table}_messages "
            "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
        )
    results = await asyncio.gather(
        *(outbox.send("poison" if n == 3 else "e", {"n": n}) for n in range(6)), return_exceptions=True
    )
    assert isinstance(results[3], asyncpg.RaiseError)
    kept = [r for r in results if not isinstance(r, BaseException)]
    assert len(kept) == 5
    for message in kept:
        assert await outbox.message(message.id) == message


async def test_a_caller_cancelled_while_its_send_waits_stops_no_other_send(outbox: PostgresOutbox) -> None:
    await endpoint(outbox, "http://127.0.0.1:9/")
    tasks = [asyncio.create_task(outbox.send("e", {"n": n}, message_id=f"msg_{n}")) for n in range(6)]
    await asyncio.sleep(0)  # every send is queued
    tasks[2].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[2], asyncio.CancelledError)
    for n, message in enumerate(done):
        if n != 2:
            assert await outbox.message(f"msg_{n}") == message
