"""HTTP channels (extra ``http``): `SmsChannel` over an `SmsProvider`, and `WebhookChannel`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from buttress.core import AsyncResource, Owned, connection_errors

from ._address import check_line, check_phone, check_url, unsafe_text
from ._channels import Message, RecipientResult
from ._model import check_name
from .exceptions import (
    DeliveryError,
    MissingExtraError,
    NotificationsConfigurationError,
    NotificationsTypeError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("SmsChannel / WebhookChannel / TwilioSmsProvider", "http") from exc

__all__ = ["Sms", "SmsChannel", "SmsProvider", "TwilioSmsProvider", "WebhookChannel", "WebhookPost"]

MAX_SMS: int = 1600
_UNREACHABLE: Final = connection_errors("httpx")
_SID: Final = re.compile(r"[A-Za-z0-9]{1,64}")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")  # RFC 9110 field-name


def _surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_client(client: object) -> None:
    if client is not None and not isinstance(client, httpx.AsyncClient):
        raise NotificationsTypeError("client", "an httpx.AsyncClient", client)


def _own_client(client: httpx.AsyncClient | None) -> Owned[httpx.AsyncClient]:
    """The application's client (borrowed), or a new one this object owns and closes."""
    if client is not None:
        return Owned(client)
    made = httpx.AsyncClient(timeout=30)
    return Owned(made, made.aclose)


def _check_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise NotificationsTypeError("headers", "a mapping of names to values", headers)
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise NotificationsConfigurationError("headers", "<name>", "names must be HTTP tokens")
        if not isinstance(value, str) or not value.isascii() or unsafe_text(value) is not None:
            raise NotificationsConfigurationError(
                "headers", name, "values must be ASCII without control characters", show_value=False
            )
        checked[name] = value
    return checked


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
        check_phone(self.to)
        if not isinstance(self.body, str) or not self.body or len(self.body) > MAX_SMS:
            shown = len(self.body) if isinstance(self.body, str) else type(self.body).__name__
            raise NotificationsConfigurationError("body", shown, f"must be 1-{MAX_SMS} characters")
        if "\x00" in self.body or _surrogate(self.body):
            raise NotificationsConfigurationError("body", "<body>", "must not contain NUL or lone surrogates")


class SmsProvider(Protocol):
    """**Protocol**: a service that sends text messages.

    ``send`` returns the provider's message id, or raises `TransientDeliveryError` /
    `PermanentDeliveryError`.
    """

    async def send(self, sms: Sms) -> str:
        """Send ``sms``; return the provider's id for it."""
        ...


