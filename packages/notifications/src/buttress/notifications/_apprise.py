"""`AppriseChannel`: the long tail of services through Apprise URLs (extra ``apprise``)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final

from ._address import check_line, unsafe_text
from ._channels import Message, RecipientResult
from ._model import check_name
from .exceptions import (
    InvalidAddressError,
    MissingExtraError,
    NotificationsConfigurationError,
    NotificationsTypeError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

try:
    import apprise
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("AppriseChannel", "apprise") from exc

__all__ = ["AppriseChannel", "AppriseMessage"]

_SCHEMA: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://")
_MAX_URL: Final = 4096
_MAX_THREADS: Final = 256


@dataclass(frozen=True, slots=True)
class AppriseMessage:
    """A title and body for one Apprise URL (``tgram://...``, ``discord://...``, ``mailto://...``)."""

    url: str
    title: str
    body: str

    def __post_init__(self) -> None:
        url = check_line("Apprise URL", self.url, max_length=_MAX_URL)
        if not _SCHEMA.match(url) or any(char.isspace() for char in url):
            raise InvalidAddressError("Apprise URL", url, "must be one schema://... URL without spaces")
        for part in ("title", "body"):
            value = getattr(self, part)
            if not isinstance(value, str):
                raise NotificationsTypeError(part, "a str", value)
            if unsafe_text(value.replace("\n", " ").replace("\t", " ")):
                raise NotificationsConfigurationError(
                    part, "<text>", "must be text without NUL or control characters", show_value=False
                )


def _target(url: str, *, throttle: bool = True) -> apprise.Apprise | None:
    """An Apprise object holding exactly the one service ``url`` names, or ``None``."""
    target = apprise.Apprise()
    try:
        added = target.add(url)
    except Exception:  # noqa: BLE001 - a plugin's URL parser; whatever fails means "not a URL it knows"
        return None
    if not added or len(target) != 1:
        return None
    if not throttle:
        for service in target:
            service.request_rate_per_sec = 0
    return target


class AppriseChannel:
    """Send through Apprise; the recipient's address is an Apprise URL.

    Apprise's plugins are synchronous: each send runs in a worker thread (`asyncio.to_thread`) so it
    never blocks the event loop, and at most ``concurrency`` run at once. Apprise reports only
    success or failure, so a failure is treated as transient and retried by the worker.

    Apprise waits between two requests to one service (several seconds for most plugins); pass
    ``throttle=False`` to turn that off when the `DeliveryWorker`'s rate limits do the pacing.

    Args:
        concurrency: Threads used at once.
        throttle: Keep Apprise's own pause between requests.
        name: The channel's name.
    """

    def __init__(self, *, concurrency: int = 4, throttle: bool = True, name: str = "apprise") -> None:
        if (
            not isinstance(concurrency, int)
            or isinstance(concurrency, bool)
            or not 1 <= concurrency <= _MAX_THREADS
        ):
            raise NotificationsConfigurationError(
                "concurrency", concurrency, f"must be an int from 1 to {_MAX_THREADS}"
            )
        if not isinstance(throttle, bool):
            raise NotificationsTypeError("throttle", "a bool", throttle)
        self._name = check_name("name", name)
        self._slots = asyncio.Semaphore(concurrency)
        self._throttle = throttle

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> AppriseMessage:
        """Title from the subject, body from the text.

        Raises:
            InvalidAddressError: The address is not exactly one Apprise URL Apprise understands.
        """
        if not isinstance(message, Message):
            raise NotificationsTypeError("message", "a Message", message)
        payload = AppriseMessage(message.address, message.content.subject, message.content.text)
        if _target(payload.url) is None:
            raise InvalidAddressError("Apprise URL", payload.url, "is not one URL of a service Apprise knows")
        return payload

    async def deliver(self, payload: AppriseMessage) -> list[RecipientResult]:
        """Notify in a thread; one result."""
        if not isinstance(payload, AppriseMessage):
            raise NotificationsTypeError("payload", "an AppriseMessage", payload)
        target = _target(payload.url, throttle=self._throttle)
        if target is None:
            return [
                RecipientResult(payload.url, PermanentDeliveryError(self._name, "not a valid Apprise URL"))
            ]
        async with self._slots:
            ok = bool(await asyncio.to_thread(target.notify, body=payload.body, title=payload.title))
        if ok:
            return [RecipientResult(payload.url)]
        return [
            RecipientResult(payload.url, TransientDeliveryError(self._name, "the service did not accept it"))
        ]
