"""Static checks of buttress.webhooks' public API; run by mypy only."""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

import httpx

from buttress.webhooks import (
    DEFAULT_LEASE,
    Attempt,
    Claim,
    DeadDelivery,
    Delivery,
    DeliveryStatus,
    DeliveryWorker,
    Endpoint,
    Endpoints,
    EndpointStore,
    GitHubVerifier,
    MemoryEndpointStore,
    MemoryOutbox,
    MemoryReplayGuard,
    Message,
    NetworkPolicy,
    Outbox,
    Outcome,
    PostgresEndpointStore,
    PostgresOutbox,
    RedisReplayGuard,
    ReplayClaim,
    ReplayGuard,
    ReplayStatus,
    RetrySchedule,
    SafeTransport,
    StripeVerifier,
    VerifiedWebhook,
    Verifier,
    WebhookEndpoint,
    WebhookInFlightError,
    WebhookReceiver,
    WebhookSigner,
    WebhooksTypeError,
    WebhooksUnavailableError,
    WebhookVerifier,
    generate_secret,
    safe_client,
)

TOKEN = "lease-token"  # noqa: S105 - a lease token, not a secret


async def check(outbox: PostgresOutbox, store: PostgresEndpointStore, guard: RedisReplayGuard) -> None:
    secret = generate_secret()
    assert_type(secret, str)
    signer = WebhookSigner(secret)
    assert_type(signer.sign("msg_1", 1, b"{}"), str)
    assert_type(signer.headers(b"{}"), dict[str, str])
    verifier = WebhookVerifier([secret])
    assert_type(verifier.verify({}, b""), VerifiedWebhook)
    assert_type(verifier.replay_window, float | None)
    verifiers: list[Verifier] = [verifier, StripeVerifier("s"), GitHubVerifier("s")]
    webhook = verifiers[0].verify({}, "")
    assert_type(webhook.id, str | None)
    assert_type(webhook.timestamp, datetime | None)
    assert_type(webhook.json(), object)

    guards: list[ReplayGuard] = [MemoryReplayGuard(), guard]
    assert_type(await guards[0].claim("k", 60.0), ReplayClaim)
    assert_type((await guard.claim("k", 60.0)).status, ReplayStatus)
    receiver = WebhookReceiver(verifier, replay_guard=guards[0], lease=DEFAULT_LEASE)
    received = await receiver.receive({}, b"")
    assert_type(received, VerifiedWebhook)
    assert_type(received.claim_token, str | None)
    await receiver.complete(received)
    await receiver.forget(received)
    assert_type(await receiver.settle(received, handled=True), bool)
    async with receiver.accept({}, b"") as accepted:
        assert_type(accepted, VerifiedWebhook)
    try:
        await receiver.receive({}, b"")
    except WebhookInFlightError as exc:
        assert_type(exc.retry_after, float)

    async def handler(webhook: VerifiedWebhook) -> None:
        return None

    WebhookEndpoint(handler, receiver)

    stores: list[EndpointStore] = [MemoryEndpointStore(), store]
    endpoints = Endpoints(stores[0])
    endpoint = await endpoints.create("https://x.example/")
    assert_type(endpoint, Endpoint)
    assert_type(await endpoints.list(event_type="a"), list[Endpoint])

    assert_type(await outbox.send("e", {"a": 1}), Message)
    assert_type(await outbox.deliveries("m"), list[Delivery])
    assert_type(await outbox.attempts("m"), list[Attempt])
    assert_type(await outbox.requeue("m"), int)
    assert_type(await outbox.recover(datetime.now()), int)
    claims, dead = await outbox.claim(limit=8, lease=60, token=TOKEN)
    assert_type(claims, list[Claim])
    assert_type(dead, list[DeadDelivery])
    assert_type(await outbox.release(claims), int)
    outcomes = [Outcome(c, DeliveryStatus.DELIVERED, None, None) for c in claims]
    assert_type(await outbox.settle(outcomes), tuple[set[int], dict[str, datetime]])
    worker = DeliveryWorker(outbox, policy=NetworkPolicy(allow=["127.0.0.0/8"]))
    assert_type(await worker.run_once(), int)
    assert_type(RetrySchedule().delay_after(1), float | None)
    assert_type(safe_client(), httpx.AsyncClient)
    assert_type(SafeTransport(), SafeTransport)


async def check_the_face(dsn: str, store: PostgresEndpointStore) -> None:
    outbox = await PostgresOutbox.connect(dsn, store, table="orders_webhook", min_size=1, max_size=4)
    assert_type(outbox, PostgresOutbox)
    assert_type(outbox.table, str)
    await outbox.create_schema()
    await outbox.drop_schema()
    async with outbox:
        pass
    await outbox.aclose()
    opened = await PostgresEndpointStore.connect(dsn, table="orders_endpoints", max_size=2)
    assert_type(opened, PostgresEndpointStore)
    assert_type(opened.owns_pool, bool)
    assert_type(outbox.owns_pool, bool)
    await opened.drop_schema()
    guard = RedisReplayGuard.from_url("redis://localhost", prefix="orders:")
    assert_type(guard, RedisReplayGuard)
    async with guard:
        pass

    memory = MemoryOutbox(MemoryEndpointStore(), schedule=RetrySchedule((0, 5)))
    outboxes: list[Outbox] = [memory, outbox]
    claims, dead = await outboxes[0].claim(limit=8, lease=60, token=TOKEN)
    assert_type(claims, list[Claim])
    assert_type(dead, list[DeadDelivery])
    assert_type(await outboxes[0].release(claims, until=None), int)
    assert_type(await outboxes[0].cancel_endpoint("ep_1"), int)
    assert_type(await memory.send("e", b"{}"), Message)
    assert_type(await memory.requeue("m", endpoint_id="ep_1"), int)
    assert_type(await memory.counts(), dict[DeliveryStatus, int])
    async with DeliveryWorker(memory, policy=NetworkPolicy()) as worker:
        assert_type(await worker.drain(), int)
    async with DeliveryWorker(memory, verify="/etc/ssl/certs/ca-certificates.crt") as tls_worker:
        assert_type(await tls_worker.drain(), int)
    try:
        DeliveryWorker(memory, timeout=1.0)
    except WebhooksTypeError as exc:
        assert_type(exc.parameter, str)
    except WebhooksUnavailableError as exc:
        assert_type(exc.backend, str)
