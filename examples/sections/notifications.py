"""The tour's buttress-notifications section."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time, timedelta

from pydantic import BaseModel

from buttress.notifications import (
    ANY,
    DigestContext,
    DigestRule,
    MemoryOutbox,
    MemoryPreferenceStore,
    Message,
    Notification,
    Notifier,
    Preferences,
    QuietWindow,
    Rate,
    Recipient,
    RecipientResult,
    RedisRateLimiter,
    Template,
    TemplateDefinitionError,
    TemplateRegistry,
    decide,
)
from buttress.notifications import (
    DeliveryWorker as NotificationWorker,
)
from buttress.notifications import (
    PostgresOutbox as NotificationOutbox,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "email at 23:30 Berlin: hold, released 05:00 UTC",
    "critical SMS after an SMS opt-out: suppress",
    "memory outbox: sent ['Order A-42 shipped'], statuses {'batched': 3, 'sent': 1}",
)
REAL: tuple[str, ...] = (
    "postgres outbox: sent ['Order A-42 shipped'], statuses {'batched': 3, 'sent': 1}",
    "waits [0, 0, 30] s",
)


class TourShipped(BaseModel):
    order: str


class TourInbox:
    """A channel is anything with a name, prepare() and deliver(); this one keeps what it gets."""

    name = "email"

    def __init__(self) -> None:
        self.subjects: list[str] = []

    def prepare(self, message: Message) -> Message:
        return message

    async def deliver(self, payload: Message) -> list[RecipientResult]:
        self.subjects.append(payload.content.subject)
        return [RecipientResult(payload.address)]


async def run(tour: Tour) -> None:
    templates = TemplateRegistry()
    templates.register(
        Template("shipped", TourShipped, subject="Order {{ order }} shipped", text="On its way.")
    )
    templates.register(Template("digest", DigestContext, subject="{{ count }} updates", text="..."))
    try:
        templates.register(Template("typo", TourShipped, subject="Order {{ ordr }}", text="x"))
    except TemplateDefinitionError as exc:
        tour.say(f"refused when registered: {exc}")
    ann = Preferences("ann", "Europe/Berlin", {("sms", ANY): False}, QuietWindow.daily(time(22), time(7)))
    night = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)  # 23:30 in Berlin; clocks spring forward at 02:00
    held = decide(ann, "email", "orders", now=night)
    released = f"{held.release_at:%H:%M}" if held.release_at else "-"
    tour.say(f"email at 23:30 Berlin: {held.verdict}, released {released} UTC (07:00 CEST)")
    critical = decide(ann, "sms", "security", now=night, critical=True)
    tour.say(f"critical SMS after an SMS opt-out: {critical.verdict}")
    outboxes: list[tuple[str, MemoryOutbox | NotificationOutbox]] = [("memory", MemoryOutbox())]
    if tour.postgres_dsn is not None:
        pg = await NotificationOutbox.connect(
            tour.postgres_dsn, table=f"tour_{secrets.token_hex(3)}", min_size=1, max_size=2
        )
        await pg.create_schema()
        outboxes.append(("postgres", pg))
    for label, outbox in outboxes:
        inbox = TourInbox()
        notifier = Notifier(
            templates=templates,
            channels=[inbox],
            outbox=outbox,
            preferences=MemoryPreferenceStore([ann]),
            digests={"social": DigestRule("hourly", "digest", window=timedelta(hours=1))},
        )
        who = Recipient("ann", {"email": "ann@example.com"})
        for n in range(3):
            await notifier.send(Notification(who, "social", "shipped", TourShipped(order=f"L{n}")))
        for _ in range(2):  # the same dedupe key twice: one job
            urgent = TourShipped(order="A-42")
            await notifier.send(
                Notification(who, "orders", "shipped", urgent, critical=True, dedupe_key="A-42")
            )
        await NotificationWorker(notifier).drain()
        counts = {status.value: n for status, n in sorted((await outbox.counts()).items())}
        tour.say(f"{label} outbox: sent {inbox.subjects}, statuses {counts} (social waits for its digest)")
        if isinstance(outbox, NotificationOutbox):
            await outbox.drop_schema()
            await outbox.aclose()
    if tour.redis_url is not None:
        prefix = f"tour:{secrets.token_hex(4)}:"
        async with RedisRateLimiter.from_url(tour.redis_url, prefix=prefix) as limiter:
            waits = [round(await limiter.acquire("sms-provider", Rate(2, 60))) for _ in range(3)]
            tour.say(f"Redis token bucket, 2 per minute shared by every worker: waits {waits} s")
