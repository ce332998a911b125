"""Every public entry point of buttress.notifications, driven with hostile arguments.

Each call gets a non-empty subset of its parameters replaced by wrong types, huge and non-finite
numbers, NUL, lone surrogates, CR/LF, non-UTF-8 bytes and very long strings; anything but a
`ButtressError` fails the test. The pydantic models (`DigestEntry`, `DigestContext`) raise
pydantic's own `ValidationError` (a ValueError with the field errors), as every pydantic model does.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pydantic
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from buttress import notifications as n
from buttress.notifications import (
    AppriseChannel,
    AppriseMessage,
    Claim,
    Decision,
    DeliveryWorker,
    DigestContext,
    DigestEntry,
    DigestRule,
    Email,
    Job,
    MemoryOutbox,
    MemoryPreferenceStore,
    MemoryPushSubscriptionStore,
    MemoryRateLimiter,
    Message,
    Notification,
    NotificationStatus,
    Notifier,
    PostgresOutbox,
    PostgresPreferenceStore,
    PostgresPushSubscriptionStore,
    PreferenceDefaults,
    Preferences,
    PushSubscription,
    QuietWindow,
    Rate,
    Recipient,
    RecipientResult,
    RedisRateLimiter,
    Rendered,
    RetryPolicy,
    Sms,
    SmsChannel,
    SmtpChannel,
    Template,
    TemplateRegistry,
    TwilioSmsProvider,
    VapidKey,
    Verdict,
    WebhookChannel,
    WebhookPost,
    WebPush,
    WebPushChannel,
    decide,
)
from buttress.testing import (
    FakeClock,
    HostileTarget,
    HostileTargets,
    PostgresSchema,
    acheck_hostile,
    check_hostile,
    free_port,
)

from .test_delivery import START, Alert, note, registry
from .test_webpush import Browser

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

SUB = Browser("https://push.example/sub/1").subscription
RENDERED = Rendered("subject", "text", "<p>html</p>")
MESSAGE = Message("n1", "u1", "a@example.com", RENDERED)
JOB = Job(
    id="j1",
    notification_id="n1",
    recipient_id="u1",
    channel="email",
    address="a@example.com",
    category="ops",
    content=RENDERED,
    created_at=START,
    available_at=START,
)
PEM = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
VAPID = VapidKey.from_pem(PEM, subject="mailto:ops@example.com")
PREFS = Preferences("u1", timezone="Europe/Berlin", quiet_hours=QuietWindow.daily(time(22), time(7)))


class Provider:
    async def send(self, sms: Sms) -> str:
        return "SM1"


def smtp() -> SmtpChannel:
    # Nothing listens on this port: a valid send fails fast with a TransientDeliveryError.
    return SmtpChannel("127.0.0.1", free_port(), sender="n@example.com", security="none", timeout=2)


TARGETS = HostileTargets(max_examples=60)
TARGETS.add(Recipient, "u1", {"email": "a@example.com"})
TARGETS.add(Notification, Recipient("u1"), "ops", "alert", Alert(what="x"), dedupe_key="k")
TARGETS.add(Rendered, "s", "t", None)
TARGETS.add(Message, "n1", "u1", "a@example.com", RENDERED, critical=False)
TARGETS.add(RecipientResult, "a@example.com", None)
TARGETS.add(
    Job,
    *tuple(
        getattr(JOB, f)
        for f in (
            "id",
            "notification_id",
            "recipient_id",
            "channel",
            "address",
            "category",
            "content",
            "created_at",
            "available_at",
        )
    ),
)
TARGETS.add(Claim, "token", (JOB,))
TARGETS.add(NotificationStatus, "sent")
TARGETS.add(Verdict, "hold")
TARGETS.add(Decision, Verdict.HOLD, START, "quiet hours")
TARGETS.add(Template, "t", Alert, "s {{ what }}", "t", html=None)
TARGETS.add(TemplateRegistry, filters={"shout": str.upper})
TARGETS.add(QuietWindow, 0, time(22), time(7))
TARGETS.add(QuietWindow.daily, time(22), time(7), weekdays=range(7))
TARGETS.add(Preferences, "u1", "Europe/Berlin", {("email", "ops"): True}, ())
TARGETS.add(Preferences.from_dict, PREFS.to_dict())
TARGETS.add(PreferenceDefaults, {("sms", "*"): False}, True)
TARGETS.add(MemoryPreferenceStore, (PREFS,))
TARGETS.add(DigestRule, "daily", "digest", at=time(8))
TARGETS.add(Rate, 5, 60.0)
TARGETS.add(MemoryRateLimiter, clock=FakeClock(START))
TARGETS.add(RetryPolicy, (1.0, 5.0), 0.1)
TARGETS.add(MemoryOutbox, clock=FakeClock(START))
TARGETS.add(Notifier, templates=registry(), channels=[smtp()], failover={}, digests={})
TARGETS.add(Email, ("a@example.com",), "s", "t", html=None, sender=None, headers={"X-A": "b"})
TARGETS.add(SmtpChannel, "127.0.0.1", 25, sender="n@example.com", pool_size=2, timeout=5)
TARGETS.add(Sms, "+15551234567", "hi")
TARGETS.add(SmsChannel, Provider(), name="sms")
TARGETS.add(WebhookPost, "https://hooks.example/x", {"a": 1})
TARGETS.add(WebhookChannel, headers={"x-key": "v"}, name="webhook")
TARGETS.add(PushSubscription, SUB.endpoint, SUB.p256dh, SUB.auth)
TARGETS.add(
    PushSubscription.from_json, {"endpoint": SUB.endpoint, "keys": {"p256dh": SUB.p256dh, "auth": SUB.auth}}
)
TARGETS.add(VapidKey, ec.generate_private_key(ec.SECP256R1()), subject="mailto:a@example.com")
TARGETS.add(VapidKey.from_pem, PEM, subject="mailto:a@example.com")
TARGETS.add(VapidKey.generate, subject="https://ops.example")
TARGETS.add(WebPush, "u1", b"{}", ttl=60, urgency="high", topic="t1")
TARGETS.add(WebPushChannel, VAPID, MemoryPushSubscriptionStore(), ttl=60, name="push")
TARGETS.add(AppriseMessage, "json://127.0.0.1/hook", "s", "t")
TARGETS.add(AppriseChannel, concurrency=2, throttle=False, name="apprise")
TARGETS.add(
    TwilioSmsProvider, "AC123", "token", sender="+15550000000", base_url="https://api.example/2010-04-01"
)
TARGETS.add(
    DeliveryWorker,
    Notifier(templates=registry(), channels=[]),
    lease=30.0,
    batch=5,
    concurrency=2,
    retries={},
    channel_rates={},
)

ERROR_ARGUMENTS: dict[str, tuple[object, ...]] = {
    "TemplateError": ("t", "why"),
    "TemplateDefinitionError": ("t", "text", "why"),
    "TemplateContextError": ("t", "A", "B"),
    "TemplateRenderError": ("t", "text", "why"),
    "UnknownTemplateError": ("t",),
    "UnknownChannelError": ("c",),
    "NotificationNotFoundError": ("n",),
    "DeliveryError": ("email", "why"),
    "TransientDeliveryError": ("email", "why"),
    "PermanentDeliveryError": ("email", "why"),
    "SubscriptionGoneError": ("push", "why"),
    "NotificationsUnavailableError": ("postgresql", "db", "why"),
    "MissingExtraError": ("feature", "extra"),
    "NotificationsConfigurationError": ("p", 1, "why"),
    "NotificationsTypeError": ("p", "a str", 1),
    "InvalidAddressError": ("email", "x", "why"),
    "NotificationsError": ("why",),
}
for _error in n.exceptions.__all__:
    TARGETS.add(getattr(n, _error), *ERROR_ARGUMENTS[_error])
# The pydantic models raise pydantic's own ValidationError (a ValueError with the field errors).
TARGETS.add(
    DigestEntry,
    notification_id="n",
    category="c",
    subject="s",
    text="t",
    created_at=START,
    allowed=(pydantic.ValidationError,),
)
TARGETS.add(DigestContext, key="k", count=0, entries=[], allowed=(pydantic.ValidationError,))


# --- Methods of the in-process objects -------------------------------------------------------


def notifier(**options: Any) -> Notifier:
    return Notifier(templates=registry(), channels=[smtp()], clock=FakeClock(START), **options)


def add_methods(table: HostileTargets) -> None:
    """The methods of the in-process objects, each bound to an object built for it."""
    templates = registry()
    table.add(templates.register, Template("x", Alert, "s", "t"))
    table.add(templates.get, "alert")
    table.add(templates.render, "alert", Alert(what="x"))
    table.add(templates.__contains__, "alert")
    table.add(PREFS.choice, "email", "ops")
    table.add(PREFS.quiet_until, START)
    table.add(decide, PREFS, "email", "ops", now=START, critical=False, defaults=PreferenceDefaults())
    rule = DigestRule("hourly", "digest", window=timedelta(hours=1))
    table.add(rule.closes_at, START, ZoneInfo("Europe/Berlin"))
    table.add(rule.group, "u1", "email", START)
    table.add(RetryPolicy().delay, 1)
    store = MemoryPreferenceStore([PREFS])
    table.add(store.get, "u1")
    table.add(store.get_now, "u1")
    table.add(store.put, PREFS)
    table.add(store.delete, "nobody")
    limiter = MemoryRateLimiter(clock=FakeClock(START))
    table.add(limiter.acquire, "channel:sms", Rate(1000, 1))
    outbox = MemoryOutbox(clock=FakeClock(START))
    claim = Claim("t", (JOB.but(status=NotificationStatus.SENDING),))
    table.add(outbox.enqueue, [JOB])
    table.add(outbox.claim, limit=5, lease=30.0)
    table.add(outbox.settle, claim, [JOB], new=())
    table.add(outbox.jobs, "n1")
    table.add(outbox.get, "j1")
    table.add(outbox.requeue, "j1")
    table.add(outbox.purge, START)
    sender = notifier()
    table.add(sender.send, note(), channels=["email"])
    worker = DeliveryWorker(notifier())
    table.add(worker.drain, max_rounds=3)
    channel = smtp()
    email = channel.prepare(MESSAGE)
    table.add(channel.prepare, MESSAGE)
    table.add(channel.mime, email)
    table.add(channel.deliver, email)
    table.add(channel.deliver_many, [email])
    sms = SmsChannel(Provider())
    table.add(sms.prepare, Message("n1", "u1", "+15551234567", RENDERED))
    table.add(sms.deliver, Sms("+15551234567", "hi"))
    hook = WebhookChannel(
        client=httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(204)))
    )
    table.add(hook.prepare, Message("n1", "u1", "https://h.example/x", RENDERED))
    table.add(hook.deliver, WebhookPost("https://h.example/x", {"a": 1}))
    subs = MemoryPushSubscriptionStore()
    table.add(subs.subscriptions, "u1")
    table.add(subs.add, "u1", SUB)
    table.add(subs.remove, SUB.endpoint)
    push = WebPushChannel(VAPID, MemoryPushSubscriptionStore())
    table.add(push.prepare, Message("n1", "u1", "u1", RENDERED))
    table.add(push.deliver, WebPush("nobody", b"{}"))
    table.add(push.encrypt, SUB, b"data")
    table.add(VAPID.authorization, SUB.endpoint, ttl=3600, now=1.7e9)
    apprise = AppriseChannel(throttle=False)
    table.add(apprise.prepare, Message("n1", "u1", "json://127.0.0.1/x", RENDERED))
    table.add(apprise.deliver, AppriseMessage("nonsense://", "s", "t"))
    twilio = TwilioSmsProvider(
        "AC1", "token", sender="+15550000000", base_url=f"http://127.0.0.1:{free_port()}"
    )
    table.add(twilio.send, Sms("+15551234567", "hi"))


add_methods(TARGETS)


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a constructor, function or method raise an untyped error."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(n)


def test_run_refuses_a_bad_poll_interval_at_once() -> None:
    """run() loops forever on a good interval, so only bad ones are driven (they must raise at once)."""
    worker = DeliveryWorker(notifier())

    def bad(value: object) -> bool:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 3600
        return not ok

    from buttress.testing import hostile_values  # noqa: PLC0415

    check_hostile(worker.run, poll_interval=1.0, values=hostile_values().filter(bad), max_examples=60)


# --- Backends bound to the test's event loop ----------------------------------------------------


@TARGETS.drives("PostgresOutbox", "PostgresPreferenceStore", "PostgresPushSubscriptionStore")
@pytest.mark.postgres
async def test_postgres_stores(
    postgres_pool: asyncpg.Pool[Any], postgres_schema: PostgresSchema, postgres_table: str
) -> None:
    pool = postgres_pool
    outbox = PostgresOutbox(pool, table=postgres_table, clock=FakeClock(START))
    await outbox.create_schema()
    prefs = PostgresPreferenceStore(pool, table=f"{postgres_table}_prefs")
    await prefs.create_schema()
    subs = PostgresPushSubscriptionStore(pool, table=f"{postgres_table}_subs")
    await subs.create_schema()
    await acheck_hostile(PostgresOutbox, pool, max_examples=40, table=postgres_table, clock=FakeClock(START))
    await acheck_hostile(PostgresPreferenceStore, pool, max_examples=40, table=f"{postgres_table}_prefs")
    await acheck_hostile(PostgresPushSubscriptionStore, pool, max_examples=40, table=f"{postgres_table}_subs")
    claim = Claim("t", (JOB.but(status=NotificationStatus.SENDING),))
    for target, args, kwargs in [
        (outbox.enqueue, ([JOB],), {}),
        (outbox.claim, (), {"limit": 5, "lease": 30.0}),
        (outbox.settle, (claim, [JOB]), {"new": ()}),
        (outbox.jobs, ("n1",), {}),
        (outbox.get, ("j1",), {}),
        (outbox.requeue, ("j1",), {}),
        (outbox.purge, (START,), {}),
        (prefs.get, ("u1",), {}),
        (prefs.put, (PREFS,), {}),
        (prefs.delete, ("u1",), {}),
        (subs.subscriptions, ("u1",), {}),
        (subs.add, ("u1", SUB), {}),
        (subs.remove, (SUB.endpoint,), {}),
    ]:
        await acheck_hostile(target, *args, max_examples=60, **kwargs)
    dsn = postgres_schema.dsn
    settings = dict(postgres_schema.server_settings)
    for connect in (
        PostgresOutbox.connect,
        PostgresPreferenceStore.connect,
        PostgresPushSubscriptionStore.connect,
    ):
        # min_size stays 0: a hostile pool size never opens hundreds of connections to the server.
        await acheck_hostile(
            _connect_and_close(connect),
            dsn,
            max_examples=25,
            keep=("min_size",),
            table=postgres_table,
            min_size=0,
            max_size=2,
            server_settings=settings,
        )


def _connect_and_close(connect: Callable[..., Any]) -> Callable[..., Any]:
    async def run(
        dsn: object, *, table: object, min_size: object, max_size: object, server_settings: object
    ) -> None:
        store = await connect(
            dsn, table=table, min_size=min_size, max_size=max_size, server_settings=server_settings
        )
        await store.aclose()

    return run


@TARGETS.drives("RedisRateLimiter")
@pytest.mark.redis
async def test_redis_rate_limiter(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        limiter = RedisRateLimiter(client, prefix=redis_prefix)
        await acheck_hostile(RedisRateLimiter, client, max_examples=40, prefix=redis_prefix)
        await acheck_hostile(limiter.acquire, "channel:sms", Rate(1000, 1), max_examples=60)

        async def from_url(url: object, *, prefix: object) -> None:
            await RedisRateLimiter.from_url(url, prefix=prefix).aclose()  # type: ignore[arg-type]

        await acheck_hostile(from_url, redis_url, max_examples=40, prefix=redis_prefix)
    finally:
        await client.aclose()


def test_tls_context_and_ssl_are_checked() -> None:
    check_hostile(SmtpChannel, "127.0.0.1", 465, sender="n@example.com", security="tls",
                  tls_context=ssl.create_default_context(), max_examples=30)  # fmt: skip