class TwilioSmsProvider(AsyncResource):
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
        super().__init__()
        if not isinstance(account_sid, str) or not _SID.fullmatch(account_sid):
            raise NotificationsConfigurationError(
                "account_sid", "<sid>", "must be letters and digits (the account id)", show_value=False
            )
        if not isinstance(auth_token, str) or not auth_token or unsafe_text(auth_token) is not None:
            raise NotificationsConfigurationError(
                "auth_token", "<secret>", "must be a string without control characters", show_value=False
            )
        check_line("sender", sender, max_length=200)
        check_url(base_url, kind="base_url", https_only=False)
        _check_client(client)
        self._url = f"{base_url.rstrip('/')}/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._sender = sender
        self._client = _own_client(client)

    async def send(self, sms: Sms) -> str:
        """POST ``To``, ``From`` and ``Body``; return the ``sid`` the provider answers with."""
        if not isinstance(sms, Sms):
            raise NotificationsTypeError("sms", "an Sms", sms)
        try:
            response = await self._client.value.post(
                self._url, data={"To": sms.to, "From": self._sender, "Body": sms.body}, auth=self._auth
            )
        except _UNREACHABLE as exc:
            raise TransientDeliveryError("sms", f"provider unreachable: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise TransientDeliveryError("sms", f"provider request failed: {type(exc).__name__}") from None
        error = http_error("sms", response.status_code, "the SMS provider")
        if error is not None:
            raise error
        try:
            return str(response.json()["sid"])
        except (ValueError, KeyError, TypeError):
            return ""

    async def _aclose(self) -> None:
        await self._client.release()


class SmsChannel:
    """Text messages through an `SmsProvider`; the rendered text is the body (cut to 1600 characters).

    Args:
        provider: Who sends.
        name: The channel's name.
    """

    def __init__(self, provider: SmsProvider, *, name: str = "sms") -> None:
        if not callable(getattr(provider, "send", None)):
            raise NotificationsTypeError("provider", "an object with async send(sms)", provider)
        self._provider = provider
        self._name = check_name("name", name)

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> Sms:
        """An `Sms` with the rendered text.

        Raises:
            InvalidAddressError: The address is not one E.164 number.
        """
        if not isinstance(message, Message):
            raise NotificationsTypeError("message", "a Message", message)
        return Sms(to=message.address, body=message.content.text[:MAX_SMS])

    async def deliver(self, payload: Sms) -> list[RecipientResult]:
        """Send it; one result."""
        if not isinstance(payload, Sms):
            raise NotificationsTypeError("payload", "an Sms", payload)
        try:
            await self._provider.send(payload)
        except DeliveryError as exc:
            return [RecipientResult(payload.to, exc)]
        return [RecipientResult(payload.to)]


@dataclass(frozen=True, slots=True)
class WebhookPost:
    """A JSON POST to one URL.

    Raises:
        InvalidAddressError: ``url`` is not one http(s) URL with a host and no credentials.
        NotificationsConfigurationError: ``body`` cannot be written as JSON.
    """

    url: str
    body: Mapping[str, Any]
    content: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_url(self.url, kind="webhook URL", https_only=False)
        if not isinstance(self.body, Mapping):
            raise NotificationsTypeError("body", "a mapping", self.body)
        try:
            content = json.dumps(
                self.body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise NotificationsConfigurationError(
                "body", type(exc).__name__, "cannot be written as JSON (or holds a lone surrogate)"
            ) from None
        object.__setattr__(self, "content", content)


def default_body(message: Message) -> dict[str, Any]:
    """The generic JSON: ``{"id", "recipient", "subject", "text", "html"}``."""
    return {
        "id": message.notification_id,
        "recipient": message.recipient_id,
        "subject": message.content.subject,
        "text": message.content.text,
        "html": message.content.html,
    }


class WebhookChannel(AsyncResource):
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
        super().__init__()
        if not callable(body):
            raise NotificationsTypeError("body", "a callable", body)
        self._body = body
        self._headers = {"content-type": "application/json", **_check_headers(headers)}
        _check_client(client)
        self._client = _own_client(client)
        self._name = check_name("name", name)

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> WebhookPost:
        """The POST for ``message.address``.

        Raises:
            InvalidAddressError: The address is not one http(s) URL with a host and no credentials.
            NotificationsConfigurationError: The body builder's result cannot be written as JSON.
        """
        if not isinstance(message, Message):
            raise NotificationsTypeError("message", "a Message", message)
        check_url(message.address, kind="webhook URL", https_only=False)
        return WebhookPost(url=message.address, body=self._body(message))

    async def deliver(self, payload: WebhookPost) -> list[RecipientResult]:
        """POST it; one result."""
        if not isinstance(payload, WebhookPost):
            raise NotificationsTypeError("payload", "a WebhookPost", payload)
        try:
            response = await self._client.value.post(
                payload.url, content=payload.content, headers=self._headers
            )
        except _UNREACHABLE as exc:
            error: DeliveryError | None = TransientDeliveryError(
                self._name, f"unreachable: {type(exc).__name__}"
            )
        except httpx.HTTPError as exc:
            error = TransientDeliveryError(self._name, f"request failed: {type(exc).__name__}")
        else:
            error = http_error(self._name, response.status_code, "the webhook")
        return [RecipientResult(payload.url, error)]

    async def _aclose(self) -> None:
        await self._client.release()
