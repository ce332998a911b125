"""`WebPushChannel`: RFC 8030 push, RFC 8291 aes128gcm encryption, RFC 8292 VAPID (extra ``webpush``)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from buttress.core import AsyncResource, Owned, connection_errors

from ._address import check_email, check_line, check_url
from ._channels import Message, RecipientResult
from ._model import check_id, check_name
from .exceptions import (
    DeliveryError,
    MissingExtraError,
    NotificationsConfigurationError,
    NotificationsTypeError,
    PermanentDeliveryError,
    SubscriptionGoneError,
    TransientDeliveryError,
)

try:
    import http_ece
    import httpx
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("WebPushChannel", "webpush") from exc

__all__ = [
    "MemoryPushSubscriptionStore",
    "PushSubscription",
    "PushSubscriptionStore",
    "VapidKey",
    "WebPush",
    "WebPushChannel",
]

_UNREACHABLE: Final = connection_errors("httpx")

# RFC 8291 section 4: one 4096-byte record, minus the 86-byte header, 16-byte tag and 1 delimiter.
MAX_PAYLOAD: Final = 3993
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_TOPIC: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 section 5.4
_MAX_TTL: Final = 2_419_200  # four weeks, what push services keep at most
_MAX_JWT_TTL: Final = 86_400  # RFC 8292 section 2: no more than 24 hours
_MAX_UNIX: Final = 253_402_300_800  # 10000-01-01


def b64url(data: bytes) -> str:
    """Base64url without padding (as browsers and RFC 8292 write keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding (strictly: any other character is a ValueError)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A browser's ``PushSubscription.toJSON()``: the endpoint and its ``p256dh`` and ``auth`` keys.

    Raises:
        NotificationsConfigurationError: The endpoint is not https (or http on loopback for tests), the
            ``p256dh`` key is not an uncompressed P-256 point, or ``auth`` is not 16 bytes.
    """

    endpoint: str
    p256dh: str
    auth: str

    def __post_init__(self) -> None:
        check_url(self.endpoint, kind="push endpoint", https_only=True)
        try:
            point = unb64url(self.p256dh)
            auth = unb64url(self.auth)
        except ValueError:
            raise NotificationsConfigurationError(
                "p256dh", "<key>", "p256dh and auth must be base64url", show_value=False
            ) from None
        if len(point) != 65 or len(auth) != 16:
            raise NotificationsConfigurationError(
                "auth", "<key>", "must be 16 bytes, p256dh 65", show_value=False
            )
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError:
            raise NotificationsConfigurationError(
                "p256dh", "<key>", "is not an uncompressed P-256 point", show_value=False
            ) from None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PushSubscription:
        """Build one from the browser's JSON: ``{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}``."""
        try:
            return cls(data["endpoint"], data["keys"]["p256dh"], data["keys"]["auth"])
        except (KeyError, TypeError, IndexError):
            raise NotificationsConfigurationError(
                "subscription", "<json>", "needs endpoint, keys.p256dh and keys.auth"
            ) from None


class VapidKey:
    """The application server's P-256 key pair for VAPID (RFC 8292).

    Give browsers `application_server_key` (``pushManager.subscribe({applicationServerKey})``).

    Args:
        private_key: The key; use `generate` or `from_pem`.
        subject: A ``mailto:`` or ``https:`` contact the push service may use.
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, *, subject: str) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise NotificationsConfigurationError(
                "private_key", "<key>", "must be a P-256 private key", show_value=False
            )
        _check_subject(subject)
        self._key = private_key
        self.subject = subject
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.application_server_key = b64url(raw)

    def __repr__(self) -> str:
        return f"VapidKey(subject={self.subject!r}, application_server_key={self.application_server_key!r})"

    @classmethod
    def generate(cls, *, subject: str) -> VapidKey:
        """A new random key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()), subject=subject)

    @classmethod
    def from_pem(cls, pem: bytes, *, subject: str) -> VapidKey:
        """Load an unencrypted PKCS#8 / SEC1 PEM private key."""
        if not isinstance(pem, bytes | bytearray | memoryview):
            raise NotificationsTypeError("pem", "bytes", pem)
        try:
            key = serialization.load_pem_private_key(bytes(pem), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise NotificationsConfigurationError(
                "pem", "<key>", "is not an unencrypted PEM private key", show_value=False
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise NotificationsConfigurationError(
                "pem", "<key>", "is not an EC private key", show_value=False
            )
        return cls(key, subject=subject)

    def authorization(self, endpoint: str, *, ttl: int = 12 * 3600, now: float | None = None) -> str:
        """The ``Authorization: vapid t=<jwt>, k=<key>`` value for ``endpoint``'s origin (ES256 JWT).

        Args:
            endpoint: The subscription's endpoint.
            ttl: Seconds the token is valid, at most 24 hours (RFC 8292).
            now: The issue time (Unix seconds); the system clock by default.
        """
        check_url(endpoint, kind="push endpoint", https_only=True)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= _MAX_JWT_TTL:
            raise NotificationsConfigurationError(
                "ttl", ttl, f"must be whole seconds from 1 to {_MAX_JWT_TTL}"
            )
        if now is not None and (
            not isinstance(now, int | float) or isinstance(now, bool) or not 0 <= now < _MAX_UNIX
        ):
            raise NotificationsConfigurationError("now", now, "must be Unix seconds")
        parts = urlsplit(endpoint)
        issued = int(now if now is not None else time.time())
        header = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}, separators=(",", ":")).encode())
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": issued + ttl, "sub": self.subject}
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{body}".encode("ascii")
        r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return f"vapid t={header}.{body}.{signature}, k={self.application_server_key}"


