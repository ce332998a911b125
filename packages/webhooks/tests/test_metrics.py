"""Every instrument of buttress.webhooks, read back through the in-memory OpenTelemetry reader."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from buttress.testing import FakeClock, PostgresSchema, RecordedMetrics, check_bound_when_made
from buttress.webhooks import (
    DeliveryWorker,
    Endpoint,
    GitHubVerifier,
    MemoryEndpointStore,
    MemoryOutbox,
    MemoryReplayGuard,
    PostgresOutbox,
    ReplayedWebhookError,
    RetrySchedule,
    SignatureMismatchError,
    StripeVerifier,
    WebhookInFlightError,
    WebhookReceiver,
    WebhookSigner,
    WebhooksUnavailableError,
    WebhookVerifier,
)

from .conftest import LOOPBACK, SECRET, Receiver

BODY = b'{"type":"invoice.paid"}'


def test_verifications_are_counted_by_scheme_and_outcome(metric_reader: RecordedMetrics) -> None:
    verifier = WebhookVerifier(SECRET)
    headers = WebhookSigner(SECRET).headers(BODY)
    verifier.verify(headers, BODY)
    with pytest.raises(SignatureMismatchError):
        verifier.verify(headers, BODY + b" ")
    with pytest.raises(Exception):  # noqa: B017 - whichever header error: counted as such
        verifier.verify({}, BODY)
    stripe = StripeVerifier("whsec_stripe")
    stripe.verify({"stripe-signature": stripe.sign(BODY)}, BODY)
    github = GitHubVerifier("s3cret")
    with pytest.raises(SignatureMismatchError):
        github.verify({"x-hub-signature-256": "sha256=" + "0" * 64}, BODY)
    name = "buttress.webhooks.verifications"
    assert metric_reader.value(name, {"webhooks.scheme": "standard", "webhooks.outcome": "verified"}) == 1
    assert (
        metric_reader.value(name, {"webhooks.scheme": "standard", "webhooks.outcome": "signature_mismatch"})
        == 1
    )
    assert (
        metric_reader.value(name, {"webhooks.scheme": "standard", "webhooks.outcome": "missing_header"}) == 1
    )
    assert metric_reader.value(name, {"webhooks.scheme": "stripe", "webhooks.outcome": "verified"}) == 1
    assert (
        metric_reader.value(name, {"webhooks.scheme": "github", "webhooks.outcome": "signature_mismatch"})
        == 1
    )
    for point in metric_reader.points(name):
        assert set(point.attributes) == {"webhooks.scheme", "webhooks.outcome"}


async def test_replays_and_copies_in_flight_are_counted(metric_reader: RecordedMetrics) -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    first = await receiver.receive(headers, BODY)
    with pytest.raises(WebhookInFlightError):
        await receiver.receive(headers, BODY)
    await receiver.complete(first)
    with pytest.raises(ReplayedWebhookError):
        await receiver.receive(headers, BODY)
    name = "buttress.webhooks.replay.refusals"
    assert metric_reader.value(name, {"webhooks.reason": "in_flight"}) == 1
    assert metric_reader.value(name, {"webhooks.reason": "replay"}) == 1


class _DownGuard(MemoryReplayGuard):
    """A guard whose store is unreachable (what `RedisReplayGuard` raises with Redis gone)."""

    async def claim(self, key: str, lease: float) -> Any:
        raise WebhooksUnavailableError("redis", "redis://127.0.0.1:1", "ConnectionError")


async def test_an_unreachable_replay_guard_is_counted(metric_reader: RecordedMetrics) -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=_DownGuard())
    with pytest.raises(WebhooksUnavailableError):
        await receiver.receive(WebhookSigner(SECRET).headers(BODY), BODY)
    assert metric_reader.value("buttress.webhooks.unavailable", {"webhooks.component": "replay_guard"}) == 1


@pytest.mark.postgres
async def test_an_unreachable_outbox_is_counted(
    metric_reader: RecordedMetrics, postgres_schema: PostgresSchema, postgres_table: str
) -> None:
    outbox = await PostgresOutbox.connect(
        postgres_schema.dsn,
        MemoryEndpointStore(),
        table=postgres_table,
        max_size=1,
        server_settings=postgres_schema.server_settings,
    )
    await outbox.aclose()  # its pool is closed: every claim finds the outbox unreachable
    stop = asyncio.Event()

    async def stop_once_counted() -> None:
        for _ in range(3000):  # a metric reader has no event to wait on: look every 10 ms
            if metric_reader.value("buttress.webhooks.unavailable", {"webhooks.component": "outbox"}):
                break
            await asyncio.sleep(0.01)
        stop.set()

    async with DeliveryWorker(outbox, policy=LOOPBACK, poll_interval=0.01) as worker:
        await asyncio.wait_for(asyncio.gather(worker.run(stop=stop), stop_once_counted()), 30)
    assert metric_reader.value("buttress.webhooks.unavailable", {"webhooks.component": "outbox"}) >= 1


async def test_deliveries_durations_claims_dead_and_endpoint_health(
    metric_reader: RecordedMetrics, receiver: Receiver, fake_clock: FakeClock
) -> None:
    token = receiver.token()
    store = MemoryEndpointStore(
        [
            Endpoint(receiver.url(token), (SECRET,), id="ep_ok"),
            Endpoint(receiver.url(token, "fail"), (SECRET,), id="ep_fail"),
            Endpoint(receiver.url(token, "gone"), (SECRET,), id="ep_gone"),
        ]
    )
    outbox = MemoryOutbox(store, schedule=RetrySchedule((0,), jitter=0), clock=fake_clock)
    await outbox.send("e", {"n": 1})
    async with DeliveryWorker(outbox, policy=LOOPBACK, timeout=5, lease=30, disable_after=None) as worker:
        assert await worker.drain() == 3
    attempts = "buttress.webhooks.delivery.attempts"
    assert metric_reader.value(attempts, {"webhooks.outcome": "delivered"}) == 1
    assert metric_reader.value(attempts, {"webhooks.outcome": "dead"}) == 1
    assert metric_reader.value(attempts, {"webhooks.outcome": "gone"}) == 1
    assert metric_reader.count("buttress.webhooks.delivery.duration") == 3
    assert (
        metric_reader.value("buttress.webhooks.delivery.dead", {"webhooks.reason": "last_attempt_failed"})
        == 1
    )
    assert metric_reader.count("buttress.webhooks.outbox.claimed") >= 2
    assert metric_reader.value("buttress.webhooks.outbox.claimed") == 3
    health = "buttress.webhooks.endpoint.health_changes"
    assert metric_reader.value(health, {"webhooks.change": "failing"}) == 2  # ep_fail and ep_gone
    assert metric_reader.value(health, {"webhooks.change": "disabled", "webhooks.reason": "gone"}) == 1


async def test_a_last_lease_that_ran_out_is_counted_dead(
    metric_reader: RecordedMetrics, fake_clock: FakeClock
) -> None:
    store = MemoryEndpointStore([Endpoint("http://127.0.0.1:9/", (SECRET,), id="ep")])
    outbox = MemoryOutbox(store, schedule=RetrySchedule((0,), jitter=0), clock=fake_clock)
    await outbox.send("e", {})
    claims, _ = await outbox.claim(limit=1, lease=30, token="dead-worker")  # noqa: S106 - a lease token
    assert len(claims) == 1
    fake_clock.advance(31)
    async with DeliveryWorker(outbox, policy=LOOPBACK, timeout=5, lease=30) as worker:
        assert await worker.run_once() == 1
    assert metric_reader.value("buttress.webhooks.delivery.dead", {"webhooks.reason": "lease_expired"}) == 1


def test_every_instrument_is_named_after_the_package() -> None:
    from buttress.webhooks import _metrics  # noqa: PLC0415 - the private module, to list the instruments

    names = {
        _metrics.VERIFICATIONS.name,
        _metrics.REFUSALS.name,
        _metrics.DELIVERIES.name,
        _metrics.DELIVERY_DURATION.name,
        _metrics.DEAD.name,
        _metrics.CLAIM_SIZE.name,
        _metrics.ENDPOINT_HEALTH.name,
        _metrics.UNAVAILABLE.name,
    }
    assert all(name.startswith("buttress.webhooks.") for name in names)
    assert len(names) == 8


@pytest.mark.postgres
async def test_an_endpoint_starting_to_fail_is_counted_on_the_real_clock(
    metric_reader: RecordedMetrics, receiver: Receiver, postgres_pool: Any, postgres_table: str
) -> None:
    """On the system clock and PostgreSQL's timestamps too, not only on a frozen fake clock."""
    token = receiver.token()
    store = MemoryEndpointStore([Endpoint(receiver.url(token, "fail"), (SECRET,), id="ep_fail")])
    outbox = PostgresOutbox(postgres_pool, store, table=postgres_table, schedule=RetrySchedule((0, 3600)))
    await outbox.create_schema()
    await outbox.send("e", {"n": 1})
    async with DeliveryWorker(outbox, policy=LOOPBACK, timeout=5, lease=30) as worker:
        assert await worker.run_once() == 1
    assert (
        metric_reader.value("buttress.webhooks.endpoint.health_changes", {"webhooks.change": "failing"}) == 1
    )
    assert metric_reader.value("buttress.webhooks.delivery.attempts", {"webhooks.outcome": "retry"}) == 1


def test_making_the_replay_guard_binds_the_package_s_instruments() -> None:
    make = "from buttress.webhooks import RedisReplayGuard; RedisReplayGuard.from_url('redis://localhost')"
    assert "buttress.webhooks.replay.refusals" in check_bound_when_made(
        "buttress.webhooks._metrics:TELEMETRY", make
    )
