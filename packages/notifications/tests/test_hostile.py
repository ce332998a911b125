"""Every public entry point of buttress.notifications, driven with hostile arguments.

Each call gets a non-empty subset of its parameters replaced by wrong types, huge and non-finite
numbers, NUL, lone surrogates, CR/LF, non-UTF-8 bytes and very long strings; anything but a
`ButtressError` fails the test. The pydantic models (`DigestEntry`, `DigestContext`) raise
pydantic's own `ValidationError` (a ValueError with the field errors), as every pydantic model does.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
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
from buttress.testing import FakeClock, PostgresSchema, acheck_hostile, check_hostile, free_port

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


CONSTRUCTORS: dict[str, tuple[Callable[..., object], tuple[object, ...], dict[str, object]]] = {
    "Recipient": (Recipient, ("u1", {"email": "a@example.com"}), {}),
    "Notification": (Notification, (Recipient("u1"), "ops", "alert", Alert(what="x")), {"dedupe_key": "k"}),
    "Rendered": (Rendered, ("s", "t", None), {}),
    "Message": (Message, ("n1", "u1", "a@example.com", RENDERED), {"critical": False}),
    "RecipientResult": (RecipientResult, ("a@example.com", None), {}),
    "Job": (
        Job,
        tuple(
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
        {},
    ),
    "Claim": (Claim, ("token", (JOB,)), {}),
    "NotificationStatus": (NotificationStatus, ("sent",), {}),
    "Verdict": (Verdict, ("hold",), {}),
    "Decision": (Decision, (Verdict.HOLD, START, "quiet hours"), {}),
    "Template": (Template, ("t", Alert, "s {{ what }}", "t"), {"html": None}),
    "TemplateRegistry": (TemplateRegistry, (), {"filters": {"shout": str.upper}}),
    "QuietWindow": (QuietWindow, (0, time(22), time(7)), {}),
    "QuietWindow.daily": (QuietWindow.daily, (time(22), time(7)), {"weekdays": range(7)}),
    "Preferences": (Preferences, ("u1", "Europe/Berlin", {("email", "ops"): True}, ()), {}),
    "Preferences.from_dict": (Preferences.from_dict, (PREFS.to_dict(),), {}),
    "PreferenceDefaults": (PreferenceDefaults, ({("sms", "*"): False}, True), {}),
    "MemoryPreferenceStore": (MemoryPreferenceStore, ((PREFS,),), {}),
    "DigestRule": (DigestRule, ("daily", "digest"), {"at": time(8)}),
    "Rate": (Rate, (5, 60.0), {}),
    "MemoryRateLimiter": (MemoryRateLimiter, (), {"clock": FakeClock(START)}),
    "RetryPolicy": (RetryPolicy, ((1.0, 5.0), 0.1), {}),
    "MemoryOutbox": (MemoryOutbox, (), {"clock": FakeClock(START)}),
    "Notifier": (
        Notifier,
        (),
        {"templates": registry(), "channels": [smtp()], "failover": {}, "digests": {}},
    ),
    "Email": (Email, (("a@example.com",), "s", "t"), {"html": None, "sender": None, "headers": {"X-A": "b"}}),
    "SmtpChannel": (
        SmtpChannel,
        ("127.0.0.1", 25),
        {"sender": "n@example.com", "pool_size": 2, "timeout": 5},
    ),
    "Sms": (Sms, ("+15551234567", "hi"), {}),
    "SmsChannel": (SmsChannel, (Provider(),), {"name": "sms"}),
    "WebhookPost": (WebhookPost, ("https://hooks.example/x", {"a": 1}), {}),
    "WebhookChannel": (WebhookChannel, (), {"headers": {"x-key": "v"}, "name": "webhook"}),
    "PushSubscription": (PushSubscription, (SUB.endpoint, SUB.p256dh, SUB.auth), {}),
    "PushSubscription.from_json": (
        PushSubscription.from_json,
        ({"endpoint": SUB.endpoint, "keys": {"p256dh": SUB.p256dh, "auth": SUB.auth}},),
        {},
    ),
    "VapidKey": (VapidKey, (ec.generate_private_key(ec.SECP256R1()),), {"subject": "mailto:a@example.com"}),
    "VapidKey.from_pem": (VapidKey.from_pem, (PEM,), {"subject": "mailto:a@example.com"}),
    "VapidKey.generate": (VapidKey.generate, (), {"subject": "https://ops.example"}),
    "WebPush": (WebPush, ("u1", b"{}"), {"ttl": 60, "urgency": "high", "topic": "t1"}),
    "WebPushChannel": (WebPushChannel, (VAPID, MemoryPushSubscriptionStore()), {"ttl": 60, "name": "push"}),
    "AppriseMessage": (AppriseMessage, ("json://127.0.0.1/hook", "s", "t"), {}),
    "AppriseChannel": (AppriseChannel, (), {"concurrency": 2, "throttle": False, "name": "apprise"}),
    "TwilioSmsProvider": (
        TwilioSmsProvider,
        ("AC123", "token"),
        {"sender": "+15550000000", "base_url": "https://api.example/2010-04-01"},
    ),
    "DeliveryWorker": (
        DeliveryWorker,
        (Notifier(templates=registry(), channels=[]),),
        {"lease": 30.0, "batch": 5, "concurrency": 2, "retries": {}, "channel_rates": {}},
    ),
}
for _error in n.exceptions.__all__:
    _cls = getattr(n, _error)
    _args: tuple[object, ...] = {
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
    }[_error]
    CONSTRUCTORS[_error] = (_cls, _args, {})

PYDANTIC = {"DigestEntry", "DigestContext"}
CONSTRUCTORS["DigestEntry"] = (
    DigestEntry,
    (),
    {"notification_id": "n", "category": "c", "subject": "s", "text": "t", "created_at": START},
)
CONSTRUCTORS["DigestContext"] = (DigestContext, (), {"key": "k", "count": 0, "entries": []})


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_constructors(name: str) -> None:
    target, args, kwargs = CONSTRUCTORS[name]
    allowed = (pydantic.ValidationError,) if name in PYDANTIC else ()
    check_hostile(target, *args, allowed=allowed, max_examples=60, **kwargs)


def test_every_public_name_is_driven() -> None:
    """A name added to __all__ without a hostile check fails here."""
    protocols = {"NotificationChannel", "Outbox", "PreferenceStore", "PushSubscriptionStore", "RateLimiter",
                 "SmsProvider"}  # fmt: skip
    # MemoryPushSubscriptionStore() takes no argument; its methods are driven below.
    elsewhere = {"PostgresOutbox", "PostgresPreferenceStore", "PostgresPushSubscriptionStore",
                 "RedisRateLimiter", "MemoryPushSubscriptionStore", "decide"}  # fmt: skip
    plain = {"ANY", "__version__"}
    missing = set(n.__all__) - set(CONSTRUCTORS) - protocols - elsewhere - plain
    assert missing == set()


# --- Methods of the in-process objects -------------------------------------------------------


def notifier(**options: Any) -> Notifier:
    return Notifier(templates=registry(), channels=[smtp()], clock=FakeClock(START), **options)


def methods() -> Iterator[tuple[str, Callable[..., object], tuple[object, ...], dict[str, object]]]:
    templates = registry()
    yield "TemplateRegistry.register", templates.register, (Template("x", Alert, "s", "t"),), {}
    yield "TemplateRegistry.get", templates.get, ("alert",), {}
    yield "TemplateRegistry.render", templates.render, ("alert", Alert(what="x")), {}
    yield "TemplateRegistry.__contains__", templates.__contains__, ("alert",), {}
    yield "Preferences.choice", PREFS.choice, ("email", "ops"), {}
    yield "Preferences.quiet_until", PREFS.quiet_until, (START,), {}
    yield "decide", decide, (PREFS, "email", "ops"), {"now": START, "critical": False,
                                                        "defaults": PreferenceDefaults()}  # fmt: skip
    rule = DigestRule("hourly", "digest", window=timedelta(hours=1))
    yield "DigestRule.closes_at", rule.closes_at, (START, ZoneInfo("Europe/Berlin")), {}
    yield "DigestRule.group", rule.group, ("u1", "email", START), {}
    yield "RetryPolicy.delay", RetryPolicy().delay, (1,), {}
    store = MemoryPreferenceStore([PREFS])
    yield "MemoryPreferenceStore.get", store.get, ("u1",), {}
    yield "MemoryPreferenceStore.get_now", store.get_now, ("u1",), {}
    yield "MemoryPreferenceStore.put", store.put, (PREFS,), {}
    yield "MemoryPreferenceStore.delete", store.delete, ("nobody",), {}
    limiter = MemoryRateLimiter(clock=FakeClock(START))
    yield "MemoryRateLimiter.acquire", limiter.acquire, ("channel:sms", Rate(1000, 1)), {}
    outbox = MemoryOutbox(clock=FakeClock(START))
    claim = Claim("t", (JOB.but(status=NotificationStatus.SENDING),))
    yield "MemoryOutbox.enqueue", outbox.enqueue, ([JOB],), {}
    yield "MemoryOutbox.claim", outbox.claim, (), {"limit": 5, "lease": 30.0}
    yield "MemoryOutbox.settle", outbox.settle, (claim, [JOB]), {"new": ()}
    yield "MemoryOutbox.jobs", outbox.jobs, ("n1",), {}
    yield "MemoryOutbox.get", outbox.get, ("j1",), {}
    yield "MemoryOutbox.requeue", outbox.requeue, ("j1",), {}
    yield "MemoryOutbox.purge", outbox.purge, (START,), {}
    sender = notifier()
    yield "Notifier.send", sender.send, (note(),), {"channels": ["email"]}
    worker = DeliveryWorker(notifier())
    yield "DeliveryWorker.drain", worker.drain, (), {"max_rounds": 3}
    channel = smtp()
    email = channel.prepare(MESSAGE)
    yield "SmtpChannel.prepare", channel.prepare, (MESSAGE,), {}
    yield "SmtpChannel.mime", channel.mime, (email,), {}
    yield "SmtpChannel.deliver", channel.deliver, (email,), {}
    yield "SmtpChannel.deliver_many", channel.deliver_many, ([email],), {}
    sms = SmsChannel(Provider())
    yield "SmsChannel.prepare", sms.prepare, (Message("n1", "u1", "+15551234567", RENDERED),), {}
    yield "SmsChannel.deliver", sms.deliver, (Sms("+15551234567", "hi"),), {}
    hook = WebhookChannel(
        client=httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(204)))
    )
    yield "WebhookChannel.prepare", hook.prepare, (Message("n1", "u1", "https://h.example/x", RENDERED),), {}
    yield "WebhookChannel.deliver", hook.deliver, (WebhookPost("https://h.example/x", {"a": 1}),), {}
    subs = MemoryPushSubscriptionStore()
    yield "MemoryPushSubscriptionStore.subscriptions", subs.subscriptions, ("u1",), {}
    yield "MemoryPushSubscriptionStore.add", subs.add, ("u1", SUB), {}
    yield "MemoryPushSubscriptionStore.remove", subs.remove, (SUB.endpoint,), {}
    push = WebPushChannel(VAPID, MemoryPushSubscriptionStore())
    yield "WebPushChannel.prepare", push.prepare, (Message("n1", "u1", "u1", RENDERED),), {}
    yield "WebPushChannel.deliver", push.deliver, (WebPush("nobody", b"{}"),), {}
    yield "WebPushChannel.encrypt", push.encrypt, (SUB, b"data"), {}
    yield "VapidKey.authorization", VAPID.authorization, (SUB.endpoint,), {"ttl": 3600, "now": 1.7e9}
    apprise = AppriseChannel(throttle=False)
    yield (
        "AppriseChannel.prepare",
        apprise.prepare,
        (Message("n1", "u1", "json://127.0.0.1/x", RENDERED),),
        {},
    )
    yield "AppriseChannel.deliver", apprise.deliver, (AppriseMessage("nonsense://", "s", "t"),), {}
    twilio = TwilioSmsProvider(
        "AC1", "token", sender="+15550000000", base_url=f"http://127.0.0.1:{free_port()}"
    )
    yield "TwilioSmsProvider.send", twilio.send, (Sms("+15551234567", "hi"),), {}


METHODS = {name: (target, args, kwargs) for name, target, args, kwargs in methods()}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_methods(name: str) -> None:
    target, args, kwargs = METHODS[name]
    check_hostile(target, *args, max_examples=60, **kwargs)


def test_run_refuses_a_bad_poll_interval_at_once() -> None:
    """run() loops forever on a good interval, so only bad ones are driven (they must raise at once)."""
    worker = DeliveryWorker(notifier())

    def bad(value: object) -> bool:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 3600
        return not ok

    from buttress.testing import hostile_values  # noqa: PLC0415

    check_hostile(worker.run, poll_interval=1.0, values=hostile_values().filter(bad), max_examples=60)


# --- Backends bound to the test's event loop ----------------------------------------------------


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
