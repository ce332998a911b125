"""Every public entry point of buttress-webhooks, driven with hostile arguments: only typed errors come out.

Each function, constructor and method of the public surface (``buttress.webhooks.__all__``) is called
with hypothesis-generated hostile values in place of its arguments; anything but a ``ButtressError``
fails. The Protocols (`EndpointStore`, `ReplayGuard`, `Verifier`, `Resolver`) are not callables and
are left out; `WebhookReceiver.accept`, an async context manager, is entered and left by
`_accept_once`. Two documented contracts widen what may come out: `Resolver.resolve` raises `OSError`
when a name does not resolve, and an httpcore network backend (`SafeNetworkBackend.connect_tcp`)
raises httpcore's ``ConnectError``/``ConnectTimeout``, which httpx turns into its own errors.
Methods that httpx and httpcore define on the transport classes are their API, not this package's.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpcore
import pytest
from redis.asyncio import Redis

import buttress.webhooks as webhooks
from buttress.testing import (
    FakeClock,
    HostileTarget,
    HostileTargets,
    PostgresSchema,
    acheck_hostile,
    check_hostile,
    check_hostile_asgi,
    hostile_values,
)
from buttress.webhooks import (
    Attempt,
    Claim,
    DeadDelivery,
    Delivery,
    DeliveryStatus,
    DeliveryWorker,
    Ed25519SigningKey,
    Ed25519VerifyKey,
    Endpoint,
    EndpointConflictError,
    EndpointNotFoundError,
    Endpoints,
    GitHubVerifier,
    HmacKey,
    InvalidBodyError,
    InvalidSecretError,
    MalformedHeaderError,
    MemoryEndpointStore,
    MemoryOutbox,
    MemoryReplayGuard,
    Message,
    MessageNotFoundError,
    MissingExtraError,
    MissingHeaderError,
    NetworkPolicy,
    Outcome,
    PostgresEndpointStore,
    PostgresOutbox,
    RedisReplayGuard,
    ReplayClaim,
    ReplayedWebhookError,
    ReplayStatus,
    RetrySchedule,
    SafeNetworkBackend,
    SafeTransport,
    SignatureMismatchError,
    StripeVerifier,
    SystemResolver,
    TimestampOutsideToleranceError,
    UnsafeDestinationError,
    VerifiedWebhook,
    WebhookAnswer,
    WebhookEndpoint,
    WebhookInFlightError,
    WebhookReceiver,
    WebhooksConfigurationError,
    WebhooksError,
    WebhookSigner,
    WebhooksTypeError,
    WebhooksUnavailableError,
    WebhookVerificationError,
    WebhookVerifier,
    generate_secret,
    generate_signing_keypair,
    parse_retry_after,
    safe_client,
)

from .conftest import SECRET

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BODY = b'{"type": "invoice.paid"}'
STRIPE_SECRET = "whsec_stripe_test"  # noqa: S105 - a test secret
PRIVATE, PUBLIC = generate_signing_keypair()
SIGNING = Ed25519SigningKey(PRIVATE)
VERIFYING = Ed25519VerifyKey(PUBLIC)
HEADERS = WebhookSigner(SECRET).headers(BODY, msg_id="msg_1", timestamp=NOW)
STRIPE = StripeVerifier(STRIPE_SECRET, clock=FakeClock(NOW))
GITHUB = GitHubVerifier("It's a Secret to Everybody")
ENDPOINT = Endpoint("https://hooks.example.com/billing", (SECRET,), id="ep_1")
CLAIM = Claim(1, "msg_1", "ep_1", 1, "invoice.paid", BODY, "token")
TOKEN = "lease-token"  # noqa: S105 - a lease token, not a secret
ATTEMPT = Attempt(1, "msg_1", "ep_1", 1, NOW, 200, 0.01, "ok", None, "delivered")


class StaticResolver:
    """A `Resolver` that answers from a table: the SSRF guard is driven without DNS."""

    async def resolve(self, host: str, port: int) -> list[str]:
        if host == "hooks.example.com":
            return ["203.0.113.7"]
        raise OSError(f"{host!r} does not resolve")


async def _handler(webhook: VerifiedWebhook) -> None:
    return None


RECEIVER = WebhookReceiver(WebhookVerifier(SECRET, clock=FakeClock(NOW)), replay_guard=MemoryReplayGuard())


async def _accept_once(headers: object, body: object) -> None:
    """`WebhookReceiver.accept` entered and left (an async context manager: not awaitable itself)."""
    async with RECEIVER.accept(headers, body):  # type: ignore[arg-type]
        pass


def _json_of(body: bytes) -> object:
    return VerifiedWebhook("standard", "msg_1", NOW, body, "msg_1").json()


TARGETS = HostileTargets()
# Signing and verification.
TARGETS.add(WebhookSigner, SECRET, clock=FakeClock(NOW))
TARGETS.add(WebhookSigner([SECRET, PRIVATE]).sign, "msg_1", 1_700_000_000, BODY)
TARGETS.add(WebhookSigner(SECRET, clock=FakeClock(NOW)).headers, BODY, msg_id="msg_1", timestamp=NOW)
TARGETS.add(
    WebhookVerifier, [SECRET, PUBLIC], tolerance=300.0, clock=FakeClock(NOW), accept_svix_headers=True
)
TARGETS.add(WebhookVerifier([SECRET, PUBLIC], clock=FakeClock(NOW)).verify, HEADERS, BODY)
TARGETS.add(WebhookVerifier(SECRET, tolerance=None).verify, HEADERS, BODY)
TARGETS.add(StripeVerifier, STRIPE_SECRET, tolerance=300.0, clock=FakeClock(NOW))
TARGETS.add(STRIPE.sign, BODY, timestamp=1_767_225_600)
TARGETS.add(STRIPE.verify, {"stripe-signature": STRIPE.sign(BODY)}, BODY)
TARGETS.add(GitHubVerifier, ["a", b"b"])
TARGETS.add(GITHUB.sign, BODY)
TARGETS.add(GITHUB.verify, {"x-hub-signature-256": GITHUB.sign(BODY), "x-github-delivery": "d-1"}, BODY)
TARGETS.add(VerifiedWebhook, "standard", "msg_1", NOW, BODY, "msg_1", "token")
TARGETS.add(_json_of, BODY, covers="VerifiedWebhook.json")
# Keys.
TARGETS.add(HmacKey, SECRET, parameter="secret")
TARGETS.add(HmacKey(SECRET).digest, BODY)
TARGETS.add(HmacKey(SECRET).signature, BODY)
TARGETS.add(Ed25519SigningKey, PRIVATE, parameter="key")
TARGETS.add(SIGNING.signature, BODY)
TARGETS.add(Ed25519VerifyKey, PUBLIC, parameter="key")
TARGETS.add(VERIFYING.verify, b"\x00" * 64, BODY)
TARGETS.add(generate_secret, 32)
# Receiving.
TARGETS.add(MemoryReplayGuard, max_entries=10, clock=FakeClock(NOW))
TARGETS.add(MemoryReplayGuard().claim, "msg_1", 60.0)
TARGETS.add(MemoryReplayGuard().complete, "msg_1", 60.0)
TARGETS.add(MemoryReplayGuard().release, "msg_1", "token")
TARGETS.add(ReplayStatus, "claimed")
TARGETS.add(ReplayClaim, ReplayStatus.CLAIMED, "token", lease_left=0.0)
TARGETS.add(ReplayClaim, ReplayStatus.IN_FLIGHT, token="", lease_left=30.0)
TARGETS.add(
    WebhookReceiver, WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard(), replay_ttl=60.0, lease=30.0
)
TARGETS.add(WebhookReceiver(WebhookVerifier(SECRET, clock=FakeClock(NOW))).verify, HEADERS, BODY)
TARGETS.add(
    WebhookReceiver(WebhookVerifier(SECRET, clock=FakeClock(NOW)), replay_guard=MemoryReplayGuard()).receive,
    HEADERS,
    BODY,
)
TARGETS.add(
    WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard()).forget,
    VerifiedWebhook("standard", "msg_1", NOW, BODY, "msg_1", "token"),
)
TARGETS.add(
    WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard()).complete,
    VerifiedWebhook("standard", "msg_1", NOW, BODY, "msg_1", "token"),
)
TARGETS.add(
    WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard()).settle,
    VerifiedWebhook("standard", "msg_1", NOW, BODY, "msg_1", "token"),
    handled=True,
)
TARGETS.add(_accept_once, HEADERS, BODY, covers="WebhookReceiver.accept")
TARGETS.add(WebhookAnswer, 200, b"", (("Content-Type", "text/plain"),))
TARGETS.add(WebhookEndpoint, _handler, WebhookVerifier(SECRET), max_body_size=1024)
# Endpoints.
TARGETS.add(
    Endpoint,
    "https://hooks.example.com/billing",
    (SECRET,),
    id="ep_1",
    event_types=frozenset({"invoice.paid"}),
    enabled=True,
    disabled_reason=None,
    rate_limit=10,
    headers={"X-Team": "billing"},
    description="billing",
    previous_secrets_expire_at=NOW,
    created_at=NOW,
    updated_at=NOW,
)
TARGETS.add(ENDPOINT.accepts, "invoice.paid")
TARGETS.add(ENDPOINT.signing_secrets, NOW)
TARGETS.add(MemoryEndpointStore, [ENDPOINT])
TARGETS.add(MemoryEndpointStore([ENDPOINT]).create, Endpoint("https://hooks.example.com/x", (SECRET,)))
TARGETS.add(MemoryEndpointStore([ENDPOINT]).get, "ep_1")
TARGETS.add(MemoryEndpointStore([ENDPOINT]).update, ENDPOINT)
TARGETS.add(MemoryEndpointStore([ENDPOINT]).delete, "ep_1")
TARGETS.add(MemoryEndpointStore([ENDPOINT]).list, event_type="invoice.paid", enabled=True)
TARGETS.add(Endpoints, MemoryEndpointStore(), clock=FakeClock(NOW))
TARGETS.add(
    Endpoints(MemoryEndpointStore()).create,
    "https://hooks.example.com/billing",
    secret=SECRET,
    event_types=["invoice.paid"],
    rate_limit=5,
    headers={"X-Team": "billing"},
    description="billing",
    endpoint_id="ep_2",
)
TARGETS.add(Endpoints(MemoryEndpointStore([ENDPOINT])).get, "ep_1")
TARGETS.add(Endpoints(MemoryEndpointStore([ENDPOINT])).list, event_type="e", enabled=False)
TARGETS.add(
    Endpoints(MemoryEndpointStore([ENDPOINT])).update,
    "ep_1",
    url="https://hooks.example.com/new",
    event_types=["a"],
    rate_limit=3,
    headers={"X-A": "b"},
    description="d",
)
TARGETS.add(
    Endpoints(MemoryEndpointStore([ENDPOINT])).rotate_secret,
    "ep_1",
    new_secret=generate_secret(),
    grace=timedelta(hours=1),
)
TARGETS.add(Endpoints(MemoryEndpointStore([ENDPOINT])).disable, "ep_1", reason="by hand")
TARGETS.add(Endpoints(MemoryEndpointStore([ENDPOINT])).enable, "ep_1")
TARGETS.add(Endpoints(MemoryEndpointStore([ENDPOINT])).delete, "ep_1")
# Delivery records and rules.
TARGETS.add(RetrySchedule, (0, 5, 300), jitter=0.1, rng=random.Random(1))
TARGETS.add(RetrySchedule.exponential, first=5.0, factor=2.0, attempts=8, cap=36000.0, jitter=0.1)
TARGETS.add(RetrySchedule().delay_after, 1)
TARGETS.add(parse_retry_after, "120", NOW)
TARGETS.add(DeliveryStatus, "pending")
TARGETS.add(Message, "msg_1", "e", BODY, NOW)
TARGETS.add(Delivery, 1, "msg_1", "ep_1", DeliveryStatus.PENDING, 0, NOW, None, None, None, NOW, None)
TARGETS.add(Attempt, 1, "msg_1", "ep_1", 1, NOW, 200, 0.01, "ok", None, "delivered")
TARGETS.add(DeadDelivery, 1, "msg_1", "ep_1", "e", 3, 500, "boom")
TARGETS.add(Claim, 1, "msg_1", "ep_1", 1, "e", BODY, "token")
TARGETS.add(Outcome, CLAIM, DeliveryStatus.DELIVERED, None, ATTEMPT)
# The SSRF guard.
TARGETS.add(NetworkPolicy, allow=["127.0.0.0/8"], block=["203.0.113.0/24"])
TARGETS.add(NetworkPolicy().refusal, "8.8.8.8")
TARGETS.add(NetworkPolicy().check, "hooks.example.com", "8.8.8.8")
TARGETS.add(SafeNetworkBackend, NetworkPolicy(), resolver=StaticResolver(), inner=None)
TARGETS.add(SafeNetworkBackend(resolver=StaticResolver()).connect_unix_socket, "/tmp/x", timeout=1.0)  # noqa: S108
TARGETS.add(
    SafeTransport,
    NetworkPolicy(),
    resolver=StaticResolver(),
    verify=True,
    http2=False,
    limits=None,
    retries=0,
)
TARGETS.add(
    safe_client, NetworkPolicy(), resolver=StaticResolver(), timeout=5.0, follow_redirects=False, verify=True
)
# Errors.
TARGETS.add(WebhooksError, "message")
TARGETS.add(WebhookVerificationError, "message")
TARGETS.add(MissingHeaderError, "webhook-id")
TARGETS.add(MalformedHeaderError, "webhook-id", "bad")
TARGETS.add(InvalidBodyError, "bad")
TARGETS.add(TimestampOutsideToleranceError, NOW, NOW + timedelta(hours=1), 300.0)
TARGETS.add(SignatureMismatchError, "no match")
TARGETS.add(ReplayedWebhookError, "msg_1")
TARGETS.add(WebhookInFlightError, "msg_1", 30.0)
TARGETS.add(WebhooksTypeError, "secret", "a str or bytes", 5)
TARGETS.add(WebhooksConfigurationError, "timeout", 0, "must be positive", show_value=True)
TARGETS.add(InvalidSecretError, "secret", "bad")
TARGETS.add(EndpointNotFoundError, "ep_1")
TARGETS.add(MessageNotFoundError, "msg_1")
TARGETS.add(EndpointConflictError, "ep_1")
TARGETS.add(UnsafeDestinationError, "hooks.example.com", "10.0.0.1", "private")
TARGETS.add(WebhooksUnavailableError, "postgresql", "postgresql://u:p@db/x", "refused")
TARGETS.add(MissingExtraError, "PostgresOutbox", "postgres")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a public function, constructor or method raise an untyped error."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    in_sync_tests = (
        "driven with check_hostile in tests/test_sync_receiving.py, beside the sync receiver's tests"
    )
    TARGETS.assert_covers(
        webhooks,
        exempt=dict.fromkeys(
            ("SyncMemoryReplayGuard", "SyncWebhookReceiver", "WSGIWebhookEndpoint"), in_sync_tests
        ),
    )


def test_the_system_resolver_raises_typed_errors_or_oserror() -> None:
    """Property: `SystemResolver.resolve` raises a typed error for a bad argument, `OSError` (its
    Protocol's contract) for a name that does not resolve."""
    check_hostile(SystemResolver().resolve, "localhost", 443, allowed=(OSError,))


def _sleeps(value: object) -> bool:
    """A duration the backend really sleeps for (up to a minute): valid, and too slow to draw."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.01 < value <= 60


def test_sleep_raises_typed_errors() -> None:
    """Property: `SafeNetworkBackend.sleep` takes 0 to 60 seconds; anything else is a typed error."""
    backend = SafeNetworkBackend(resolver=StaticResolver())
    check_hostile(backend.sleep, 0.0, values=hostile_values().filter(lambda v: not _sleeps(v)))


def test_connect_tcp_raises_typed_errors_or_httpcores() -> None:
    """Property: the guard's `connect_tcp` refuses with typed errors, or fails the way httpcore expects."""
    backend = SafeNetworkBackend(resolver=StaticResolver())
    check_hostile(
        backend.connect_tcp,
        "hooks.example.com",
        443,
        timeout=1.0,
        local_address=None,
        socket_options=None,
        allowed=(httpcore.ConnectError, httpcore.ConnectTimeout),
    )


@pytest.mark.parametrize(
    "verifier", [WebhookVerifier(SECRET), STRIPE, GITHUB], ids=["standard", "stripe", "github"]
)
async def test_the_asgi_endpoint_never_answers_5xx(verifier: WebhookVerifier) -> None:
    """Property: hostile HTTP requests into `WebhookEndpoint` never escape as exceptions or 5xx."""
    await check_hostile_asgi(
        WebhookEndpoint(_handler, WebhookReceiver(verifier, replay_guard=MemoryReplayGuard()))
    )


# --- Backends: PostgreSQL and Redis, on the test's event loop.


@pytest.fixture
async def outbox(postgres_pool: asyncpg.Pool[Any]) -> PostgresOutbox:
    store = MemoryEndpointStore([Endpoint("http://127.0.0.1:9/", (SECRET,), id="ep_1")])
    box = PostgresOutbox(postgres_pool, store, clock=FakeClock(NOW), table=f"h{uuid.uuid4().hex[:8]}")
    await box.create_schema()
    return box


@TARGETS.drives("PostgresEndpointStore")
@pytest.mark.postgres
async def test_the_postgres_endpoint_store_raises_only_typed_errors(
    postgres_pool: asyncpg.Pool[Any], postgres_schema: PostgresSchema
) -> None:
    """Property: every method of `PostgresEndpointStore` answers hostile arguments with typed errors."""
    store = PostgresEndpointStore(postgres_pool, table=f"h{uuid.uuid4().hex[:8]}")
    await store.create_schema()
    await store.create(ENDPOINT)
    await acheck_hostile(PostgresEndpointStore, postgres_pool, table="webhook_")
    await acheck_hostile(
        PostgresEndpointStore.connect,
        postgres_schema.dsn,
        table="webhook",
        min_size=1,
        max_size=2,
        server_settings=postgres_schema.server_settings,
        max_examples=25,
    )
    await acheck_hostile(store.create, Endpoint("https://hooks.example.com/x", (SECRET,)))
    await acheck_hostile(store.get, "ep_1")
    await acheck_hostile(store.update, ENDPOINT)
    await acheck_hostile(store.delete, "ep_nobody")
    await acheck_hostile(store.list, event_type="invoice.paid", enabled=True)


@TARGETS.drives("PostgresOutbox")
@pytest.mark.postgres
async def test_the_outbox_raises_only_typed_errors(
    outbox: PostgresOutbox, postgres_pool: asyncpg.Pool[Any], postgres_schema: PostgresSchema
) -> None:
    """Property: every method of `PostgresOutbox` answers hostile arguments with typed errors."""
    message = await outbox.send("e", {"n": 1}, message_id="msg_kept")
    await acheck_hostile(
        PostgresOutbox,
        postgres_pool,
        outbox.endpoints,
        schedule=RetrySchedule(),
        clock=FakeClock(NOW),
        table="webhook",
    )
    await acheck_hostile(
        PostgresOutbox.connect,
        postgres_schema.dsn,
        outbox.endpoints,
        schedule=None,
        clock=None,
        table="webhook",
        min_size=1,
        max_size=2,
        server_settings=postgres_schema.server_settings,
        max_examples=25,
    )
    async with postgres_pool.acquire() as connection:
        await acheck_hostile(outbox.send, "e", {"n": 2}, connection=connection, message_id=None)
    await acheck_hostile(outbox.message, message.id)
    await acheck_hostile(outbox.deliveries, message.id)
    await acheck_hostile(outbox.attempts, message.id)
    await acheck_hostile(outbox.requeue, message.id, endpoint_id="ep_1")
    await acheck_hostile(outbox.recover, NOW, endpoint_id="ep_1")
    await acheck_hostile(outbox.claim, limit=2, lease=30.0, token=TOKEN)
    claims, _ = await outbox.claim(limit=1, lease=30, token=TOKEN)
    claim = claims[0] if claims else CLAIM
    outcome = Outcome(claim, DeliveryStatus.PENDING, NOW, ATTEMPT)
    await acheck_hostile(outbox.settle, [outcome])
    await acheck_hostile(outbox.release, [claim], until=NOW)
    await acheck_hostile(outbox.cancel_endpoint, "ep_nobody")


@TARGETS.drives("MemoryOutbox")
async def test_the_memory_outbox_raises_only_typed_errors() -> None:
    """Property: every method of `MemoryOutbox` answers hostile arguments with typed errors."""
    store = MemoryEndpointStore([Endpoint("http://127.0.0.1:9/", (SECRET,), id="ep_1")])
    await acheck_hostile(MemoryOutbox, store, schedule=RetrySchedule(), clock=FakeClock(NOW))
    outbox = MemoryOutbox(store, clock=FakeClock(NOW))
    message = await outbox.send("e", {"n": 1}, message_id="msg_kept")
    await acheck_hostile(outbox.send, "e", {"n": 2}, message_id=None)
    await acheck_hostile(outbox.message, message.id)
    await acheck_hostile(outbox.deliveries, message.id)
    await acheck_hostile(outbox.attempts, message.id)
    await acheck_hostile(outbox.requeue, message.id, endpoint_id="ep_1")
    await acheck_hostile(outbox.recover, NOW, endpoint_id="ep_1")
    await acheck_hostile(outbox.claim, limit=2, lease=30.0, token=TOKEN)
    claims, _ = await outbox.claim(limit=1, lease=30, token=TOKEN)
    claim = claims[0] if claims else CLAIM
    await acheck_hostile(outbox.settle, [Outcome(claim, DeliveryStatus.PENDING, NOW, ATTEMPT)])
    await acheck_hostile(outbox.release, [claim], until=NOW)
    await acheck_hostile(outbox.cancel_endpoint, "ep_nobody")


@TARGETS.drives("DeliveryWorker")
@pytest.mark.postgres
async def test_the_delivery_worker_raises_only_typed_errors(outbox: PostgresOutbox) -> None:
    """Property: `DeliveryWorker`'s constructor and methods answer hostile arguments with typed errors."""

    async def on_dead(item: DeadDelivery) -> None:
        return None

    async def on_disabled(item: Endpoint) -> None:
        return None

    await acheck_hostile(
        DeliveryWorker,
        outbox,
        policy=NetworkPolicy(),
        resolver=StaticResolver(),
        verify=True,
        client=None,
        timeout=5.0,
        lease=60.0,
        batch_size=4,
        concurrency=4,
        max_retry_after=60.0,
        disable_after=timedelta(days=1),
        response_body_limit=100,
        user_agent="hostile/1",
        poll_interval=0.01,
        on_dead=on_dead,
        on_endpoint_disabled=on_disabled,
    )
    async with DeliveryWorker(outbox, resolver=StaticResolver(), timeout=1, lease=30) as worker:
        stop = asyncio.Event()
        stop.set()
        # stop=None runs until cancelled, as documented: every other value is checked.
        await acheck_hostile(worker.run, stop=stop, values=hostile_values().filter(lambda v: v is not None))
        await acheck_hostile(worker.drain, max_rounds=2)


@TARGETS.drives("RedisReplayGuard")
@pytest.mark.redis
async def test_the_redis_replay_guard_raises_only_typed_errors(redis_url: str, redis_prefix: str) -> None:
    """Property: `RedisReplayGuard`'s constructor and methods answer hostile arguments with typed errors."""
    client: Redis = Redis.from_url(redis_url)
    try:
        await acheck_hostile(RedisReplayGuard, client, prefix=redis_prefix)
        await acheck_hostile(RedisReplayGuard.from_url, redis_url, prefix=redis_prefix, max_examples=25)
        guard = RedisReplayGuard(client, prefix=redis_prefix)
        await acheck_hostile(guard.claim, "msg_1", 60.0)
        await acheck_hostile(guard.complete, "msg_1", 60.0)
        await acheck_hostile(guard.release, "msg_1", "token")
    finally:
        await client.aclose()


# --- What the helper found, one explicit regression each (each raised an untyped error before).


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


FOUND: list[tuple[str, Callable[[], object], type[Exception]]] = [
    ("a signed str body with a lone surrogate", lambda: WebhookSigner(SECRET).headers("\ud800"), ValueError),
    ("JSON of a body nested 100000 deep", lambda: _json_of(b"[" * 100_000), InvalidBodyError),
    ("JSON of a body that is not bytes", lambda: _json_of(0), InvalidBodyError),  # type: ignore[arg-type]
    ("an HMAC of a str", lambda: HmacKey(SECRET).digest("x"), TypeError),  # type: ignore[arg-type]
    ("an ed25519 key from an int", lambda: Ed25519SigningKey(0), InvalidSecretError),  # type: ignore[arg-type]
    ("an ed25519 check of a str", lambda: VERIFYING.verify("x", BODY), TypeError),  # type: ignore[arg-type]
    (
        "forgetting a str",
        lambda: _run(WebhookReceiver(GITHUB, replay_guard=MemoryReplayGuard()).forget("x")),  # type: ignore[arg-type]
        TypeError,
    ),
    ("a memory store of a str", lambda: MemoryEndpointStore(" "), TypeError),  # type: ignore[arg-type]
    (
        "headers=' ' for a new endpoint",
        lambda: _run(
            Endpoints(MemoryEndpointStore()).create(
                "https://hooks.example.com/",
                headers=" ",  # type: ignore[arg-type]
            )
        ),
        ValueError,
    ),
    (
        "an endpoint header name ending in a newline",
        lambda: Endpoint("https://hooks.example.com/", (SECRET,), headers={"X-Team\n": "a"}),
        ValueError,
    ),
    ("a retry delay of 10**400 seconds", lambda: RetrySchedule((0, 10**400)), ValueError),
    ("an exponential schedule from a str", lambda: RetrySchedule.exponential(first=""), ValueError),  # type: ignore[arg-type]
    ("delay_after of a str", lambda: RetrySchedule().delay_after(""), TypeError),  # type: ignore[arg-type]
    ("a DeliveryStatus that does not exist", lambda: DeliveryStatus(""), ValueError),
    ("an allow-list of 0", lambda: NetworkPolicy(allow=0), TypeError),  # type: ignore[arg-type]
    ("a tolerance of 10**400 seconds", lambda: WebhookVerifier(SECRET, tolerance=10**400), ValueError),
    ("a replay TTL of 10**400 seconds", lambda: _run(MemoryReplayGuard().claim("k", 10**400)), ValueError),
    ("a CA path of ''", lambda: SafeTransport(verify=""), ValueError),
    (
        "a connect timeout of ''",
        lambda: _run(
            SafeNetworkBackend(resolver=StaticResolver()).connect_tcp(
                "hooks.example.com",
                443,
                timeout="",  # type: ignore[arg-type]
            )
        ),
        TypeError,
    ),
    ("a sleep of '' seconds", lambda: _run(SafeNetworkBackend().sleep("")), TypeError),  # type: ignore[arg-type]
    (
        "server settings of ' '",
        lambda: _run(
            PostgresOutbox.connect(
                "postgresql://127.0.0.1/x",
                MemoryEndpointStore(),
                server_settings=" ",  # type: ignore[arg-type]
            )
        ),
        TypeError,
    ),
    ("a Redis URL of ''", lambda: RedisReplayGuard.from_url(""), ValueError),
]


@pytest.mark.parametrize(("case", "call", "builtin"), FOUND, ids=[case for case, _, _ in FOUND])
def test_what_the_helper_found_is_a_typed_error(
    case: str, call: Callable[[], object], builtin: type[Exception]
) -> None:
    """Each raised an untyped error before; now a ``WebhooksError`` (a ``ValueError``/``TypeError``
    where the builtin meaning fits the caller's ``except``)."""
    with pytest.raises(WebhooksError) as caught:
        call()
    assert isinstance(caught.value, ValueError | TypeError | LookupError) or builtin is InvalidBodyError


def test_what_the_helper_found_that_is_not_an_error() -> None:
    """A refusal, an absent id, an unparseable header and a resolver miss answer as documented."""
    assert NetworkPolicy().refusal(0) == "not an IP address"  # type: ignore[arg-type]
    assert _run(MemoryEndpointStore().delete([])) is False  # type: ignore[arg-type]
    assert parse_retry_after(-1, NOW) is None  # type: ignore[arg-type]
    assert "outside the tolerance" in str(TimestampOutsideToleranceError("", NOW, 10**400))  # type: ignore[arg-type]
    assert "outside the tolerance" in str(TimestampOutsideToleranceError(0, Decimal("NaN"), Decimal("sNaN")))  # type: ignore[arg-type]
    with pytest.raises(OSError, match="not a valid host name"):
        _run(SystemResolver().resolve("a" * 64 + ".example", 443))  # a DNS label is at most 63
    with pytest.raises(WebhooksConfigurationError):
        _run(SystemResolver().resolve("\ud800", 443))
    assert RetrySchedule.exponential(factor=1e6, attempts=200, cap=36000).delays[-1] == 36000
    # bool(NotImplemented) is a DeprecationWarning (an error here): the value is simply not shown.
    assert str(WebhooksConfigurationError("a", 1, "r", show_value=NotImplemented)) == "invalid a: r"  # type: ignore[arg-type]
    assert parse_retry_after(NotImplemented, NOW) is None  # type: ignore[arg-type]
    assert "refusing to connect to 0" in str(UnsafeDestinationError(0, Decimal("sNaN"), "x"))  # type: ignore[arg-type]
    with pytest.raises(WebhooksConfigurationError):
        SafeTransport(retries=9)  # httpcore would pause 64 s before the 9th