def _check_subject(subject: object) -> None:
    if isinstance(subject, str) and subject.startswith("mailto:"):
        check_email(subject.removeprefix("mailto:"), kind="VAPID subject")
    elif isinstance(subject, str) and subject.startswith("https:"):
        check_url(subject, kind="VAPID subject", https_only=True)
    else:
        raise NotificationsConfigurationError("subject", "<subject>", "must be a mailto: or https: URL")


def _check_ttl(ttl: object) -> None:
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= _MAX_TTL:
        raise NotificationsConfigurationError("ttl", ttl, f"must be whole seconds from 0 to {_MAX_TTL}")


class PushSubscriptionStore(Protocol):
    """**Protocol**: each user's push subscriptions (one per browser or device)."""

    async def subscriptions(self, user_id: str) -> list[PushSubscription]:
        """The user's subscriptions."""
        ...

    async def add(self, user_id: str, subscription: PushSubscription) -> None:
        """Store a subscription (replacing one with the same endpoint)."""
        ...

    async def remove(self, endpoint: str) -> bool:
        """Drop the subscription with this endpoint; ``True`` if it existed."""
        ...


class MemoryPushSubscriptionStore:
    """A `PushSubscriptionStore` in a dict."""

    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, PushSubscription]] = {}

    async def subscriptions(self, user_id: str) -> list[PushSubscription]:
        """The user's subscriptions."""
        check_id("user_id", user_id)
        return list(self._by_user.get(user_id, {}).values())

    async def add(self, user_id: str, subscription: PushSubscription) -> None:
        """Store a subscription."""
        check_id("user_id", user_id)
        if not isinstance(subscription, PushSubscription):
            raise NotificationsTypeError("subscription", "a PushSubscription", subscription)
        await self.remove(subscription.endpoint)
        self._by_user.setdefault(user_id, {})[subscription.endpoint] = subscription

    async def remove(self, endpoint: str) -> bool:
        """Drop the subscription with this endpoint."""
        if not isinstance(endpoint, str):
            raise NotificationsTypeError("endpoint", "a string", endpoint)
        return any(subs.pop(endpoint, None) is not None for subs in self._by_user.values())


@dataclass(frozen=True, slots=True)
class WebPush:
    """A push message for every subscription of ``user_id``.

    Args:
        user_id: Whose subscriptions.
        data: The plaintext (at most 3993 bytes); the service worker receives it.
        ttl: Seconds the push service keeps it for an offline browser.
        urgency: ``very-low``, ``low``, ``normal`` or ``high`` (RFC 8030 section 5.3).
        topic: Replaces an undelivered message with the same topic.
    """

    user_id: str
    data: bytes
    ttl: int = 86400
    urgency: str = "normal"
    topic: str | None = None

    def __post_init__(self) -> None:
        check_id("user_id", self.user_id)
        if not isinstance(self.data, bytes):
            raise NotificationsTypeError("data", "bytes", self.data)
        if len(self.data) > MAX_PAYLOAD:
            raise NotificationsConfigurationError(
                "data", len(self.data), f"must be at most {MAX_PAYLOAD} bytes"
            )
        _check_ttl(self.ttl)
        if not isinstance(self.urgency, str) or self.urgency not in ("very-low", "low", "normal", "high"):
            raise NotificationsConfigurationError(
                "urgency", self.urgency, "must be very-low, low, normal or high"
            )
        if self.topic is not None and (not isinstance(self.topic, str) or not _TOPIC.fullmatch(self.topic)):
            raise NotificationsConfigurationError("topic", self.topic, "must be 1-32 base64url characters")


