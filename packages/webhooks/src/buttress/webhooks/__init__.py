"""buttress-webhooks: both sides of a webhook.

Receiving: verify Standard Webhooks (``v1`` HMAC-SHA256 and ``v1a`` ed25519), Stripe and GitHub
signatures, with a replay guard and a small ASGI endpoint (`SyncWebhookReceiver` and
`WSGIWebhookEndpoint` are their synchronous twins, for Flask and Django under WSGI)::

    from buttress.webhooks import WebhookVerifier, WebhookVerificationError

    verifier = WebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    try:
        webhook = verifier.verify(request.headers, await request.body())
    except WebhookVerificationError:
        return Response(status_code=401)

Sending: `WebhookSigner` signs; an `Outbox` records messages (`MemoryOutbox` in one process,
`PostgresOutbox` durably, in your transaction when given your connection) and `DeliveryWorker`
delivers them with retries through an SSRF-safe httpx transport (`SafeTransport`).

The verification side and `MemoryOutbox` need only buttress-core. `PostgresOutbox` and
`PostgresEndpointStore` need the ``postgres`` extra, `SafeTransport`/`DeliveryWorker` the ``http``
extra, `RedisReplayGuard` the ``redis`` extra and ``v1a`` keys the ``ed25519`` extra; they are
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._delivery import Attempt, DeadDelivery, Delivery, DeliveryStatus, Message, parse_retry_after
from ._endpoint import WebhookAnswer, WebhookEndpoint, WSGIWebhookEndpoint
from ._endpoints import Endpoint, Endpoints, EndpointStore, MemoryEndpointStore, new_endpoint_id
from ._keys import (
    Ed25519SigningKey,
    Ed25519VerifyKey,
    HmacKey,
    generate_secret,
    generate_signing_keypair,
)
from ._outbox import Claim, MemoryOutbox, Outbox, Outcome
from ._providers import GitHubVerifier, StripeVerifier
from ._receiver import WebhookReceiver
from ._replay import (
    DEFAULT_LEASE,
    MemoryReplayGuard,
    ReplayClaim,
    ReplayGuard,
    ReplayStatus,
    SyncMemoryReplayGuard,
    SyncReplayGuard,
)
from ._schedule import DEFAULT_DELAYS, RetrySchedule
from ._ssrf import BLOCKED_NETWORKS, CLOUD_METADATA_ADDRESSES, NetworkPolicy
from ._standard import DEFAULT_TOLERANCE, WebhookSigner, WebhookVerifier, new_message_id
from ._sync import SyncWebhookReceiver
from ._verify import Headers, VerifiedWebhook, Verifier
from .exceptions import (
    EndpointConflictError,
    EndpointNotFoundError,
    InvalidBodyError,
    InvalidSecretError,
    MalformedHeaderError,
    MessageNotFoundError,
    MissingExtraError,
    MissingHeaderError,
    ReplayedWebhookError,
    SignatureMismatchError,
    TimestampOutsideToleranceError,
    UnsafeDestinationError,
    WebhookInFlightError,
    WebhooksConfigurationError,
    WebhooksError,
    WebhooksTypeError,
    WebhooksUnavailableError,
    WebhookVerificationError,
)

if TYPE_CHECKING:
    from ._postgres import PostgresEndpointStore
    from ._postgres_outbox import PostgresOutbox
    from ._redis import RedisReplayGuard
    from ._transport import Resolver, SafeNetworkBackend, SafeTransport, SystemResolver, safe_client
    from ._worker import DeliveryWorker

__all__ = [
    "BLOCKED_NETWORKS",
    "CLOUD_METADATA_ADDRESSES",
    "DEFAULT_DELAYS",
    "DEFAULT_LEASE",
    "DEFAULT_TOLERANCE",
    "Attempt",
    "Claim",
    "DeadDelivery",
    "Delivery",
    "DeliveryStatus",
    "DeliveryWorker",
    "Ed25519SigningKey",
    "Ed25519VerifyKey",
    "Endpoint",
    "EndpointConflictError",
    "EndpointNotFoundError",
    "EndpointStore",
    "Endpoints",
    "GitHubVerifier",
    "Headers",
    "HmacKey",
    "InvalidBodyError",
    "InvalidSecretError",
    "MalformedHeaderError",
    "MemoryEndpointStore",
    "MemoryOutbox",
    "MemoryReplayGuard",
    "Message",
    "MessageNotFoundError",
    "MissingExtraError",
    "MissingHeaderError",
    "NetworkPolicy",
    "Outbox",
    "Outcome",
    "PostgresEndpointStore",
    "PostgresOutbox",
    "RedisReplayGuard",
    "ReplayClaim",
    "ReplayGuard",
    "ReplayStatus",
    "ReplayedWebhookError",
    "Resolver",
    "RetrySchedule",
    "SafeNetworkBackend",
    "SafeTransport",
    "SignatureMismatchError",
    "StripeVerifier",
    "SyncMemoryReplayGuard",
    "SyncReplayGuard",
    "SyncWebhookReceiver",
    "SystemResolver",
    "TimestampOutsideToleranceError",
    "UnsafeDestinationError",
    "VerifiedWebhook",
    "Verifier",
    "WSGIWebhookEndpoint",
    "WebhookAnswer",
    "WebhookEndpoint",
    "WebhookInFlightError",
    "WebhookReceiver",
    "WebhookSigner",
    "WebhookVerificationError",
    "WebhookVerifier",
    "WebhooksConfigurationError",
    "WebhooksError",
    "WebhooksTypeError",
    "WebhooksUnavailableError",
    "generate_secret",
    "generate_signing_keypair",
    "new_endpoint_id",
    "new_message_id",
    "parse_retry_after",
    "safe_client",
]

# Names that need an extra, and the private module that holds each: imported on first use.
__getattr__ = lazy_exports(
    __name__,
    {
        "DeliveryWorker": "_worker",
        "PostgresEndpointStore": "_postgres",
        "PostgresOutbox": "_postgres_outbox",
        "RedisReplayGuard": "_redis",
        "Resolver": "_transport",
        "SafeNetworkBackend": "_transport",
        "SafeTransport": "_transport",
        "SystemResolver": "_transport",
        "safe_client": "_transport",
    },
)
