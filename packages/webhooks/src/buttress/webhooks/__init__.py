"""buttress-webhooks: both sides of a webhook.

Receiving: verify Standard Webhooks (``v1`` HMAC-SHA256 and ``v1a`` ed25519), Stripe and GitHub
signatures, with a replay guard and a small ASGI endpoint::

    from buttress.webhooks import WebhookVerifier, WebhookVerificationError

    verifier = WebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    try:
        webhook = verifier.verify(request.headers, await request.body())
    except WebhookVerificationError:
        return Response(status_code=401)

Sending: `WebhookSigner` signs; `PostgresOutbox` records messages durably (in your transaction when
given your connection) and `DeliveryWorker` delivers them with retries through an SSRF-safe httpx
transport (`SafeTransport`).

The verification side needs only buttress-core. `PostgresOutbox` and `PostgresEndpointStore` need the
``postgres`` extra, `SafeTransport`/`DeliveryWorker` the ``httpx`` extra, `RedisReplayGuard` the
``redis`` extra and ``v1a`` keys the ``ed25519`` extra; they are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._delivery import Attempt, DeadDelivery, Delivery, DeliveryStatus, Message, parse_retry_after
from ._endpoints import Endpoint, Endpoints, EndpointStore, MemoryEndpointStore, new_endpoint_id
from ._keys import (
    Ed25519SigningKey,
    Ed25519VerifyKey,
    HmacKey,
    generate_secret,
    generate_signing_keypair,
)
from ._providers import GitHubVerifier, StripeVerifier
from ._receiver import WebhookEndpoint, WebhookReceiver
from ._replay import DEFAULT_LEASE, MemoryReplayGuard, ReplayClaim, ReplayGuard, ReplayStatus
from ._schedule import DEFAULT_DELAYS, RetrySchedule
from ._ssrf import BLOCKED_NETWORKS, CLOUD_METADATA_ADDRESSES, NetworkPolicy
from ._standard import DEFAULT_TOLERANCE, WebhookSigner, WebhookVerifier, new_message_id
from ._verify import VerifiedWebhook, Verifier
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
    StoreUnavailableError,
    TimestampOutsideToleranceError,
    UnsafeDestinationError,
    WebhookConfigurationError,
    WebhookInFlightError,
    WebhooksError,
    WebhookVerificationError,
)

if TYPE_CHECKING:
    from ._outbox import Claim, Outcome, PostgresOutbox
    from ._postgres import PostgresEndpointStore
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
    "HmacKey",
    "InvalidBodyError",
    "InvalidSecretError",
    "MalformedHeaderError",
    "MemoryEndpointStore",
    "MemoryReplayGuard",
    "Message",
    "MessageNotFoundError",
    "MissingExtraError",
    "MissingHeaderError",
    "NetworkPolicy",
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
    "StoreUnavailableError",
    "StripeVerifier",
    "SystemResolver",
    "TimestampOutsideToleranceError",
    "UnsafeDestinationError",
    "VerifiedWebhook",
    "Verifier",
    "WebhookConfigurationError",
    "WebhookEndpoint",
    "WebhookInFlightError",
    "WebhookReceiver",
    "WebhookSigner",
    "WebhookVerificationError",
    "WebhookVerifier",
    "WebhooksError",
    "generate_secret",
    "generate_signing_keypair",
    "new_endpoint_id",
    "new_message_id",
    "parse_retry_after",
    "safe_client",
]

# Names that need an extra, and the private module that holds each.
_LAZY = {
    "Claim": "_outbox",
    "Outcome": "_outbox",
    "PostgresEndpointStore": "_postgres",
    "PostgresOutbox": "_outbox",
    "RedisReplayGuard": "_redis",
    "Resolver": "_transport",
    "SafeNetworkBackend": "_transport",
    "SafeTransport": "_transport",
    "SystemResolver": "_transport",
    "safe_client": "_transport",
    "DeliveryWorker": "_worker",
}


def __getattr__(name: str) -> object:
    # Load the backends only when asked for, so verification needs no extra.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'buttress.webhooks' has no attribute {name!r}")
    from importlib import import_module  # noqa: PLC0415

    return getattr(import_module(f"{__name__}.{module}"), name)
