"""assert_type checks of buttress-notifications' public API; run by mypy only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, assert_type

import asyncpg
import redis.asyncio as aioredis
from pydantic import BaseModel

from buttress.core import ArgumentTypeError, BackendUnavailableError, ConfigurationError
from buttress.notifications import (
    Claim,
    Decision,
    DeliveryWorker,
    DigestRule,
    Email,
    InvalidAddressError,
    Job,
    MemoryOutbox,
    MemoryPreferenceStore,
    MemoryRateLimiter,
    Message,
    Notification,
    NotificationChannel,
    NotificationsConfigurationError,
    NotificationStatus,
    NotificationsTypeError,
    NotificationsUnavailableError,
    Notifier,
    PostgresOutbox,
    PostgresPreferenceStore,
    PostgresPushSubscriptionStore,
    Preferences,
    PreferenceStore,
    PushSubscription,
    PushSubscriptionStore,
    Rate,
    RateLimiter,
    Recipient,
    RecipientResult,
    RedisRateLimiter,
    Rendered,
    Sms,
    SmsChannel,
    SmtpChannel,
    Template,
    TemplateRegistry,
    VapidKey,
    Verdict,
    WebhookChannel,
    WebhookPost,
    WebPush,
    WebPushChannel,
    decide,
)


class Welcome(BaseModel):
    name: str


async def check(outbox: PostgresOutbox, limiter: RedisRateLimiter, push: WebPushChannel) -> None:
    template = Template("welcome", Welcome, subject="Hi", text="Hi {{ name }}")
    assert_type(template, Template[Welcome])
    registry = TemplateRegistry()
    assert_type(registry.register(template), Template[Welcome])
    assert_type(registry.render("welcome", Welcome(name="a")), Rendered)

    note = Notification(Recipient("u", {"email": "a@b.c"}), "c", "welcome", Welcome(name="a"))
    assert_type(note, Notification[Welcome])
    assert_type(note.context, Welcome)

    smtp: NotificationChannel[Email] = SmtpChannel("h", 25, sender="a@b.c")
    sms: NotificationChannel[Sms] = SmsChannel(provider=None)  # type: ignore[arg-type]
    hook: NotificationChannel[WebhookPost] = WebhookChannel()
    web: NotificationChannel[WebPush] = push
    assert_type(
        await smtp.deliver(smtp.prepare(Message("n", "u", "a@b.c", Rendered("s", "t")))),
        list[RecipientResult],
    )
    del sms, hook, web

    store: PreferenceStore = MemoryPreferenceStore()
    prefs = await store.get("u")
    assert_type(prefs, Preferences | None)
    decision = decide(prefs, "email", "c", now=datetime.now())
    assert_type(decision, Decision)
    assert_type(decision.verdict, Verdict)
    assert_type(decision.release_at, datetime | None)

    rate_limiter: RateLimiter = limiter
    assert_type(await rate_limiter.acquire("k", Rate(1, 1)), float)
    assert_type(await MemoryRateLimiter().acquire("k", Rate(1, 1)), float)

    notifier = Notifier(
        templates=registry,
        channels=[smtp],
        outbox=outbox,
        digests={"c": DigestRule("d", "welcome", window=timedelta(hours=1))},
    )
    jobs = await notifier.send(note)
    assert_type(jobs, list[Job])
    assert_type(jobs[0].status, NotificationStatus)
    assert_type(await DeliveryWorker(notifier).drain(), int)
    assert_type(await notifier.outbox.counts(), dict[NotificationStatus, int])
    claims = await MemoryOutbox().claim(limit=1, lease=1)
    assert_type(claims, list[Claim])
    assert_type(PushSubscription.from_json({}), PushSubscription)
    assert_type(VapidKey.generate(subject="mailto:a@b.c").authorization("https://x"), str)
    subs: PushSubscriptionStore = PostgresPushSubscriptionStore(None)  # type: ignore[arg-type]
    assert_type(await subs.subscriptions("u"), list[PushSubscription])
    channels: list[NotificationChannel[Any]] = [smtp]
    del channels
    assert_type(await DeliveryWorker(notifier, concurrency=4, lease=60).run_once(), int)
    error = InvalidAddressError("email", "a", "why", channel="email")
    assert_type(error.kind, str)
    assert_type(error.channel, str | None)
    assert isinstance(error, ValueError)


async def check_construction(pool: asyncpg.Pool[Any], client: aioredis.Redis) -> None:
    outbox = PostgresOutbox(pool=pool, table="app.notify")
    assert_type(outbox, PostgresOutbox)
    owned = await PostgresOutbox.connect("postgresql://db/app", table="notify", min_size=1, max_size=10)
    assert_type(owned, PostgresOutbox)
    async with owned as entered:
        assert_type(entered, PostgresOutbox)
    assert_type(await owned.aclose(), None)
    assert_type(owned.closed, bool)
    assert_type(owned.owns_pool, bool)
    prefs = await PostgresPreferenceStore.connect("postgresql://db/app", table="prefs", max_size=2)
    assert_type(prefs, PostgresPreferenceStore)
    assert_type(PostgresPreferenceStore(pool=pool, table="prefs"), PostgresPreferenceStore)
    subs = await PostgresPushSubscriptionStore.connect("postgresql://db/app", table="subs", min_size=0)
    assert_type(subs, PostgresPushSubscriptionStore)
    assert_type(await subs.drop_schema(), None)
    assert_type(RedisRateLimiter(client=client, prefix="rate:"), RedisRateLimiter)
    async with RedisRateLimiter.from_url("redis://cache", prefix="rate:") as limiter:
        assert_type(limiter, RedisRateLimiter)
    async with WebhookChannel() as hook:
        assert_type(hook, WebhookChannel)
    type_error = NotificationsTypeError("p", "a str", 1)
    assert isinstance(type_error, ArgumentTypeError)
    assert isinstance(type_error, TypeError)
    assert_type(type_error.parameter, str)
    assert isinstance(NotificationsConfigurationError("p", 1, "why"), ConfigurationError)
    down = NotificationsUnavailableError("postgresql", "postgresql://db", "refused")
    assert isinstance(down, BackendUnavailableError)
    assert_type(down.address, str)
