"""The tour's buttress-webhooks section."""

from __future__ import annotations

import secrets

import asyncpg
import httpx

from buttress.webhooks import (
    DeliveryWorker,
    Endpoints,
    MemoryEndpointStore,
    MemoryOutbox,
    MemoryReplayGuard,
    NetworkPolicy,
    PostgresOutbox,
    RedisReplayGuard,
    ReplayedWebhookError,
    VerifiedWebhook,
    WebhookEndpoint,
    WebhookInFlightError,
    WebhookReceiver,
    WebhookSigner,
    WebhookVerificationError,
    WebhookVerifier,
    generate_secret,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "ASGI endpoint: 204, then 200 to its replay; handled 1",
    "SSRF guard: 169.254.169.254 -> cloud metadata service",
    "MemoryOutbox: sent, delivered by a DeliveryWorker with status 204",
)
REAL: tuple[str, ...] = (
    "RedisReplayGuard: a copy arriving while the first is handled is told to retry",
    "RedisReplayGuard: once handled, a copy is a replay in every process",
    "outbox: sent in the caller's transaction, delivered with status 204",
)


async def run(tour: Tour) -> None:
    secret = generate_secret()
    body = b'{"type": "invoice.paid", "id": "in_42"}'
    headers = WebhookSigner(secret).headers(body)
    verifier = WebhookVerifier(secret)
    tour.say(f"signed {headers['webhook-id']}, verified: {verifier.verify(headers, body).json()}")
    try:
        verifier.verify({**headers, "webhook-timestamp": "not-a-number"}, body)
    except WebhookVerificationError as exc:
        tour.say(f"tampered headers are refused with a typed error: {type(exc).__name__}")
    tour.say(f"SSRF guard: 169.254.169.254 -> {NetworkPolicy().refusal('169.254.169.254')}")
    received: list[VerifiedWebhook] = []

    async def handle(webhook: VerifiedWebhook) -> None:
        received.append(webhook)

    app = WebhookEndpoint(handle, WebhookReceiver(verifier, replay_guard=MemoryReplayGuard()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hooks") as client:
        first = await client.post("/", headers=headers, content=body)
        again = await client.post("/", headers=headers, content=body)
    tour.say(
        f"ASGI endpoint: {first.status_code}, then {again.status_code} to its replay; handled {len(received)}"
    )
    endpoints = Endpoints(MemoryEndpointStore())
    await endpoints.create("https://hooks.example.test/billing", secret=secret, event_types=["invoice.paid"])
    memory = MemoryOutbox(endpoints.store)  # the embedded default: no server needed
    sent = await memory.send("invoice.paid", {"id": "in_42b"})
    await deliver(memory, app)
    (tried,) = await memory.attempts(sent.id)
    tour.say(f"MemoryOutbox: sent, delivered by a DeliveryWorker with status {tried.status_code}")
    if tour.redis_url is not None:
        await shared_replay_guard(tour, tour.redis_url, verifier, headers, body)
    if tour.postgres_dsn is None:
        tour.say("PostgresOutbox: set BUTTRESS_POSTGRES_DSN to run it")
        return
    table = f"tour_{secrets.token_hex(4)}"
    outbox = await PostgresOutbox.connect(tour.postgres_dsn, endpoints.store, table=table, max_size=2)
    async with outbox:  # closes the pool connect() opened
        await outbox.create_schema()
        try:
            connection = await asyncpg.connect(tour.postgres_dsn)  # the application's own
            try:
                async with connection.transaction():  # the webhook commits with the business write
                    message = await outbox.send("invoice.paid", {"id": "in_43"}, connection=connection)
            finally:
                await connection.close()
            await deliver(outbox, app)
            (attempt,) = await outbox.attempts(message.id)
            tour.say(f"outbox: sent in the caller's transaction, delivered with status {attempt.status_code}")
        finally:
            await outbox.drop_schema()


async def deliver(outbox: MemoryOutbox | PostgresOutbox, app: WebhookEndpoint) -> None:
    """Deliver what is due, to ``app`` in this process (an ASGI transport: no network)."""
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client,
        DeliveryWorker(outbox, client=client) as worker,
    ):
        await worker.drain()


async def shared_replay_guard(
    tour: Tour, redis_url: str, verifier: WebhookVerifier, headers: dict[str, str], body: bytes
) -> None:
    guard = RedisReplayGuard.from_url(redis_url, prefix=f"tour:{secrets.token_hex(4)}:")
    shared = WebhookReceiver(verifier, replay_guard=guard)
    webhook = await shared.receive(headers, body)  # claimed under a lease, not yet handled
    try:
        await shared.receive(headers, body)
    except WebhookInFlightError:
        tour.say("RedisReplayGuard: a copy arriving while the first is handled is told to retry (503)")
    await shared.complete(webhook)
    try:
        async with shared.accept(headers, body):
            pass
    except ReplayedWebhookError:
        tour.say("RedisReplayGuard: once handled, a copy is a replay in every process")
    await guard.aclose()
