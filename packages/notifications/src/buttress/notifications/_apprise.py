"""`AppriseChannel`: the long tail of services through Apprise URLs (extra ``apprise``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ._channels import Message, RecipientResult
from ._model import check_name
from .exceptions import MissingExtraError, PermanentDeliveryError, TransientDeliveryError

try:
    import apprise
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("AppriseChannel", "apprise") from exc

__all__ = ["AppriseChannel", "AppriseMessage"]


@dataclass(frozen=True, slots=True)
class AppriseMessage:
    """A title and body for one Apprise URL (``tgram://...``, ``discord://...``, ``mailto://...``)."""

    url: str
    title: str
    body: str


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
        self._name = check_name("name", name)
        self._slots = asyncio.Semaphore(concurrency)
        self._throttle = throttle

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> AppriseMessage:
        """Title from the subject, body from the text."""
        return AppriseMessage(message.address, message.content.subject, message.content.text)

    async def deliver(self, payload: AppriseMessage) -> list[RecipientResult]:
        """Notify in a thread; one result."""
        target = apprise.Apprise()
        if not target.add(payload.url):
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
