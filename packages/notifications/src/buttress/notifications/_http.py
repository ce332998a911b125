"""HTTP channels (extra ``http``): `SmsChannel` over an `SmsProvider`, and `WebhookChannel`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

from ._channels import Message, RecipientResult
from ._model import check_name
from .exceptions import (
    DeliveryError,
    MissingExtraError,
    NotificationConfigurationError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("SmsChannel / WebhookChannel / TwilioSmsProvider", "http") from exc

__all__ = ["Sms", "SmsChannel", "SmsProvider", "TwilioSmsProvider", "WebhookChannel", "WebhookPost"]

MAX_SMS: int = 1600


def http_error(channel: str, status: int, what: str) -> DeliveryError | None:
    """Classify an HTTP status: ``None`` for 2xx, transient for 408/429/5xx, permanent otherwise."""
    if 200 <= status < 300:
        return None
    if status in (408, 429) or status >= 500:
        return TransientDeliveryError(channel, f"{what} is busy or failing", code=status)
    return PermanentDeliveryError(channel, f"{what} refused the message", code=status)


@dataclass(frozen=True, slots=True)
class Sms:
    """A text message to one phone number (E.164, ``+15551234567``)."""

    to: str
    body: str

    def __post_init__(self) -> None:
        if not isinstance(self.to, str) or not self.to.startswith("+") or not self.to[1:].isdigit():
            raise NotificationConfigurationError("to", self.to, "must be an E.164 number like +15551234567")
        if not self.body or len(self.body) > MAX_SMS:
            raise NotificationConfigurationError("body", len(self.body), f"must be 1-{MAX_SMS} characters")


class SmsProvider(Protocol):
    """**Protocol**: a service that sends text messages.

    ``send`` returns the provider's message id, or raises `TransientDeliveryError` /
    `PermanentDeliveryError`.
    """

    async def send(self, sms: Sms) -> str:
        """Send ``sms``; return the provider's id for it."""
        ...


class TwilioSmsProvider:
    """An `SmsProvider` for APIs shaped like Twilio's: a form POST to ``/Accounts/<sid>/Messages.json``.

    Args:
        account_sid: The account id (also the Basic-auth user).
        auth_token: The Basic-auth password.
        sender: The ``From`` number or messaging service.
        base_url: The API root (``https://api.twilio.com/2010-04-01`` by default; a local server in tests).
        client: An ``httpx.AsyncClient``; one is made (and closed by `aclose`) when not given.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        sender: str,
        base_url: str = "https://api.twilio.com/2010-04-01",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise NotificationConfigurationError(
                "account_sid", account_sid, "account_sid and auth_token are required"
            )
        self._url = f"{base_url.rstrip('/')}/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._sender = sender
        self._client = client or httpx.AsyncClient(timeout=30)
        self._owned = client is None

    async def send(self, sms: Sms) -> str:
        """POST ``To``, ``From`` and ``Body``; return the ``sid`` the provider answers with."""
        try:
            response = await self._client.post(
                self._url, data={"To": sms.to, "From": self._sender, "Body": sms.body}, auth=self._auth
            )
        except httpx.HTTPError as exc:
            raise TransientDeliveryError("sms", f"provider unreachable: {type(exc).__name__}") from None
        error = http_error("sms", response.status_code, "the SMS provider")
        if error is not None:
            raise error
        try:
            return str(response.json()["sid"])
        except (ValueError, KeyError, TypeError):
            return ""

    async def aclose(self) -> None:
        """Close the HTTP client if the provider made it."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class SmsChannel:
    """Text messages through an `SmsProvider`; the rendered text is the body (cut to 1600 characters).

    Args:
        provider: Who sends.
        name: The channel's name.
    """

    def __init__(self, provider: SmsProvider, *, name: str = "sms") -> None:
        self._provider = provider
        self._name = check_name("name", name)

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> Sms:
        """An `Sms` with the rendered text."""
        return Sms(to=message.address, body=message.content.text[:MAX_SMS])

    async def deliver(self, payload: Sms) -> list[RecipientResult]:
        """Send it; one result."""
        try:
            await self._provider.send(payload)
        except DeliveryError as exc:
            return [RecipientResult(payload.to, exc)]
        return [RecipientResult(payload.to)]


@dataclass(frozen=True, slots=True)
class WebhookPost:
    """A JSON POST to one URL."""

    url: str
    body: Mapping[str, Any]


def default_body(message: Message) -> dict[str, Any]:
    """The generic JSON: ``{"id", "recipient", "subject", "text", "html"}``."""
    return {
        "id": message.notification_id,
        "recipient": message.recipient_id,
        "subject": message.content.subject,
        "text": message.content.text,
        "html": message.content.html,
    }


class WebhookChannel:
    """POST each notification as JSON to the recipient's URL (a chat incoming webhook, your own service).

    Args:
        body: Builds the JSON from a `Message` (``{"text": ...}`` for Slack-style chat, say).
        headers: Sent with every request (an API key).
        client: An ``httpx.AsyncClient``; one is made (and closed by `aclose`) when not given.
        name: The channel's name.
    """

    def __init__(
        self,
        *,
        body: Callable[[Message], Mapping[str, Any]] = default_body,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        name: str = "webhook",
    ) -> None:
        self._body = body
        self._headers = {"content-type": "application/json", **(headers or {})}
        self._client = client or httpx.AsyncClient(timeout=30)
        self._owned = client is None
        self._name = check_name("name", name)

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> WebhookPost:
        """The POST for ``message.address``."""
        if urlsplit(message.address).scheme not in ("http", "https"):
            raise NotificationConfigurationError("address", message.address, "must be an http(s) URL")
        return WebhookPost(url=message.address, body=self._body(message))

    async def deliver(self, payload: WebhookPost) -> list[RecipientResult]:
        """POST it; one result."""
        content = json.dumps(payload.body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            response = await self._client.post(payload.url, content=content, headers=self._headers)
        except httpx.HTTPError as exc:
            error: DeliveryError | None = TransientDeliveryError(
                self._name, f"unreachable: {type(exc).__name__}"
            )
        else:
            error = http_error(self._name, response.status_code, "the webhook")
        return [RecipientResult(payload.url, error)]

    async def aclose(self) -> None:
        """Close the HTTP client if the channel made it."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
