"""Each OpenTelemetry instrument of buttress.notifications, read back through `metric_reader`.

Attributes are bounded: a channel's kind (the package's own channels by class, ``custom`` for any
other), an outcome, a decision, a claim kind, a rate-limit scope, a lease-loss reason. No test may
find an address, a recipient id or a channel's configured name among them.
"""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from buttress.notifications import (
    DeliveryWorker,
    DigestRule,
    MemoryPreferenceStore,
    MemoryRateLimiter,
    Message,
    NotificationsUnavailableError,
    Notifier,
    PostgresOutbox,
    Preferences,
    QuietWindow,
    Rate,
    Recipient,
    RecipientResult,
    RetryPolicy,
    SmtpChannel,
)
from buttress.testing import FakeClock, PostgresServer, RecordedMetrics, check_bound_when_made

from .conftest import PASSWORD, USER, MailServer, ScriptedChannel
from .test_delivery import START, alice, note, registry

PREFIX = "buttress.notifications."
CUSTOM = {"notification.channel.kind": "custom"}


class Slow(ScriptedChannel):
    """Takes ``seconds`` of the fake clock per delivery."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__("email")
        self.clock = clock
        self.seconds = seconds

    async def deliver(self, payload: Message) -> list[RecipientResult]:
        self.clock.advance(self.seconds)
        return await super().deliver(payload)


def _no_personal_data(metric_reader: RecordedMetrics) -> None:
    for name in metric_reader.names(PREFIX):
        for point in metric_reader.points(name):
            for value in point.attributes.values():
                assert "@" not in str(value)
                assert "alice" not in str(value)


async def test_sends_and_their_duration_by_channel_kind(metric_reader: RecordedMetrics) -> None:
    clock = FakeClock(START)
    notifier = Notifier(templates=registry(), channels=[Slow(clock, 2.5)], clock=clock)
    await notifier.send(note())
    await notifier.send(note(what="again"))
    await DeliveryWorker(notifier, concurrency=1).drain()
    assert metric_reader.value(PREFIX + "sent", CUSTOM) == 2
    assert metric_reader.count(PREFIX + "send.duration", CUSTOM) == 2
    assert metric_reader.value(PREFIX + "send.duration", CUSTOM) == pytest.approx(5.0)
    assert metric_reader.value(PREFIX + "failed") == 0
    _no_personal_data(metric_reader)


async def test_a_real_smtp_channel_is_the_email_kind(
    mail_server: MailServer, metric_reader: RecordedMetrics
) -> None:
    smtp = SmtpChannel(
        "127.0.0.1",
        mail_server.port,
        sender="notify@example.com",
        username=USER,
        password=PASSWORD,
        tls_context=mail_server.client_tls,
        name="mail-eu",
    )
    async with smtp:
        notifier = Notifier(templates=registry(), channels=[smtp], clock=FakeClock(START))
        await notifier.send(note(alice(**{"mail-eu": "alice@example.com"})))
        await DeliveryWorker(notifier).drain()
    email = {"notification.channel.kind": "email"}
    assert metric_reader.value(PREFIX + "sent", email) == 1
    assert metric_reader.count(PREFIX + "send.duration", email) == 1
    assert metric_reader.value(PREFIX + "decisions", {**email, "notification.decision": "send"}) == 1
    assert len(mail_server.handler.received) == 1
    _no_personal_data(metric_reader)


async def test_failures_by_outcome_and_dead_jobs(metric_reader: RecordedMetrics) -> None:
    clock = FakeClock(START)
    email = ScriptedChannel(
        "email",
        failures={"alice@example.com": ["transient", "transient"], "bob@example.com": ["permanent"]},
    )
    notifier = Notifier(templates=registry(), channels=[email], clock=clock)
    await notifier.send(note())
    await notifier.send(note(Recipient("bob", {"email": "bob@example.com"})))
    worker = DeliveryWorker(notifier, retry=RetryPolicy((10.0,), jitter=0.0))
    await worker.drain()
    clock.advance(11)
    await worker.drain()
    transient = {**CUSTOM, "notification.outcome": "transient"}
    permanent = {**CUSTOM, "notification.outcome": "permanent"}
    assert metric_reader.value(PREFIX + "failed", transient) == 2  # the first try, then the one retry
    assert metric_reader.value(PREFIX + "failed", permanent) == 1
    assert metric_reader.value(PREFIX + "outbox.dead", CUSTOM) == 1  # alice's, once retries ran out
    assert metric_reader.value(PREFIX + "sent") == 0
    _no_personal_data(metric_reader)


async def test_decisions_send_hold_suppress_and_digest(metric_reader: RecordedMetrics) -> None:
    clock = FakeClock(START)  # 12:00 in Berlin
    quiet = Preferences("ann", "Europe/Berlin", quiet_hours=QuietWindow.daily(time(11), time(13)))
    opted_out = Preferences("bob", "UTC", {("email", "ops"): False})
    notifier = Notifier(
        templates=registry(),
        channels=[ScriptedChannel("email"), ScriptedChannel("sms")],
        preferences=MemoryPreferenceStore([quiet, opted_out]),
        digests={"social": DigestRule("hourly", "digest", window=timedelta(hours=1))},
        clock=clock,
    )
    await notifier.send(note(alice(email="alice@example.com")))  # send
    await notifier.send(note(Recipient("ann", {"email": "ann@example.com"})))  # hold
    await notifier.send(note(Recipient("bob", {"email": "bob@example.com"})))  # suppress
    await notifier.send(note(category="social"))  # digest
    await notifier.send(note(), channels=["sms"])  # no sms address: suppress
    for decision, expected in [("send", 1), ("hold", 1), ("suppress", 2), ("digest", 1)]:
        wanted = {**CUSTOM, "notification.decision": decision}
        assert metric_reader.value(PREFIX + "decisions", wanted) == expected, decision
    _no_personal_data(metric_reader)


async def test_rate_limit_waits_by_scope_and_claims_by_kind(metric_reader: RecordedMetrics) -> None:
    clock = FakeClock(START)
    notifier = Notifier(
        templates=registry(),
        channels=[ScriptedChannel("email")],
        digests={"social": DigestRule("hourly", "digest", window=timedelta(hours=1))},
        clock=clock,
    )
    worker = DeliveryWorker(
        notifier,
        limiter=MemoryRateLimiter(clock=clock),
        recipient_rate=Rate(1, 60),
        channel_rates={"email": Rate(2, 60)},
        concurrency=1,
    )
    await notifier.send(note())
    await notifier.send(note(what="second for alice"))  # alice's bucket is spent
    await notifier.send(note(Recipient("bob", {"email": "bob@example.com"})))  # the channel's too
    await notifier.send(note(category="social"))
    await worker.run_once()
    claims = PREFIX + "outbox.claims"
    assert metric_reader.value(claims, {"notification.claim.kind": "single"}) == 3
    assert metric_reader.value(claims, {"notification.claim.kind": "digest"}) == 0
    waits = PREFIX + "rate_limit.waits"
    assert metric_reader.value(waits, {**CUSTOM, "notification.rate_limit.scope": "recipient"}) == 1
    assert metric_reader.value(waits, {**CUSTOM, "notification.rate_limit.scope": "channel"}) == 1
    clock.advance(timedelta(hours=1))
    await worker.drain()
    assert metric_reader.value(claims, {"notification.claim.kind": "digest"}) == 1
    _no_personal_data(metric_reader)


async def test_a_lease_too_short_to_start_is_a_lease_loss(metric_reader: RecordedMetrics) -> None:
    clock = FakeClock(START)
    notifier = Notifier(templates=registry(), channels=[Slow(clock, 40.0)], clock=clock)
    for i in range(3):
        await notifier.send(note(Recipient(f"u{i}", {"email": f"u{i}@example.com"})))
    assert await DeliveryWorker(notifier, lease=60.0, concurrency=1).run_once() == 1
    losses = PREFIX + "worker.lease_losses"
    assert metric_reader.value(losses, {"notification.lease.reason": "expiring"}) == 2
    assert metric_reader.value(losses, {"notification.lease.reason": "unavailable"}) == 0


class StopsTheOutbox(ScriptedChannel):
    """Stops the outbox's PostgreSQL server during its first delivery, as a crash would."""

    def __init__(self, server: PostgresServer) -> None:
        super().__init__("email")
        self.server = server

    async def deliver(self, payload: Message) -> list[RecipientResult]:
        if not self.sent:
            self.server.stop()
        return await super().deliver(payload)


