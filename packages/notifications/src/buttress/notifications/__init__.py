"""buttress-notifications: multi-channel notifications that respect people's preferences.

Typed Jinja2 templates (sandboxed, validated against a pydantic context model when registered),
channels for email (SMTP), Web Push (VAPID + aes128gcm), SMS (a Twilio-style provider), generic
webhooks and, through Apprise, the long tail; preferences per channel x category with quiet hours in
the user's time zone; digests; token-bucket rate limits; and an outbox with retries, dead letters
and failover::

    from pydantic import BaseModel
    from buttress.notifications import Notification, Notifier, Recipient, Template, TemplateRegistry

    class Invoice(BaseModel):
        number: str

    templates = TemplateRegistry()
    templates.register(Template("invoice", Invoice, subject="Invoice {{ number }}", text="Pay {{ number }}."))
    notifier = Notifier(templates=templates, channels=[smtp])
    await notifier.send(Notification(Recipient("u1", {"email": "a@example.com"}), "billing", "invoice",
                                     Invoice(number="42")))
    await DeliveryWorker(notifier).drain()

The core needs only pydantic and Jinja2. `SmtpChannel` needs the ``smtp`` extra, `WebPushChannel`
``webpush``, `SmsChannel`/`TwilioSmsProvider`/`WebhookChannel` ``http``, `AppriseChannel` ``apprise``,
`RedisRateLimiter` ``redis`` and the PostgreSQL stores ``postgres``
(`PostgresPushSubscriptionStore` also ``webpush``); they are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._channels import Message, NotificationChannel, RecipientResult
from ._digest import DigestRule
from ._model import DigestContext, DigestEntry, Job, Notification, NotificationStatus, Recipient, Rendered
from ._notifier import DeliveryWorker, Notifier, RetryPolicy
from ._outbox import Claim, MemoryOutbox, Outbox
from ._preferences import (
    ANY,
    Decision,
    MemoryPreferenceStore,
    PreferenceDefaults,
    Preferences,
    PreferenceStore,
    QuietWindow,
    Verdict,
    decide,
)
from ._ratelimit import MemoryRateLimiter, Rate, RateLimiter
from ._templates import Template, TemplateRegistry
from ._version import __version__
from .exceptions import (
    DeliveryError,
    InvalidAddressError,
    MissingExtraError,
    NotificationNotFoundError,
    NotificationsConfigurationError,
    NotificationsError,
    NotificationsTypeError,
    NotificationsUnavailableError,
    PermanentDeliveryError,
    SubscriptionGoneError,
    TemplateContextError,
    TemplateDefinitionError,
    TemplateError,
    TemplateRenderError,
    TransientDeliveryError,
    UnknownChannelError,
    UnknownTemplateError,
)

if TYPE_CHECKING:
    from ._apprise import AppriseChannel, AppriseMessage
    from ._http import Sms, SmsChannel, SmsProvider, TwilioSmsProvider, WebhookChannel, WebhookPost
    from ._postgres import PostgresOutbox, PostgresPreferenceStore
    from ._push_postgres import PostgresPushSubscriptionStore
    from ._redis import RedisRateLimiter
    from ._smtp import Email, SmtpChannel
    from ._webpush import (
        MemoryPushSubscriptionStore,
        PushSubscription,
        PushSubscriptionStore,
        VapidKey,
        WebPush,
        WebPushChannel,
    )


__all__ = [
    "ANY",
    "AppriseChannel",
    "AppriseMessage",
    "Claim",
    "Decision",
    "DeliveryError",
    "DeliveryWorker",
    "DigestContext",
    "DigestEntry",
    "DigestRule",
    "Email",
    "InvalidAddressError",
    "Job",
    "MemoryOutbox",
    "MemoryPreferenceStore",
    "MemoryPushSubscriptionStore",
    "MemoryRateLimiter",
    "Message",
    "MissingExtraError",
    "Notification",
    "NotificationChannel",
    "NotificationNotFoundError",
    "NotificationStatus",
    "NotificationsConfigurationError",
    "NotificationsError",
    "NotificationsTypeError",
    "NotificationsUnavailableError",
    "Notifier",
    "Outbox",
    "PermanentDeliveryError",
    "PostgresOutbox",
    "PostgresPreferenceStore",
    "PostgresPushSubscriptionStore",
    "PreferenceDefaults",
    "PreferenceStore",
    "Preferences",
    "PushSubscription",
    "PushSubscriptionStore",
    "QuietWindow",
    "Rate",
    "RateLimiter",
    "Recipient",
    "RecipientResult",
    "RedisRateLimiter",
    "Rendered",
    "RetryPolicy",
    "Sms",
    "SmsChannel",
    "SmsProvider",
    "SmtpChannel",
    "SubscriptionGoneError",
    "Template",
    "TemplateContextError",
    "TemplateDefinitionError",
    "TemplateError",
    "TemplateRegistry",
    "TemplateRenderError",
    "TransientDeliveryError",
    "TwilioSmsProvider",
    "UnknownChannelError",
    "UnknownTemplateError",
    "VapidKey",
    "Verdict",
    "WebPush",
    "WebPushChannel",
    "WebhookChannel",
    "WebhookPost",
    "__version__",
    "decide",
]

# Channels and backends load on first use, so the core needs no extra.
__getattr__ = lazy_exports(
    __name__,
    {
        "AppriseChannel": "_apprise",
        "AppriseMessage": "_apprise",
        "Sms": "_http",
        "SmsChannel": "_http",
        "SmsProvider": "_http",
        "TwilioSmsProvider": "_http",
        "WebhookChannel": "_http",
        "WebhookPost": "_http",
        "PostgresOutbox": "_postgres",
        "PostgresPreferenceStore": "_postgres",
        "PostgresPushSubscriptionStore": "_push_postgres",
        "RedisRateLimiter": "_redis",
        "Email": "_smtp",
        "SmtpChannel": "_smtp",
        "MemoryPushSubscriptionStore": "_webpush",
        "PushSubscription": "_webpush",
        "PushSubscriptionStore": "_webpush",
        "VapidKey": "_webpush",
        "WebPush": "_webpush",
        "WebPushChannel": "_webpush",
    },
)
