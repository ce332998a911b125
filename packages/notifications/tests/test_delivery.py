"""Notifier and DeliveryWorker on the memory outbox: holds, digests, retries, dead letters, failover."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pydantic import BaseModel

from buttress.notifications import (
    DeliveryWorker,
    DigestContext,
    DigestRule,
    Job,
    MemoryOutbox,
    MemoryPreferenceStore,
    MemoryRateLimiter,
    Notification,
    NotificationsConfigurationError,
    NotificationStatus,
    NotificationsTypeError,
    Notifier,
    Preferences,
    QuietWindow,
    Rate,
    Recipient,
    Rendered,
    RetryPolicy,
    SmtpChannel,
    Template,
    TemplateRegistry,
    TemplateRenderError,
    UnknownChannelError,
)
from buttress.testing import FakeClock

from .conftest import ScriptedChannel

S = NotificationStatus
START = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # a Monday, 12:00 in Berlin


class Alert(BaseModel):
    what: str


def registry() -> TemplateRegistry:
    templates = TemplateRegistry()
    templates.register(Template("alert", Alert, subject="Alert: {{ what }}", text="{{ what }} happened"))
    templates.register(
        Template(
            "digest",
            DigestContext,
            subject="{{ count }} updates",
            text="{% for e in entries %}{{ e.subject }}\n{% endfor %}",
        )
    )
    return templates


def alice(**addresses: str) -> Recipient:
    return Recipient("alice", addresses or {"email": "alice@example.com"})


def make(clock: FakeClock, *channels: ScriptedChannel, **options: Any) -> Notifier:
    return Notifier(
        templates=registry(), channels=channels or [ScriptedChannel("email")], clock=clock, **options
    )


def note(recipient: Recipient | None = None, what: str = "x", **kw: Any) -> Notification[Alert]:
    return Notification(recipient or alice(), kw.pop("category", "ops"), "alert", Alert(what=what), **kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def test_sent_once_and_tracked(clock: FakeClock) -> None:
    email = ScriptedChannel("email")
    notifier = make(clock, email)
    (job,) = await notifier.send(note(what="disk full"))
    assert job.status is S.PENDING
    worker = DeliveryWorker(notifier)
    assert await worker.drain() == 1
    assert await worker.drain() == 0
    assert [(a, c.subject) for a, c, _ in email.sent] == [("alice@example.com", "Alert: disk full")]
    (stored,) = await notifier.outbox.jobs(job.notification_id)
    assert (stored.status, stored.attempts) == (S.SENT, 1)


async def test_dedupe_key_enqueues_once(clock: FakeClock) -> None:
    email = ScriptedChannel("email")
    notifier = make(clock, email)
    first = await notifier.send(note(dedupe_key="invoice-42"))
    second = await notifier.send(note(dedupe_key="invoice-42"))
    assert first == second
    await DeliveryWorker(notifier).drain()
    assert len(email.sent) == 1


async def test_opt_out_is_recorded_as_suppressed(clock: FakeClock) -> None:
    prefs = MemoryPreferenceStore([Preferences("alice", choices={("email", "ops"): False})])
    email = ScriptedChannel("email")
    notifier = make(clock, email, preferences=prefs)
    (job,) = await notifier.send(note(critical=True))
    assert (job.status, job.reason) == (S.SUPPRESSED, "opted out of ops on email")
    await DeliveryWorker(notifier).drain()
    assert email.sent == []


async def test_no_address_is_suppressed_and_unknown_channels_raise(clock: FakeClock) -> None:
    notifier = make(clock, ScriptedChannel("email"), ScriptedChannel("sms"))
    jobs = await notifier.send(note(), channels=["email", "sms"])
    assert [(j.channel, j.status) for j in jobs] == [("email", S.PENDING), ("sms", S.SUPPRESSED)]
    with pytest.raises(UnknownChannelError):
        await notifier.send(note(), channels=["fax"])


async def test_quiet_hours_hold_until_the_window_opens(clock: FakeClock) -> None:
    prefs = MemoryPreferenceStore(
        [Preferences("alice", timezone="Europe/Berlin", quiet_hours=QuietWindow.daily(time(22), time(7)))]
    )
    email = ScriptedChannel("email")
    notifier = make(clock, email, preferences=prefs)
    clock.set(datetime(2026, 6, 1, 21, 30, tzinfo=UTC))  # 23:30 in Berlin
    (held,) = await notifier.send(note(what="weekly report"))
    (urgent,) = await notifier.send(note(what="breach", critical=True))
    assert held.available_at == datetime(2026, 6, 2, 5, 0, tzinfo=UTC)
    worker = DeliveryWorker(notifier)
    await worker.drain()
    assert [c.subject for _, c, _ in email.sent] == ["Alert: breach"]
    clock.set(datetime(2026, 6, 2, 4, 59, tzinfo=UTC))
    await worker.drain()
    assert len(email.sent) == 1, "nothing goes out inside the window"
    clock.set(datetime(2026, 6, 2, 5, 0, tzinfo=UTC))
    await worker.drain()
    assert [c.subject for _, c, _ in email.sent] == ["Alert: breach", "Alert: weekly report"]
    assert urgent.status is S.PENDING


async def test_transient_failures_retry_with_backoff_then_dead_and_requeue(clock: FakeClock) -> None:
    email = ScriptedChannel("email", failures={"alice@example.com": ["transient"] * 3 + ["raise"]})
    notifier = make(clock, email)
    worker = DeliveryWorker(notifier, retries={"email": RetryPolicy((10, 60, 300), jitter=0)})
    (job,) = await notifier.send(note())
    await worker.drain()
    for wait in (10, 60, 300):
        (stored,) = await notifier.outbox.jobs(job.notification_id)
        assert stored.status is S.PENDING
        assert stored.available_at == clock.now() + timedelta(seconds=wait)
        clock.advance(wait)
        await worker.drain()
    (dead,) = await notifier.outbox.jobs(job.notification_id)
    assert (dead.status, dead.attempts) == (S.DEAD, 4)
    assert "connection reset" in (dead.reason or "")
    await notifier.outbox.requeue(dead.id)
    await worker.drain()
    (sent,) = await notifier.outbox.jobs(job.notification_id)
    assert sent.status is S.SENT
    assert len(email.sent) == 1
    with pytest.raises(NotificationsConfigurationError, match="not dead"):
        await notifier.outbox.requeue(dead.id)


async def test_permanent_failure_fails_over_to_the_secondary_channel(clock: FakeClock) -> None:
    push = ScriptedChannel("push", failures={"alice": ["permanent"]})
    email = ScriptedChannel("email")
    notifier = make(clock, push, email, failover={"push": "email"})
    (job,) = await notifier.send(note(alice(push="alice", email="alice@example.com")), channels=["push"])
    assert job.fallback_channel == "email"
    await DeliveryWorker(notifier).drain()
    jobs = {j.channel: j for j in await notifier.outbox.jobs(job.notification_id)}
    assert jobs["push"].status is S.FAILED
    assert "failed over to email" in (jobs["push"].reason or "")
    assert jobs["email"].status is S.SENT
    assert [a for a, _, _ in email.sent] == ["alice@example.com"]


async def test_failover_never_uses_an_opted_out_channel(clock: FakeClock) -> None:
    prefs = MemoryPreferenceStore([Preferences("alice", choices={("email", "*"): False})])
    push = ScriptedChannel("push", failures={"alice": ["permanent"]})
    email = ScriptedChannel("email")
    notifier = make(clock, push, email, failover={"push": "email"}, preferences=prefs)
    (job,) = await notifier.send(note(alice(push="alice", email="a@x.io"), critical=True), channels=["push"])
    assert job.fallback_channel is None
    await DeliveryWorker(notifier).drain()
    assert email.sent == []


async def test_digest_collects_a_window_into_one_message(clock: FakeClock) -> None:
    email = ScriptedChannel("email")
    rule = DigestRule("hourly", "digest", window=timedelta(hours=1))
    notifier = make(clock, email, digests={"ops": rule})
    for i in range(3):
        (job,) = await notifier.send(note(what=f"event {i}"))
        assert job.status is S.BATCHED
        clock.advance(60)
    (urgent,) = await notifier.send(note(what="fire", critical=True))
    assert urgent.status is S.PENDING
    worker = DeliveryWorker(notifier)
    await worker.drain()
    assert [c.subject for _, c, _ in email.sent] == ["Alert: fire"]
    clock.set(datetime(2026, 6, 1, 11, 0, tzinfo=UTC))
    (later,) = await notifier.send(note(what="next window"))
    await worker.drain()
    assert [c.subject for _, c, _ in email.sent] == ["Alert: fire", "3 updates"]
    assert email.sent[1][1].text == "Alert: event 0\nAlert: event 1\nAlert: event 2\n"
    clock.set(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    await worker.drain()
    assert email.sent[2][1].subject == "1 updates"
    assert later.digest_group != job.digest_group


async def test_a_daily_digest_respects_quiet_hours(clock: FakeClock) -> None:
    prefs = MemoryPreferenceStore(
        [Preferences("alice", timezone="Europe/Berlin", quiet_hours=QuietWindow.daily(time(6), time(9)))]
    )
    notifier = make(clock, digests={"ops": DigestRule("daily", "digest", at=time(8))}, preferences=prefs)
    (job,) = await notifier.send(note())
    # Daily at 08:00 Berlin (06:00 UTC) the next day, held by quiet hours until 09:00 Berlin.
    assert job.available_at == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
    assert "2026-06-02T06:00:00+00:00" in (job.digest_group or "")


async def test_rate_limits_reschedule_without_counting_an_attempt(clock: FakeClock) -> None:
    email = ScriptedChannel("email")
    notifier = make(clock, email)
    worker = DeliveryWorker(
        notifier,
        limiter=MemoryRateLimiter(clock=clock),
        recipient_rate=Rate(2, 60),
        channel_rates={"email": Rate(100, 1)},
    )
    for i in range(5):
        await notifier.send(note(what=str(i)))
    await worker.drain()
    assert len(email.sent) == 2
    waiting = [j for j in notifier.outbox.snapshot() if j.status is S.PENDING]  # type: ignore[attr-defined]
    assert {j.attempts for j in waiting} == {0}
    assert all(j.available_at == clock.now() + timedelta(seconds=30) for j in waiting)
    clock.advance(30)
    await worker.drain()
    assert len(email.sent) == 3
    clock.advance(300)
    await worker.drain()
    assert len(email.sent) == 5


async def test_render_errors_fail_the_caller_not_the_worker(clock: FakeClock) -> None:
    templates = registry()
    templates.register(Template("broken", Alert, subject="s", text="{{ what.missing }}"))
    email = ScriptedChannel("email")
    notifier = Notifier(templates=templates, channels=[email], clock=clock)
    with pytest.raises(TemplateRenderError, match="missing"):
        await notifier.send(Notification(alice(), "ops", "broken", Alert(what="x")))
    assert await DeliveryWorker(notifier).drain() == 0


def test_bad_configuration(clock: FakeClock) -> None:
    with pytest.raises(NotificationsTypeError, match="templates"):
        Notifier(templates={}, channels=[])  # type: ignore[arg-type]
    with pytest.raises(NotificationsConfigurationError, match="unregistered"):
        make(clock, digests={"ops": DigestRule("k", "nope", window=timedelta(hours=1))})
    with pytest.raises(UnknownChannelError):
        make(clock, failover={"email": "pigeon"})
    notifier = make(clock)
    with pytest.raises(NotificationsConfigurationError, match="limiter"):
        DeliveryWorker(notifier, recipient_rate=Rate(1, 1))
    with pytest.raises(NotificationsConfigurationError, match="batch"):
        DeliveryWorker(notifier, batch=0)
    with pytest.raises(NotificationsConfigurationError, match="delays"):
        RetryPolicy((-1,))
    with pytest.raises(NotificationsTypeError, match="recipient"):
        Notification("alice", "ops", "alert", Alert(what="x"))  # type: ignore[arg-type]
    with pytest.raises(NotificationsTypeError, match="context"):
        Notification(alice(), "ops", "alert", {"what": "x"})  # type: ignore[arg-type]
    with pytest.raises(NotificationsConfigurationError, match="category"):
        Notification(alice(), "has space", "alert", Alert(what="x"))
    with pytest.raises(NotificationsConfigurationError, match="limit"):
        Rate(0, 1)
    with pytest.raises(NotificationsConfigurationError, match="per"):
        Rate(1, 0)


class OutboxMachine(RuleBasedStateMachine):
    """Stateful: whatever the channel does and however time moves, every notification ends sent,
    dead or failed exactly once, and a sent one was delivered exactly once."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(START)
        self.email = ScriptedChannel("email")
        self.notifier = make(self.clock, self.email, outbox=MemoryOutbox(clock=self.clock))
        self.worker = DeliveryWorker(self.notifier, retry=RetryPolicy((5, 10), jitter=0), lease=30)
        self.ids: list[str] = []
        self.runner = _Runner()

    @rule(script=st.lists(st.sampled_from(["ok", "transient", "permanent", "raise"]), max_size=4))
    def send(self, script: list[str]) -> None:
        address = f"u{len(self.ids)}@example.com"
        self.email.failures[address] = list(script)
        (job,) = self.runner.run(self.notifier.send(note(Recipient(address, {"email": address}))))
        self.ids.append(job.notification_id)

    @rule(seconds=st.integers(0, 40))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def work(self) -> None:
        self.runner.run(self.worker.run_once())

    @invariant()
    def delivered_at_most_once_and_only_when_sent(self) -> None:
        delivered = [nid for _, _, nid in self.email.sent]
        assert len(delivered) == len(set(delivered))
        for job in self.notifier.outbox.snapshot():  # type: ignore[attr-defined]
            if job.status is S.SENT:
                assert job.notification_id in delivered
            else:
                assert job.notification_id not in delivered

    def teardown(self) -> None:
        try:
            for _ in range(4):  # longer than every retry delay and lease together
                self.clock.advance(60)
                self.runner.run(self.worker.drain())
            for job in self.notifier.outbox.snapshot():  # type: ignore[attr-defined]
                assert job.status in (S.SENT, S.DEAD, S.FAILED), job
        finally:
            self.runner.close()


