"""The PostgreSQL outbox: SKIP LOCKED workers, exactly-once digests, leases, dedupe and faults."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buttress.notifications import (
    DeliveryWorker,
    DigestRule,
    Notification,
    NotificationStatus,
    NotificationsUnavailableError,
    Notifier,
    PostgresOutbox,
    Recipient,
    RetryPolicy,
    SmtpChannel,
    Template,
    TemplateRegistry,
)
from buttress.testing import FakeClock, PostgresServer

from .conftest import PASSWORD, USER, MailServer, ScriptedChannel
from .test_delivery import START, Alert, note, registry

pytestmark = pytest.mark.postgres
S = NotificationStatus


async def outbox(pool: asyncpg.Pool[Any], clock: FakeClock, table: str) -> PostgresOutbox:
    box = PostgresOutbox(pool, table=table, clock=clock)
    await box.create_schema()
    return box


async def test_many_workers_deliver_each_job_exactly_once(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str
) -> None:
    clock = FakeClock(START)
    email = ScriptedChannel("email")
    notifier = Notifier(
        templates=registry(),
        channels=[email],
        outbox=await outbox(postgres_pool, clock, postgres_table),
        clock=clock,
    )
    sent = []
    for i in range(60):
        sent += await notifier.send(note(Recipient(f"u{i}", {"email": f"u{i}@example.com"}), what=str(i)))
    workers = [DeliveryWorker(notifier, batch=7) for _ in range(6)]
    await asyncio.gather(*(w.drain() for w in workers))
    counts = Counter(nid for _, _, nid in email.sent)
    assert sorted(counts) == sorted(j.notification_id for j in sent)
    assert set(counts.values()) == {1}
    assert await notifier.outbox.counts() == {S.SENT: 60}


async def test_retry_dead_letter_failover_and_requeue(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str
) -> None:
    clock = FakeClock(START)
    push = ScriptedChannel("push", failures={"alice": ["transient", "transient"]})
    email = ScriptedChannel("email", failures={"bob@example.com": ["permanent"]})
    notifier = Notifier(
        templates=registry(),
        channels=[push, email],
        outbox=await outbox(postgres_pool, clock, postgres_table),
        failover={"push": "email"},
        clock=clock,
    )
    worker = DeliveryWorker(notifier, retries={"push": RetryPolicy((10,), jitter=0)})
    (a,) = await notifier.send(
        note(Recipient("alice", {"push": "alice", "email": "a@example.com"})), channels=["push"]
    )
    (b,) = await notifier.send(note(Recipient("bob", {"email": "bob@example.com"})))
    await worker.drain()
    clock.advance(10)
    await worker.drain()
    alice = {j.channel: j for j in await notifier.outbox.jobs(a.notification_id)}
    assert (alice["push"].status, alice["push"].attempts) == (S.DEAD, 2)
    assert alice["email"].status is S.SENT
    (bob,) = await notifier.outbox.jobs(b.notification_id)
    assert bob.status is S.FAILED
    assert "no such user" in (bob.reason or "")
    requeued = await notifier.outbox.requeue(bob.id)
    assert (requeued.status, requeued.attempts) == (S.PENDING, 0)
    await worker.drain()
    assert (await notifier.outbox.get(bob.id)).status is S.SENT  # type: ignore[attr-defined]


async def test_dedupe_across_processes(postgres_pool: asyncpg.Pool[Any], postgres_table: str) -> None:
    clock = FakeClock(START)
    box = await outbox(postgres_pool, clock, postgres_table)
    notifiers = [
        Notifier(templates=registry(), channels=[ScriptedChannel("email")], outbox=box, clock=clock)
        for _ in range(4)
    ]
    results = await asyncio.gather(*(n.send(note(dedupe_key="order-9")) for n in notifiers for _ in range(3)))
    assert len({job.id for (job,) in results}) == 1


async def test_an_expired_lease_is_claimed_again(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str
) -> None:
    clock = FakeClock(START)
    box = await outbox(postgres_pool, clock, postgres_table)
    email = ScriptedChannel("email")
    notifier = Notifier(templates=registry(), channels=[email], outbox=box, clock=clock)
    await notifier.send(note())
    (crashed,) = await box.claim(limit=10, lease=30)  # a worker that dies holding the lease
    assert await DeliveryWorker(notifier).drain() == 0
    clock.advance(31)
    assert await DeliveryWorker(notifier).drain() == 1
    await box.settle(crashed, [crashed.jobs[0].but(status=S.FAILED)])  # the late worker's write is ignored
    assert (await box.get(crashed.jobs[0].id)).status is S.SENT
    assert len(email.sent) == 1


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4), workers=st.integers(2, 5))
async def test_property_digest_groups_are_complete_and_sent_once(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str, sizes: list[int], workers: int
) -> None:
    """Property: with several workers, each digest window yields exactly one message holding every entry."""
    clock = FakeClock(START)
    email = ScriptedChannel("email")
    rule = DigestRule("hourly", "digest", window=timedelta(hours=1))
    notifier = Notifier(
        templates=registry(),
        channels=[email],
        outbox=await outbox(postgres_pool, clock, f"{postgres_table}_{secrets.token_hex(3)}"),
        digests={"ops": rule},
        clock=clock,
    )
    expected: dict[str, int] = {}
    for user, size in enumerate(sizes):
        address = f"u{user}@example.com"
        for i in range(size):
            await notifier.send(note(Recipient(f"u{user}", {"email": address}), what=f"{user}-{i}"))
        expected[address] = size
    clock.set(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))
    await asyncio.gather(*(DeliveryWorker(notifier, batch=2).drain() for _ in range(workers)))
    got = Counter(address for address, _, _ in email.sent)
    assert got == Counter(dict.fromkeys(expected, 1)), "one digest per recipient and window"
    for address, content, _ in email.sent:
        assert content.subject == f"{expected[address]} updates"


async def test_a_late_entry_for_a_closed_digest_is_sent_alone(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str
) -> None:
    clock = FakeClock(START)
    email = ScriptedChannel("email")
    rule = DigestRule("hourly", "digest", window=timedelta(hours=1))
    box = await outbox(postgres_pool, clock, postgres_table)
    notifier = Notifier(
        templates=registry(), channels=[email], outbox=box, digests={"ops": rule}, clock=clock
    )
    (first,) = await notifier.send(note(what="on time"))
    skewed = FakeClock(START)  # a server whose clock lags behind
    late = Notifier(templates=registry(), channels=[email], outbox=box, digests={"ops": rule}, clock=skewed)
    clock.set(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))
    await DeliveryWorker(notifier).drain()
    (straggler,) = await late.send(note(what="late"))
    assert straggler.status is S.PENDING
    assert straggler.digest_group is None
    await DeliveryWorker(notifier).drain()
    assert [c.subject for _, c, _ in email.sent] == ["1 updates", "Alert: late"]
    assert first.digest_group is not None


async def test_server_gone_is_store_unavailable(postgres_server: PostgresServer) -> None:
    clock = FakeClock(START)
    async with await PostgresOutbox.connect(postgres_server.dsn, clock=clock, table="t") as box:
        await box.create_schema()
        notifier = Notifier(
            templates=registry(), channels=[ScriptedChannel("email")], outbox=box, clock=clock
        )
        await notifier.send(note())
        postgres_server.stop()
        with pytest.raises(NotificationsUnavailableError):
            await notifier.send(note())
        with pytest.raises(NotificationsUnavailableError):
            await DeliveryWorker(notifier).run_once()


class Hanging(ScriptedChannel):
    """Blocks on the first delivery until cancelled, like a worker killed mid-send."""

    def __init__(self) -> None:
        super().__init__("email")
        self.entered = asyncio.Event()
        self.first = True

    async def deliver(self, payload: Any) -> Any:
        if self.first:
            self.first = False
            self.entered.set()
            await asyncio.Event().wait()
        return await super().deliver(payload)


async def test_a_worker_cancelled_mid_send_loses_nothing(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str
) -> None:
    clock = FakeClock(START)
    channel = Hanging()
    notifier = Notifier(
        templates=registry(),
        channels=[channel],
        outbox=await outbox(postgres_pool, clock, postgres_table),
        clock=clock,
    )
    jobs = [await notifier.send(note(Recipient(f"u{i}", {"email": f"u{i}@x.io"}))) for i in range(5)]
    task = asyncio.create_task(DeliveryWorker(notifier, lease=30, batch=1).run_once())
    await channel.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    counts = await notifier.outbox.counts()
    assert counts[S.SENDING] >= 1
    clock.advance(31)
    await DeliveryWorker(notifier).drain()
    assert await notifier.outbox.counts() == {S.SENT: 5}
    assert sorted(nid for _, _, nid in channel.sent) == sorted(j.notification_id for (j,) in jobs)


async def test_purge(postgres_pool: asyncpg.Pool[Any], postgres_table: str) -> None:
    clock = FakeClock(START)
    notifier = Notifier(
        templates=registry(),
        channels=[ScriptedChannel("email")],
        outbox=await outbox(postgres_pool, clock, postgres_table),
        clock=clock,
    )
    await notifier.send(note(dedupe_key="k1"))
    await DeliveryWorker(notifier).drain()
    clock.advance(60)
    await notifier.send(note(what="waiting"))
    assert await notifier.outbox.purge(clock.now()) == 1
    assert await notifier.outbox.counts() == {S.PENDING: 1}
    (again,) = await notifier.send(note(dedupe_key="k1"))
    assert again.status is S.PENDING


async def test_run_survives_an_outage_and_delivers_after_it(postgres_server: PostgresServer) -> None:
    clock = FakeClock(START)
    email = ScriptedChannel("email")
    async with await PostgresOutbox.connect(postgres_server.dsn, clock=clock, table="r") as box:
        await box.create_schema()
        notifier = Notifier(templates=registry(), channels=[email], outbox=box, clock=clock)
        postgres_server.stop()
        task = asyncio.create_task(DeliveryWorker(notifier).run(poll_interval=0.05))
        await asyncio.sleep(0.2)  # a few failed polls: the worker must not die
        assert not task.done()
        postgres_server.start()
        (job,) = await notifier.send(note())
        for _ in range(200):
            if email.sent:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [nid for _, _, nid in email.sent] == [job.notification_id]


class CrashingMailHandler:
    """Wraps the SMTP receiver's DATA hook: at the chosen counts, kills PostgreSQL mid-send."""

    def __init__(self, server: MailServer, postgres: PostgresServer, at: set[int]) -> None:
        self.handler = server.handler
        self.postgres = postgres
        self.at = at
        self.inner = server.handler.handle_DATA
        server.handler.handle_DATA = self.handle_DATA  # type: ignore[method-assign]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        answer = await self.inner(server, session, envelope)
        if len(self.handler.ids()) in self.at:
            # Synchronous on purpose: the receiver stalls while the database dies, so the worker's
            # other sends are caught in flight, as in a real crash.
            self.postgres.kill()
        return answer


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_duplicates_per_postgres_crash_are_bounded_by_concurrency(
    postgres_server: PostgresServer, mail_server: MailServer, concurrency: int
) -> None:
    """A worker whose outbox crashes stops sending its batch; each crash re-sends <= concurrency messages."""
    clock = FakeClock(START)
    crashes_at = {60, 200, 410}
    CrashingMailHandler(mail_server, postgres_server, crashes_at)
    templates = TemplateRegistry()
    templates.register(Template("alert", Alert, subject="Alert {{ what }}", text="{{ what }}"))
    smtp = SmtpChannel(
        "127.0.0.1",
        mail_server.port,
        sender="notify@example.com",
        username=USER,
        password=PASSWORD,
        tls_context=mail_server.client_tls,
        pool_size=concurrency,
    )
    async with await PostgresOutbox.connect(postgres_server.dsn, clock=clock, table="k") as box, smtp:
        await box.create_schema()
        notifier = Notifier(templates=templates, channels=[smtp], outbox=box, clock=clock)
        for i in range(500):
            recipient = Recipient(f"u{i}", {"email": f"u{i}@example.com"})
            await notifier.send(Notification(recipient, "ops", "alert", Alert(what=str(i))))
        worker = DeliveryWorker(notifier, batch=50, lease=60, concurrency=concurrency)
        crashes = 0
        for _ in range(50):
            try:
                if await worker.drain() == 0:
                    break
            except NotificationsUnavailableError:
                crashes += 1
                await asyncio.sleep(0.2)  # a worker that kept sending would show it here
                received = len(mail_server.handler.ids())
                killed_at = max(n for n in crashes_at if n <= received)
                assert received <= killed_at + concurrency, (
                    "the batch kept being sent while the outbox was down"
                )
                postgres_server.start()
                clock.advance(61)  # the crashed claims' leases run out
        assert await notifier.outbox.counts() == {S.SENT: 500}
    counts = Counter(mail_server.handler.ids())
    duplicates = sum(counts.values()) - len(counts)
    assert (crashes, len(counts)) == (3, 500)
    assert duplicates <= crashes * concurrency