class WebPushChannel(AsyncResource):
    """Deliver to browsers through their push services (the recipient's address is their user id).

    Each message is encrypted for each subscription with a fresh ECDH key and salt (RFC 8291,
    ``Content-Encoding: aes128gcm``) and carries a VAPID JWT for the endpoint's origin. A push
    service answering 404 or 410 means the subscription is gone: it is removed from the store and
    reported as `SubscriptionGoneError`. The message counts as delivered when any subscription took it.

    Args:
        vapid: The application server key.
        subscriptions: Where subscriptions are kept.
        client: An ``httpx.AsyncClient`` (one is made, and closed by `aclose`, when not given).
        ttl: Default TTL in seconds.
        name: The channel's name.
    """

    def __init__(
        self,
        vapid: VapidKey,
        subscriptions: PushSubscriptionStore,
        *,
        client: httpx.AsyncClient | None = None,
        ttl: int = 86400,
        name: str = "push",
    ) -> None:
        super().__init__()
        if not isinstance(vapid, VapidKey):
            raise NotificationsTypeError("vapid", "a VapidKey", vapid)
        for member in ("subscriptions", "add", "remove"):
            if not callable(getattr(subscriptions, member, None)):
                raise NotificationsTypeError("subscriptions", "a PushSubscriptionStore", subscriptions)
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise NotificationsTypeError("client", "an httpx.AsyncClient", client)
        _check_ttl(ttl)
        self._vapid = vapid
        self.subscriptions = subscriptions
        self._client: Owned[httpx.AsyncClient]
        if client is None:
            made = httpx.AsyncClient(timeout=30)
            self._client = Owned(made, made.aclose)
        else:
            self._client = Owned(client)
        self._ttl = ttl
        self._name = check_name("name", name)

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> WebPush:
        """A JSON payload ``{"id", "title", "body"}`` for the user's subscriptions.

        Raises:
            InvalidAddressError: The address (the user id the subscriptions are under) is empty,
                over 200 characters, or holds a control character.
        """
        if not isinstance(message, Message):
            raise NotificationsTypeError("message", "a Message", message)
        check_line("push user id", message.address, max_length=200)
        body: dict[str, str] = {
            "id": message.notification_id,
            "title": message.content.subject,
            "body": message.content.text,
        }
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if len(data) > MAX_PAYLOAD:  # cut the body, never the id or the title
            overflow = len(data) - MAX_PAYLOAD
            body["body"] = (
                body["body"]
                .encode()[: max(0, len(body["body"].encode()) - overflow - 3)]
                .decode(errors="ignore")
            )
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        urgency = "high" if message.critical else "normal"
        return WebPush(user_id=message.address, data=data, ttl=self._ttl, urgency=urgency)

    async def deliver(self, payload: WebPush) -> list[RecipientResult]:
        """Send to every subscription of the user; one result per subscription endpoint."""
        if not isinstance(payload, WebPush):
            raise NotificationsTypeError("payload", "a WebPush", payload)
        subs = await self.subscriptions.subscriptions(payload.user_id)
        if not subs:
            raise PermanentDeliveryError(self._name, "the user has no push subscriptions")
        return list(await asyncio.gather(*(self._send_one(sub, payload) for sub in subs)))

    def encrypt(self, subscription: PushSubscription, data: bytes) -> bytes:
        """Encrypt ``data`` for ``subscription`` (RFC 8291, aes128gcm, one record)."""
        if not isinstance(subscription, PushSubscription):
            raise NotificationsTypeError("subscription", "a PushSubscription", subscription)
        if not isinstance(data, bytes):
            raise NotificationsTypeError("data", "bytes", data)
        if len(data) > MAX_PAYLOAD:
            raise NotificationsConfigurationError("data", len(data), f"must be at most {MAX_PAYLOAD} bytes")
        return bytes(
            http_ece.encrypt(
                data,
                salt=secrets.token_bytes(16),
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=unb64url(subscription.p256dh),
                auth_secret=unb64url(subscription.auth),
                version="aes128gcm",
            )
        )

    async def _send_one(self, sub: PushSubscription, payload: WebPush) -> RecipientResult:
        headers = {
            "Authorization": self._vapid.authorization(sub.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(payload.ttl),
            "Urgency": payload.urgency,
        }
        if payload.topic:
            headers["Topic"] = payload.topic
        try:
            response = await self._client.value.post(
                sub.endpoint, content=self.encrypt(sub, payload.data), headers=headers
            )
        except _UNREACHABLE as exc:
            return RecipientResult(
                sub.endpoint,
                TransientDeliveryError(self._name, f"push service unreachable: {type(exc).__name__}"),
            )
        except httpx.HTTPError as exc:
            return RecipientResult(
                sub.endpoint,
                TransientDeliveryError(self._name, f"push request failed: {type(exc).__name__}"),
            )
        return RecipientResult(sub.endpoint, await self._outcome(sub, response.status_code))

    async def _outcome(self, sub: PushSubscription, status: int) -> DeliveryError | None:
        if 200 <= status < 300:
            return None
        if status in (404, 410):
            await self.subscriptions.remove(sub.endpoint)
            return SubscriptionGoneError(self._name, "the subscription is gone and was removed", code=status)
        if status in (408, 429) or status >= 500:
            return TransientDeliveryError(self._name, "push service busy", code=status)
        return PermanentDeliveryError(self._name, "push service refused the message", code=status)

    async def _aclose(self) -> None:
        await self._client.release()