class _Runner:
    def __init__(self) -> None:
        import asyncio  # noqa: PLC0415

        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.close()


TestOutboxMachine = OutboxMachine.TestCase
TestOutboxMachine.settings = settings(
    max_examples=30, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class ClockedChannel(ScriptedChannel):
    """Records the clock reading at each delivery."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__("email")
        self.clock = clock
        self.at: list[datetime] = []

    async def deliver(self, payload: Any) -> Any:
        self.at.append(self.clock.now())
        return await super().deliver(payload)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]),
    windows=st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 23), st.integers(0, 23)).filter(lambda t: t[1] != t[2]),
        min_size=1,
        max_size=5,
    ),
    start=st.builds(
        lambda month, day, minutes: datetime(2026, month, day, tzinfo=UTC) + timedelta(minutes=minutes),
        st.sampled_from([3, 4, 10, 11]),
        st.integers(1, 28),
        st.integers(0, 1440),
    ),
    steps=st.lists(st.integers(1, 180), min_size=1, max_size=30),
)
def test_property_18_held_notifications_go_out_only_outside_quiet_hours(
    zone: str, windows: list[tuple[int, int, int]], start: datetime, steps: list[int]
) -> None:
    """Property 18: driven by a FakeClock through DST, the worker never delivers inside a quiet window,
    and a held notification goes out at the first worker run after the window opens."""
    quiet = tuple(QuietWindow(d, time(s), time(e)) for d, s, e in windows)
    prefs = Preferences("alice", timezone=zone, quiet_hours=quiet)
    clock = FakeClock(start)
    email = ClockedChannel(clock)
    notifier = make(clock, email, preferences=MemoryPreferenceStore([prefs]))
    runner = _Runner()
    try:
        (job,) = runner.run(notifier.send(note()))
        worker = DeliveryWorker(notifier)
        runs = [clock.now()]
        runner.run(worker.run_once())
        for minutes in steps:
            clock.advance(minutes * 60)
            runs.append(clock.now())
            runner.run(worker.run_once())
    finally:
        runner.close()
    for at in email.at:
        assert prefs.quiet_until(at) is None, f"delivered at {at} inside quiet hours"
    if not email.at:
        assert clock.now() < job.available_at, "a due notification was not delivered"
    else:
        assert email.at == [next(t for t in runs if t >= job.available_at)], "held longer than needed"


async def test_purge_drops_old_final_jobs_and_frees_dedupe_keys(clock: FakeClock) -> None:
    email = ScriptedChannel("email")
    notifier = make(clock, email)
    await notifier.send(note(dedupe_key="k1"))
    await DeliveryWorker(notifier).drain()
    clock.advance(3600)
    (pending,) = await notifier.send(note(what="later"))
    assert await notifier.outbox.purge(clock.now()) == 1
    assert await notifier.outbox.counts() == {S.PENDING: 1}
    (again,) = await notifier.send(note(dedupe_key="k1"))
    assert again.status is S.PENDING
    assert pending.status is S.PENDING


class GatedChannel(ScriptedChannel):
    """Holds every send that starts before ``release_after`` until ``gate`` opens (a slow provider)."""

    def __init__(self, clock: FakeClock, release_after: datetime) -> None:
        super().__init__("email")
        self.clock = clock
        self.release_after = release_after
        self.gate = asyncio.Event()
        self.held = 0

    async def deliver(self, payload: Any) -> Any:
        if self.clock.now() < self.release_after:
            self.held += 1
            await self.gate.wait()
        return await super().deliver(payload)


async def test_a_worker_whose_lease_ran_out_starts_no_more_sends(clock: FakeClock) -> None:
    """A claim lost to lease expiry: the slow worker sends at most its in-flight messages again."""
    channel = GatedChannel(clock, START + timedelta(seconds=61))
    notifier = make(clock, channel)
    for i in range(20):
        await notifier.send(note(Recipient(f"u{i}", {"email": f"u{i}@example.com"})))
    slow = asyncio.create_task(DeliveryWorker(notifier, lease=60, batch=20, concurrency=2).run_once())
    for _ in range(50):
        await asyncio.sleep(0)
    assert channel.held == 2, "two sends in flight, the other 18 wait for a lane"
    clock.advance(61)  # the slow worker's lease runs out; another worker takes every job
    assert await DeliveryWorker(notifier).drain() == 20
    channel.gate.set()
    await slow
    sent = Counter(nid for _, _, nid in channel.sent)
    assert len(sent) == 20
    assert sum(sent.values()) - 20 <= 2, "only the sends in flight when the lease ran out go twice"
    assert await notifier.outbox.counts() == {S.SENT: 20}


async def test_sends_start_only_while_half_the_lease_is_left(clock: FakeClock) -> None:
    class Slow(ScriptedChannel):
        async def deliver(self, payload: Any) -> Any:
            clock.advance(10)  # each send takes ten seconds
            return await super().deliver(payload)

    channel = Slow("email")
    notifier = make(clock, channel)
    for i in range(10):
        await notifier.send(note(Recipient(f"u{i}", {"email": f"u{i}@example.com"})))
    worker = DeliveryWorker(notifier, lease=60, batch=10, concurrency=1)
    assert await worker.run_once() == 3  # started at 0, 10 and 20 s; at 30 s only half the lease is left
    counts = await notifier.outbox.counts()
    assert counts == {S.SENT: 3, S.PENDING: 7}, "the rest is put back, due at once"
    assert all(j.attempts == 0 for j in notifier.outbox.snapshot() if j.status is S.PENDING)  # type: ignore[attr-defined]
    await worker.drain()
    assert len(channel.sent) == 10


async def test_any_recipient_id_is_rate_limited_without_breaking_the_worker(clock: FakeClock) -> None:
    """Recipient ids are free text; the bucket key they make must not be refused inside the worker."""
    email = ScriptedChannel("email")
    notifier = make(clock, email)
    worker = DeliveryWorker(notifier, limiter=MemoryRateLimiter(clock=clock), recipient_rate=Rate(1, 60))
    for who in ("Ann Smith", "ann@example.com", "Zoë/ü#1"):
        await notifier.send(note(Recipient(who, {"email": "a@example.com"})))
    assert await worker.drain() == 3
    assert len(email.sent) == 3


async def test_a_stored_job_whose_address_cannot_be_used_fails_at_once_without_a_traceback(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A job stored before addresses were checked (or by hand) fails on its first attempt, quietly."""
    smtp = SmtpChannel("127.0.0.1", 25, sender="notify@example.com")
    notifier = Notifier(templates=registry(), channels=[smtp], clock=clock)
    bad = Job(
        id="j1",
        notification_id="n1",
        recipient_id="alice",
        channel="email",
        address="u@example.com, evil@attacker.test",
        category="ops",
        content=Rendered("s", "t"),
        created_at=START,
        available_at=START,
    )
    await notifier.outbox.enqueue([bad])
    with caplog.at_level(logging.WARNING):
        assert await DeliveryWorker(notifier).drain() == 1
    (stored,) = await notifier.outbox.jobs("n1")
    assert (stored.status, stored.attempts) == (S.FAILED, 1)
    assert "cannot be prepared" in (stored.reason or "")
    assert "evil@attacker.test" not in (stored.reason or "")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