@pytest.mark.postgres
async def test_outcomes_the_outbox_cannot_record_are_lease_losses(
    postgres_server: PostgresServer, metric_reader: RecordedMetrics
) -> None:
    clock = FakeClock(START)
    channel = StopsTheOutbox(postgres_server)
    async with await PostgresOutbox.connect(postgres_server.dsn, table="m", clock=clock) as box:
        await box.create_schema()
        notifier = Notifier(templates=registry(), channels=[channel], outbox=box, clock=clock)
        for i in range(3):
            await notifier.send(note(Recipient(f"u{i}", {"email": f"u{i}@example.com"})))
        with pytest.raises(NotificationsUnavailableError):
            await DeliveryWorker(notifier, concurrency=1).run_once()
    assert len(channel.sent) == 1
    losses = PREFIX + "worker.lease_losses"
    assert metric_reader.value(losses, {"notification.lease.reason": "unavailable"}) == 3
    assert metric_reader.value(PREFIX + "outbox.claims", {"notification.claim.kind": "single"}) == 3


def test_making_the_rate_limiter_binds_the_package_s_instruments() -> None:
    make = (
        "from buttress.notifications import RedisRateLimiter; RedisRateLimiter.from_url('redis://localhost')"
    )
    assert "buttress.notifications.rate_limit.waits" in check_bound_when_made(
        "buttress.notifications._metrics:TELEMETRY", make
    )
